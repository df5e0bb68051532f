"""Faults on a virtual NCP's UART (dropped, corrupted, NAKed frames, raw bytes) and an NCP
that resets under its host, seen by stock bellows."""

from __future__ import annotations

import bellows.types as t
import pytest

from commshub.radio import UartFaults, VirtualAir
from commshub.radio.air import AirEvent
from commshub.radio.device import BellowsDevice, JoinError

from test_virtual_air import CHANNEL, CODE, HUB, METER, OTHER_CODE, PAN, ZCL_CLUSTER, \
    form_and_join, hub_forms, node, run, until


def test_bellows_rides_out_dropped_corrupted_and_naked_frames() -> None:
    air = VirtualAir(seed=20)

    async def body() -> None:
        async with node(air, HUB) as hub:
            ncp = air.radios[hub.eui64]
            ncp.t_rx_ack = 0.3
            ncp.faults.set(drop=0.1, corrupt=0.1, nak=0.1, drop_rx=0.05, seed=3)
            eui = hub.eui64
            for _ in range(25):
                assert (await hub.api.getEui64())[0] == eui
                assert (await hub.api.networkState())[0] == t.EmberNetworkStatus.NO_NETWORK
            counts = ncp.faults.counts
            assert all(counts[k] > 0 for k in ("drop", "corrupt", "nak")), counts
            # Forced faults on the next frames, then a clean line again.
            ncp.faults.set(drop=0.0, corrupt=0.0, nak=0.0, drop_rx=0.0, drop_next=1, nak_next=1)
            assert (await hub.api.getEui64())[0] == eui
            assert ncp.faults.drop_next == 0 and ncp.faults.nak_next == 0

    run(body, timeout=120)


def test_unknown_fault_knob_is_refused_and_changes_nothing() -> None:
    faults = UartFaults()
    with pytest.raises(ValueError, match="bogus"):
        faults.set(drop=0.5, bogus=1)
    assert faults.drop == 0.0


def test_raw_garbage_from_the_ncp_side_does_not_break_the_link() -> None:
    air = VirtualAir(seed=21)

    async def body() -> None:
        async with node(air, HUB, 13) as hub:
            ncp = air.radios[hub.eui64]
            ncp.inject_raw(bytes(range(256)) + b"\x7e\x7e\x00\x12\x7e")
            assert (await hub.api.getEui64())[0] == hub.eui64

    run(body)


def test_ncp_reset_under_the_host_keeps_its_tokens_until_network_init() -> None:
    air = VirtualAir(time_scale=20, seed=22)
    seen: list[AirEvent] = []
    air.add_listener(seen.append)

    async def body() -> None:
        async with node(air, HUB) as hub, node(air, METER, code=CODE) as meter:
            await form_and_join(hub, meter, CODE)
            _, _, before = await hub.api.getNetworkParameters()
            hub_ncp = air.radios[hub.eui64]
            hub_ncp.reset_ncp()
            await until(hub.ncp_failed.is_set)
            assert "reset" in [e.kind for e in seen]
            # The hub's radio is down: the meter cannot reach it.
            assert await meter.send_unicast(0, b"anyone?", cluster=ZCL_CLUSTER) \
                == t.EmberStatus.DELIVERY_FAILED
            # A host reconnects (bellows resets the NCP again), finds no network up,
            # brings it back from the tokens: same network, the meter is still on it.
            await hub.close()
            again = BellowsDevice(hub.path)
            await again.connect()
            try:
                assert (await again.api.networkState())[0] == t.EmberNetworkStatus.NO_NETWORK
                assert await again.rejoin_from_tokens() == 0x0000
                status, node_type, after = await again.api.getNetworkParameters()
                assert node_type == t.EmberNodeType.COORDINATOR and after == before
                assert await meter.send_unicast(0, b"back", cluster=ZCL_CLUSTER) \
                    == t.EmberStatus.SUCCESS
                assert (await again.receive(cluster=ZCL_CLUSTER)).payload == b"back"
                # Transient keys were RAM: a new joiner needs its key added again.
                await again.api.setPolicy(t.EzspPolicyId.TRUST_CENTER_POLICY,
                                          t.EzspDecisionBitmask.ALLOW_JOINS
                                          | t.EzspDecisionBitmask.JOINS_USE_INSTALL_CODE_KEY)
                await again.permit(60)
                async with node(air, "00:0d:6f:00:0a:bc:de:09", code=OTHER_CODE) as other:
                    with pytest.raises(JoinError):
                        await other.join(channel=CHANNEL, pan_id=PAN)
                    await again.allow(other.eui64, OTHER_CODE)
                    assert await other.join(channel=CHANNEL, pan_id=PAN) > 0
            finally:
                await again.close()

    run(body)
