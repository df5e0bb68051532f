"""A full installation (issue 5): an ESME, a GSME and a PPMID join the hub through its device log and are
read; then the hub reboots, and then loses power (on the emulated board its radio, the virtual NCP,
is reset with it). Each time the devices come back (they resume, or
rejoin), every read works again (the ESME's through the hub, the GSME's from the Gas Proxy Function's
mirror once it has reported again, the PPMID's credit through the hub), and the device log is the
same: the same devices, joined, each once, the historic log untouched.

The waits are on the hub's state and the devices' answers, never fixed sleeps: on a loaded machine
everything is slower, nothing is skipped."""

import time

import pytest

import bellows.types as t

from commshub.han.esme import Esme
from commshub.han.gsme import Gsme
from commshub.han.ppmid import Ppmid

from han_models import han_models  # noqa: F401  (fixture)
from test_han_join import wait_han_up

pytestmark = pytest.mark.han  # skipped where the board runs without its HAN

METERING, PREPAYMENT = 0x0702, 0x0705


def until(what, timeout, fn):
    """fn()'s first truthy value, asked again until `timeout` s have passed (then fail with `what`)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            v = fn()
        except Exception as e:  # noqa: BLE001 - a device still coming back: ask again
            v, last = None, e
        else:
            last = v
        if v:
            return v
        assert time.monotonic() < deadline, f"{what} (last: {last!r})"
        time.sleep(0.2)


def the_log(hub):
    """(the device log as [(eui64, type, joined)], the historic log)."""
    r = hub.request("han.log").result
    return sorted((e["eui64"], e["type"], e["joined"]) for e in r["log"]), r["history"]


def read_everything(hub, esme, gsme, ppmid, since_utc):
    """Read each device through the hub; the GSME once it has reported at or after `since_utc`."""
    r = until("the ESME cannot be read through the hub", 60, lambda: hub.request(
        "han.read", {"device": esme.eui64, "cluster": METERING, "attrs": [0x0000], "timeout_s": 3},
        timeout=10).result)
    assert r["source"] == "device" and r["attrs"][0]["value"] >= 12_345_000
    st = until("the GSME did not report to the GPF's mirror", 60, lambda: (s := hub.request(
        "han.gsme.status", {"device": gsme.eui64}).result)["reported_utc"] is not None
        and s["reported_utc"] >= since_utc and s)
    assert st["reported_utc"] >= since_utc
    r = hub.request("han.read", {"device": gsme.eui64, "cluster": METERING, "attrs": [0x0000]}).result
    assert r["source"] == "mirror" and r["attrs"][0]["value"] >= 4_321_000
    shown = until("the PPMID cannot read its credit through the hub", 60,
                  lambda: ppmid.run(ppmid.dev.refresh(), 30))
    assert shown["credit_p"] > 0
    r = hub.request("han.read", {"device": esme.eui64, "cluster": PREPAYMENT, "attrs": [0x0001]}).result
    assert abs(r["attrs"][0]["value"] - shown["credit_p"]) <= 1


def test_full_installation_survives_a_hub_reboot_and_a_power_cut(hub, han_models):  # noqa: F811
    emu = getattr(hub.target, "emu", None)
    air = emu.air if emu is not None else None
    esme = han_models(Esme)
    gsme = han_models(Gsme, time_scale=600.0, wake_interval_s=3000.0)  # wakes every 5 s of real time
    ppmid = han_models(Ppmid, refresh_s=1e9)  # the display is refreshed by the test
    ours = {m.eui64 for m in (esme, gsme, ppmid)}
    for m in (esme, gsme, ppmid):
        m.join(hub)
    log, history = the_log(hub)
    mine = [e for e in log if e[0] in ours]
    assert [e[2] for e in mine] == [True] * 3 and sorted(e[1] for e in mine) == [0, 1, 5]
    read_everything(hub, esme, gsme, ppmid, 0)
    boots = hub.request("status").result["boot_count"]

    for outage in ("reboot", "power cut"):
        t0 = time.monotonic()
        if outage == "reboot":
            hub.reboot()
        else:
            hub.power_cut()
            if air is not None:  # the board's radio loses power with it: its RAM (tables) goes, tokens stay
                air.call(hub.target.emu.ncp.reset_ncp, t.NcpResetCode.RESET_POWER_ON)
            hub.power_on()
        wait_han_up(hub, timeout=60)
        since = hub.request("time.get").result["utc"]
        assert hub.request("status").result["boot_count"] == boots + 1, outage
        boots += 1
        # The log as it was: the same devices, each once, still joined; nothing moved to history.
        assert the_log(hub) == (log, history), outage
        read_everything(hub, esme, gsme, ppmid, since)
        # Coming back took no rejoin through the log, or one that changed nothing in it.
        after, hist = the_log(hub)
        assert len({e[0] for e in after}) == len(after) and (after, hist) == (log, history), outage
        # Nobody was refused on the way back, and the log never changed (0x8F48 join failed, 0x8F12 log changed).
        alerts = [e.body for e in hub.serial.events("alert") if e.received >= t0]
        assert [a for a in alerts if a["code"] in (0x8F48, 0x8F12) and a.get("eui64") in ours] == [], outage
