"""HAN device log and joins: only devices in the log, inside their window, with their install code."""

import time

import pytest

from commshub.protocol.errors import HubError
from commshub.radio.device import JoinError

pytestmark = pytest.mark.han  # skipped where the board runs without its HAN

# A refused joiner either hears a failure or never hears the network come up.
NOT_JOINED = (JoinError, TimeoutError)


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


def log_entry(hub, eui64):
    """The device log entry for `eui64`."""
    return [e for e in hub.request("han.log").result["log"] if e["eui64"] == eui64][0]


def wait_can_join(hub, eui64, timeout=30.0):
    """Wait until the hub has put the device's key on its NCP and opened joining (the radio follows a
    han.log.add in the background)."""
    deadline = time.monotonic() + timeout
    while not log_entry(hub, eui64)["can_join"]:
        assert time.monotonic() < deadline, f"{eui64}: the hub never opened joining for it"
        time.sleep(0.05)


def alert(link, code, timeout=10.0, since=None, eui64=None):
    """The first alert event with domain code `code` (for `eui64`) on `link` after `since`."""
    return link.wait_event("alert", timeout, since=since,
                           where=lambda e: e.body.get("code") == code
                           and (eui64 is None or e.body.get("eui64") == eui64)).body


@pytest.mark.parametrize("node_type", ["router", "end_device", "sleepy"])  # ESME, and a GSME that sleeps
def test_device_in_log_joins_with_its_install_code(hub, han_devices, node_type):
    st = wait_han_up(hub)
    dev = han_devices()
    r = hub.request("han.log.add", dict(dev.log_entry, join_s=60)).result
    assert r["eui64"] == dev.eui64 and r["window_open"] and not r["joined"]
    wait_can_join(hub, dev.eui64)
    nwk = dev.join(st, node_type=node_type)
    assert 0 < nwk < 0xFFF8
    joined = alert(hub.serial, 0x8F49, eui64=dev.eui64)
    assert joined["eui64"] == dev.eui64 and joined["node"] == nwk
    assert alert(hub.serial, 0x8183, eui64=dev.eui64)["node"] == nwk
    devices = hub.request("han.devices").result["devices"]
    assert [d["eui64"] for d in devices] == [dev.eui64] and devices[0]["node"] == nwk


def test_log_add_raises_log_changed_with_a_copy_of_the_log(hub, han_devices):
    wait_han_up(hub)
    dev = han_devices()
    t0 = time.monotonic()
    hub.request("han.log.add", dict(dev.log_entry, join_s=30))
    ev = alert(hub.serial, 0x8F12, since=t0, eui64=dev.eui64)
    assert ev["name"] == "han_device_log_changed" and ev["change"] == "added"
    assert dev.eui64 in [e["eui64"] for e in ev["log"]]
    assert all("install_code" not in e for e in ev["log"])  # the key material never leaves the hub


def test_device_not_in_log_is_refused(hub, han_devices):
    st = wait_han_up(hub)
    allowed = han_devices()
    hub.request("han.log.add", dict(allowed.log_entry, join_s=30))  # joining is open, but not for this one
    wait_can_join(hub, allowed.eui64)
    stranger = han_devices()
    t0 = time.monotonic()
    with pytest.raises(NOT_JOINED):
        stranger.join(st, timeout=5)
    ev = alert(hub.serial, 0x8F48, since=t0, eui64=stranger.eui64)
    assert ev["reason"] == "not_in_log"
    assert stranger.eui64 not in [d["eui64"] for d in hub.request("han.devices").result["devices"]]


def test_device_with_the_wrong_install_code_is_refused(hub, han_devices):
    st = wait_han_up(hub)
    dev = han_devices()
    entry = dict(dev.log_entry, join_s=30)
    entry["install_code"] = bytes(b ^ 0xFF for b in dev.install_code).hex()  # the hub holds another code
    hub.request("han.log.add", entry)
    wait_can_join(hub, dev.eui64)  # with the key of the code the hub was given
    t0 = time.monotonic()
    with pytest.raises(NOT_JOINED):
        dev.join(st, timeout=5)
    ev = alert(hub.serial, 0x8F48, since=t0, eui64=dev.eui64, timeout=20)
    assert ev["reason"] == "key_exchange_failed"
    assert hub.request("han.devices").result["devices"] == [] or \
        dev.eui64 not in [d["eui64"] for d in hub.request("han.devices").result["devices"]]


def test_device_outside_its_join_window_is_refused(hub, han_devices):
    st = wait_han_up(hub)
    dev = han_devices()
    hub.request("han.log.add", dict(dev.log_entry, join_s=1))
    deadline = time.monotonic() + 10
    while log_entry(hub, dev.eui64)["window_open"]:  # it closes on the hub's clock
        assert time.monotonic() < deadline, "join window never closed"
        time.sleep(0.2)
    time.sleep(1.5)  # the device log service acts on it within a second
    other = han_devices()  # keep joining open for someone else: only the window can refuse `dev`
    hub.request("han.log.add", dict(other.log_entry, join_s=30))
    wait_can_join(hub, other.eui64)
    assert not log_entry(hub, dev.eui64)["can_join"]
    t0 = time.monotonic()
    with pytest.raises(NOT_JOINED):
        dev.join(st, timeout=5)
    ev = alert(hub.serial, 0x8F48, since=t0, eui64=dev.eui64)
    assert ev["reason"] == "window_closed"


def test_removed_device_is_made_to_leave_and_can_no_longer_talk(hub, han_devices):
    st = wait_han_up(hub)
    dev = han_devices()
    hub.request("han.log.add", dict(dev.log_entry, join_s=60))
    wait_can_join(hub, dev.eui64)
    dev.join(st)
    alert(hub.serial, 0x8F49, eui64=dev.eui64)
    rx0 = hub.request("han.status").result["rx"]
    assert dev.send(b"\x00\x01\x00\x00\x00", cluster=0x0000) == 0  # ZCL read Basic: delivered
    deadline = time.monotonic() + 5
    while hub.request("han.status").result["rx"] == rx0:
        assert time.monotonic() < deadline, "the hub never took the logged device's message"
        time.sleep(0.1)
    t0 = time.monotonic()
    assert hub.request("han.log.remove", {"eui64": dev.eui64}).result == {"removed": dev.eui64}
    ev = alert(hub.serial, 0x8F12, since=t0, eui64=dev.eui64)
    assert ev["change"] == "removed" and dev.eui64 not in [e["eui64"] for e in ev["log"]]
    log = hub.request("han.log").result
    assert dev.eui64 in [h["eui64"] for h in log["history"]]
    # It is made to leave: its messages no longer get through, and it cannot join again.
    deadline = time.monotonic() + 10
    while True:
        try:
            status = dev.send(b"\x00\x02\x00\x00\x00", cluster=0x0000)
        except Exception:  # noqa: BLE001 - bellows refuses to send once the device left
            break
        if status != 0:
            break
        assert time.monotonic() < deadline, "the removed device still delivers messages"
        time.sleep(0.3)
    with pytest.raises(NOT_JOINED):
        dev.join(st, timeout=5)
    assert dev.eui64 not in [d["eui64"] for d in hub.request("han.devices").result["devices"]]


@pytest.mark.parametrize("args, field", [
    ({"eui64": "0011", "type": 1, "install_code": "00" * 16}, "eui64"),
    ({"eui64": "zz" * 8, "type": 1, "install_code": "00" * 16}, "eui64"),
    ({"eui64": "06" * 8, "type": 7, "install_code": "00" * 16}, "type"),
    ({"eui64": "06" * 8, "type": "1", "install_code": "00" * 16}, "type"),
    ({"eui64": "06" * 8, "type": 1, "install_code": "00" * 15}, "install_code"),
    ({"eui64": "06" * 8, "type": 1, "install_code": "00" * 18}, "install_code"),  # CRC wrong
    ({"eui64": "06" * 8, "type": 1, "install_code": "00" * 16, "join_s": -1}, "join_s"),
    ({"eui64": "06" * 8, "type": 1, "install_code": "00" * 16, "colour": 1}, "colour"),
    ({"type": 1, "install_code": "00" * 16}, "eui64"),
])
def test_bad_log_add_is_refused_and_changes_nothing(hub, args, field):
    before = hub.request("han.log").result
    with pytest.raises(HubError) as e:
        hub.request("han.log.add", args)
    assert e.value.code == "bad_args" and field in e.value.message
    assert hub.request("han.log").result == before


def test_removing_a_device_not_in_the_log_is_not_found(hub):
    before = hub.request("han.log").result
    with pytest.raises(HubError) as e:
        hub.request("han.log.remove", {"eui64": "0600000000000001"})
    assert e.value.code == "not_found"
    assert hub.request("han.log").result == before


@pytest.mark.links
def test_device_log_commands_are_the_same_over_serial_and_mqtt(hub, link):
    eui = "0C%014X" % {"serial": 1, "mqtt": 2}[link.name]
    added = link.request("han.log.add", {"eui64": eui, "type": 5, "install_code": "5A" * 16, "join_s": 0}).result
    assert added["type_name"] == "PPMID" and not added["window_open"]
    other = "mqtt" if link.name == "serial" else "serial"
    assert eui in [e["eui64"] for e in hub.request("han.log", via=other).result["log"]]
    assert link.request("han.log.remove", {"eui64": eui}).result == {"removed": eui}
    assert eui not in [e["eui64"] for e in hub.request("han.log", via=other).result["log"]]


def test_long_join_window_keeps_the_key_fresh_on_the_ncp(hub, hub_ncp, air, han_devices):
    st = wait_han_up(hub)
    dev = han_devices()
    hub.request("han.log.add", dict(dev.log_entry, join_s=2 * 86400))
    wait_can_join(hub, dev.eui64)
    for _ in range(2):  # the first jump also closes other tests' windows; the second can only re-key
        mark = air.call(lambda: len(hub_ncp.received))
        utc = hub.request("time.get").result["utc"]
        hub.request("time.set", {"utc": utc + 13 * 3600})  # past the 12 h re-key period (NCP: 18 h at most)
        deadline = time.monotonic() + 10
        while True:
            cmds = air.call(lambda: hub_ncp.received[mark:])
            if "clearTransientLinkKeys" in cmds and cmds[cmds.index("clearTransientLinkKeys") + 1:].count(
                    "addTransientLinkKey" if st["ezsp"] < 13 else "importTransientKey"):
                break
            assert time.monotonic() < deadline, f"keys never re-installed: {cmds}"
            time.sleep(0.1)
        wait_can_join(hub, dev.eui64)
        time.sleep(1.5)  # let the device log settle before the next jump
    wait_can_join(hub, dev.eui64)
    assert dev.join(st) > 0  # the window is still open for it
