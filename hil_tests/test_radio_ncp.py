"""The hub's EZSP host against its NCP: forming, resuming, NCP resets, a hostile UART, fuzzing."""

import os
import random
import time

import pytest

from bellows.ash import AshProtocol, DataFrame

from commshub.radio.device import JoinError

from test_han_join import alert, wait_can_join, wait_han_up

pytestmark = pytest.mark.han  # skipped where the board runs without its HAN


def joined_device(hub, han_devices, join_s=120, tries=1):
    """A HAN device in the log and on the hub's network (`tries` joins: on a hostile UART the hub may be
    re-initialising its NCP when the device asks)."""
    dev = han_devices()
    hub.request("han.log.add", dict(dev.log_entry, join_s=join_s))
    for left in range(tries - 1, -1, -1):
        st = wait_han_up(hub)
        wait_can_join(hub, dev.eui64)
        try:
            dev.join(st)
            break
        except (JoinError, TimeoutError):
            if not left:
                raise
    alert(hub.serial, 0x8F49, eui64=dev.eui64, timeout=20)
    return dev


def hub_takes_message_from(hub, dev):
    """True when a unicast from `dev` is delivered and counted by the hub's HAN service."""
    rx0 = hub.request("han.status").result["rx"]
    if dev.send(b"\x00\x10\x00\x00\x00", cluster=0x0000) != 0:
        return False
    deadline = time.monotonic() + 5
    while hub.request("han.status").result["rx"] == rx0:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_network_formed_at_power_on_with_the_hub_eui64_as_extended_pan_id(hub):
    st = wait_han_up(hub)
    hub_id = hub.request("info").result["hub_id"]
    assert st["ext_pan_id"] == hub_id
    if hub.target.kind == "emulator" and hub.target.emu.radio_mode == "virtual":
        assert st["ncp_eui64"] == hub_id  # the emulated board's NCP carries the hub's EUI-64
    assert st["channel"] == hub.request("config.get", {"key": "han.channel"}).result["value"]
    assert 8 <= st["ezsp"] <= 13 and st["ash"] == "connected"
    status = hub.request("status").result
    assert status["links"]["radio"]["state"] == "up"


def test_network_resumed_after_a_hub_power_cycle_and_devices_still_talk(hub, han_devices):
    dev = joined_device(hub, han_devices)
    before = wait_han_up(hub)
    hub.power_cycle()
    after = wait_han_up(hub)
    assert (after["channel"], after["pan_id"], after["ext_pan_id"]) == \
        (before["channel"], before["pan_id"], before["ext_pan_id"])
    assert after["resumed"] == 1 and after["formed"] == 0  # networkInit, not a new network
    assert hub_takes_message_from(hub, dev)


def test_network_back_after_the_ncp_resets_under_the_hub(hub, hub_ncp, air, han_devices):
    dev = joined_device(hub, han_devices)
    before = wait_han_up(hub)
    air.call(hub_ncp.reset_ncp)
    deadline = time.monotonic() + 20
    while True:
        st = hub.request("han.status").result
        # The link counts the reset at once, while the state still says "up" until the HAN service
        # notices: back means restarted and up again.
        if st["ncp_resets"] > before["ncp_resets"] and st["restarts"] > before["restarts"] and st["state"] == "up":
            break
        assert time.monotonic() < deadline, f"HAN not back after the NCP reset: {st}"
        time.sleep(0.1)
    assert st["restarts"] == before["restarts"] + 1
    assert (st["channel"], st["pan_id"]) == (before["channel"], before["pan_id"])
    # The device may need to find its parent again after the NCP lost its tables: give it a few tries.
    deadline = time.monotonic() + 15
    while not hub_takes_message_from(hub, dev):
        assert time.monotonic() < deadline, "the joined device cannot reach the hub after the NCP reset"
        time.sleep(0.5)


def test_ezsp_host_survives_drops_corruption_and_naks(hub, hub_ncp, air, han_devices):
    wait_han_up(hub)
    seed = int(os.environ.get("COMMSHUB_SEED", time.time()))
    air.call(hub_ncp.faults.set, drop=0.1, corrupt=0.1, nak=0.1, drop_rx=0.1, seed=seed)
    # Work that needs the NCP (key installs, a join, APS both ways) until every fault has hit it.
    dev = joined_device(hub, han_devices, tries=3)
    deadline = time.monotonic() + 90
    rounds = 0
    while True:
        counts = air.call(lambda: dict(hub_ncp.faults.counts))
        if all(counts[k] >= 3 for k in ("drop", "corrupt", "nak", "drop_rx")):
            break
        assert time.monotonic() < deadline, f"faults never all hit in 90 s: {counts}"
        got = time.monotonic() + 30
        while not hub_takes_message_from(hub, dev):  # each message gets through in the end
            assert time.monotonic() < got, "a message never got through the faulty UART"
        hub.request("han.log.add", dict(han_devices().log_entry, join_s=5))  # a key install
        rounds += 1
    st = wait_han_up(hub)
    print(f"\nseed {seed}: {rounds} rounds, faults {counts}, hub ASH t_ack {st['t_ack_ms']} ms, "
          f"EZSP timeouts {st['timeouts']}, restarts {st['restarts']}")


def _fuzz_frames(rng, n):
    """`n` hostile frames: line noise, malformed ASH, and well-formed DATA frames with random EZSP."""
    out = []
    for _ in range(n):
        kind = rng.random()
        if kind < 0.4:  # good CRC, random EZSP frame (random callbacks, short responses, ...)
            body = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 100)))
            if rng.random() < 0.5:  # make it look like a callback of a kind the hub parses
                fid = rng.choice((0x19, 0x23, 0x24, 0x3F, 0x45))
                body = bytes((rng.getrandbits(8), 0x90, 0x01, fid, 0x00)) + body[:rng.randint(0, 40)]
            f = DataFrame(frm_num=rng.randrange(8), re_tx=rng.random() < 0.2, ack_num=rng.randrange(8),
                          ezsp_frame=body)
            out.append(AshProtocol._stuff_bytes(f.to_bytes()) + b"\x7e")
        elif kind < 0.5:  # control frames: ACK/NAK/RSTACK/ERROR with random fields
            c = rng.choice((0x80, 0xA0, 0xC1, 0xC2)) | rng.randrange(8)
            out.append(bytes((c,)) + bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 3))) + b"\x7e")
        else:  # noise, with the reserved bytes over-represented
            out.append(bytes(rng.choice((0x7E, 0x7D, 0x11, 0x13, 0x18, 0x1A, rng.getrandbits(8)))
                             for _ in range(rng.randint(1, 60))) + b"\x7e")
    return out


def test_fuzzed_radio_uart_never_crashes_the_hub(hub, hub_ncp, air):
    wait_han_up(hub)
    seed = int(os.environ.get("COMMSHUB_SEED", time.time()))
    n = int(os.environ.get("COMMSHUB_RADIO_FUZZ", 10000))
    rng = random.Random(seed)
    boots = hub.request("status").result["boot_count"]
    log_before = hub.request("han.log").result
    sent = 0
    while sent < n:
        batch = _fuzz_frames(rng, min(200, n - sent))
        air.call(hub_ncp.inject_raw, b"".join(batch))
        sent += len(batch)
        hub.request("ping")  # the control plane keeps answering throughout
    st = wait_han_up(hub, timeout=60)  # re-initialised if the garbage looked like an NCP reset
    status = hub.request("status").result
    assert status["boot_count"] == boots, f"the hub rebooted under fuzzing (seed {seed})"
    assert hub.request("han.log").result == log_before  # no state lost
    assert st["ash_faults"] > 0
    print(f"\n{sent} fuzzed frames (seed {seed}): ASH faults {st['ash_faults']}, NCP resets seen "
          f"{st['ncp_resets']}, restarts {st['restarts']}")
