"""HAN device log and joins: only devices in the log, inside their window, with their install code."""

import time

import pytest

from commshub.radio.device import JoinError

pytestmark = pytest.mark.emulator_only


def wait_han_up(hub, timeout=20.0):
    """han.status once the network is up (fails with the last status otherwise)."""
    deadline = time.monotonic() + timeout
    while True:
        st = hub.request("han.status").result
        if st["state"] == "up":
            return st
        if time.monotonic() > deadline:
            raise AssertionError(f"HAN not up within {timeout} s: {st}")
        time.sleep(0.1)


def alert(link, code, timeout=10.0, since=None, eui64=None):
    """The first alert event with domain code `code` (for `eui64`) on `link` after `since`."""
    return link.wait_event("alert", timeout, since=since,
                           where=lambda e: e.body.get("code") == code
                           and (eui64 is None or e.body.get("eui64") == eui64)).body


def test_device_in_log_joins_with_its_install_code(hub, han_devices):
    st = wait_han_up(hub)
    dev = han_devices()
    r = hub.request("han.log.add", dict(dev.log_entry, join_s=60)).result
    assert r["eui64"] == dev.eui64 and r["window_open"] and not r["joined"]
    nwk = dev.join(st)
    assert 0 < nwk < 0xFFF8
    joined = alert(hub.serial, 0x8F49, eui64=dev.eui64)
    assert joined["eui64"] == dev.eui64 and joined["node"] == nwk
    devices = hub.request("han.devices").result["devices"]
    assert [d["eui64"] for d in devices] == [dev.eui64] and devices[0]["node"] == nwk
