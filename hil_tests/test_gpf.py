"""The hub's Gas Proxy Function with the GSME emulator (a sleepy end device) on the virtual air:
reads are answered from the mirror of its last report while it sleeps, and a queued command is
handed over at its next poll (Tunneling GET / GET-RESPONSE), not before; its response comes back."""

import time

import pytest

from commshub.han.gsme import Gsme, gbcs_reply

from han_models import han_models  # noqa: F401  (fixture)

pytestmark = pytest.mark.han  # skipped where the board runs without its HAN

METERING = 0x0702
# A GBCS-like command: grouping header DF 09, type 1 (command), counter, originator, recipient, body.
COMMAND = bytes.fromhex("DF0901" "0000000000000042" "90B3D51F30010000" "000D6F000ABCDE12" "0102030405")


def wait(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while not (v := cond()):
        assert time.monotonic() < deadline, what
        time.sleep(0.05)
    return v


def asleep_after_a_wake(gsme):
    """Wait until the GSME has just gone back to sleep; the number of wakes so far."""
    n = gsme.dev.wakes
    wait(lambda: gsme.dev.wakes > n and not gsme.dev.awake, 30, "the GSME did not wake")
    return gsme.dev.wakes


def test_gsme_read_from_the_mirror_while_asleep_and_a_command_delivered_at_its_next_poll(hub, han_models):  # noqa: F811
    # Wakes every 3000 s of meter time = 5 s real; asleep in between.
    gsme = han_models(Gsme, time_scale=600.0, wake_interval_s=3000.0)
    gsme.join(hub)
    st = wait(lambda: (s := hub.request("han.gsme.status", {"device": gsme.eui64}).result)["reported_utc"] and s,
              30, "no report from the GSME reached the mirror")
    asleep_after_a_wake(gsme)
    tx = hub.request("han.status").result["tx"]
    r = hub.request("han.read", {"device": gsme.eui64, "cluster": METERING, "attrs": [0x0000, 0x0201]}).result
    assert r["source"] == "mirror" and r["device"] == gsme.eui64
    vals = {a["id"]: a["value"] for a in r["attrs"]}
    assert 4_321_000 <= vals[0x0000] <= gsme.call(gsme.dev.servers[METERING].get, "current_summ_delivered")
    assert vals[0x0201] == gsme.call(gsme.dev.battery_pct)
    assert hub.request("han.status").result["tx"] == tx  # answered by the hub, nothing sent to the sleeper
    assert {m["id"] for m in st["mirror"]} >= {0x0000, 0x0201}

    # Queued while it sleeps: not delivered before its next wake, delivered then; its response comes back.
    wakes = asleep_after_a_wake(gsme)
    t0 = time.monotonic()
    assert hub.request("han.gsme.queue", {"device": gsme.eui64, "message": COMMAND.hex()}).result["queued"] == 1
    assert gsme.dev.commands == [] and hub.request("han.gsme.status", {"device": gsme.eui64}).result["queued"] == 1
    rsp = hub.serial.wait_event("han.gsme.response", 30, since=t0,
                                where=lambda e: e.body.get("eui64") == gsme.eui64).body
    assert gsme.dev.wakes > wakes  # handed over at a later wake, not while it slept
    assert gsme.dev.commands == [COMMAND]
    assert bytes.fromhex(rsp["response"]) == gbcs_reply(COMMAND)
    delivered = hub.serial.wait_event("han.gsme.delivered", 1, since=t0).body
    assert delivered == {"eui64": gsme.eui64, "remaining": 0}
    assert hub.request("han.gsme.status", {"device": gsme.eui64}).result["queued"] == 0
