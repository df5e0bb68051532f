"""The virtual air's link model (loss, latency, airtime, MAC retries, time scale), sleepy end
devices (indirect transmission, polls), and faults on an NCP's UART, with stock bellows hosts."""

from __future__ import annotations

import asyncio
import random

import bellows.types as t
import pytest

from commshub.radio import VirtualAir, delivery, linkmodel
from commshub.radio.air import AirEvent
from commshub.radio.device import JoinError

from test_virtual_air import CHANNEL, CODE, HUB, IHD, METER, OTHER_CODE, PAN, ZCL_CLUSTER, \
    form_and_join, hub_forms, node, run, until

# -- the MAC model on its own ---------------------------------------------------------


def test_airtime_is_250_kbit_per_s_with_phy_mac_nwk_aps_overhead() -> None:
    assert linkmodel.airtime(125) == pytest.approx(0.004)
    # 6 PHY + 11 MAC + 26 NWK (header, security) + 8 APS + payload
    assert linkmodel.aps_frame_bytes(10) == 6 + 11 + 26 + 8 + 10


def test_mac_hop_without_loss_is_one_try_with_backoff_frame_turnaround_and_ack() -> None:
    rng = random.Random(1)
    frame = linkmodel.aps_frame_bytes(50)
    for _ in range(100):
        hop = linkmodel.mac_hop(rng, 0.0, 0.002, frame, retries=3)
        assert (hop.received, hop.acked, hop.tries) == (True, True, 1)
        fixed = 0.002 + linkmodel.CCA_S + linkmodel.airtime(frame) + linkmodel.TURNAROUND_S \
            + linkmodel.airtime(linkmodel.ACK_BYTES)
        assert fixed <= hop.elapsed_s <= fixed + 7 * linkmodel.UNIT_BACKOFF_S + 1e-12


def test_mac_hop_on_a_dead_link_tries_retries_plus_one_times_and_fails() -> None:
    hop = linkmodel.mac_hop(random.Random(2), 1.0, 0.0, 60, retries=3)
    assert (hop.received, hop.acked, hop.tries) == (False, False, 4)
    assert hop.elapsed_s >= 4 * (linkmodel.airtime(60) + linkmodel.ACK_WAIT_S)


def test_mac_hop_on_a_lossy_link_retries_and_mostly_gets_through() -> None:
    rng = random.Random(3)
    hops = [linkmodel.mac_hop(rng, 0.3, 0.0, 60, retries=3) for _ in range(2000)]
    tries = [h.tries for h in hops]
    assert max(tries) == 4 and min(tries) == 1
    acked = sum(h.acked for h in hops) / len(hops)
    # P(one try acked) = 0.7 * 0.7 = 0.49; four tries: 1 - 0.51**4 = 0.93
    assert 0.90 < acked < 0.96
    # A frame whose ACKs were all lost still arrived.
    assert any(h.received and not h.acked for h in hops)


# -- on the air, with bellows hosts ---------------------------------------------------------


def _kinds(seen: list[AirEvent], kind: str) -> list[AirEvent]:
    return [e for e in seen if e.kind == kind]


def test_latency_and_airtime_pass_in_air_time_scaled_to_real_time() -> None:
    air = VirtualAir(time_scale=50, seed=10)
    seen: list[AirEvent] = []

    async def body() -> None:
        async with node(air, HUB) as hub, node(air, METER, code=CODE) as meter:
            nwk = await form_and_join(hub, meter, CODE)
            air.set_link(HUB, METER, latency_s=2.0)
            air.add_listener(seen.append)
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            assert await hub.send_unicast(nwk, bytes(60), cluster=ZCL_CLUSTER, aps_ack=False) \
                == t.EmberStatus.SUCCESS
            real = loop.time() - t0
            (sent,) = _kinds(seen, "unicast")
            (got,) = [e for e in _kinds(seen, "delivered") if e.aps.cluster == ZCL_CLUSTER]
            assert got.t - sent.t >= 2.0 + linkmodel.airtime(linkmodel.aps_frame_bytes(60))
            assert real >= 2.0 / 50  # the modelled 2 s took a fiftieth in real time

    run(body)


def test_dead_link_fails_delivery_after_mac_and_aps_retries() -> None:
    air = VirtualAir(time_scale=20, seed=11)
    seen: list[AirEvent] = []
    air.add_listener(seen.append)

    async def body() -> None:
        async with node(air, HUB, 13) as hub, node(air, METER, 13, CODE) as meter:
            nwk = await form_and_join(hub, meter, CODE)
            air.set_link(HUB, METER, loss=1.0)
            assert await hub.send_unicast(nwk, b"x", cluster=ZCL_CLUSTER, aps_ack=False) \
                == t.EmberStatus.DELIVERY_FAILED
            assert await meter.send_unicast(0, b"y", cluster=ZCL_CLUSTER) \
                == t.EmberStatus.DELIVERY_FAILED
            lost = _kinds(seen, "lost")
            assert [e.status for e in lost][-1] == "no APS ack after 4 tries"
            assert not [e for e in _kinds(seen, "delivered") if e.aps.cluster == ZCL_CLUSTER]
            # The link heals: traffic flows again.
            air.set_link(HUB, METER, loss=0.0)
            assert await meter.send_unicast(0, b"z", cluster=ZCL_CLUSTER) == t.EmberStatus.SUCCESS
            assert (await hub.receive(cluster=ZCL_CLUSTER)).payload == b"z"

    run(body)


def test_lossy_link_with_aps_retries_delivers_each_frame_once() -> None:
    air = VirtualAir(time_scale=50, seed=12)

    async def body() -> None:
        async with node(air, HUB) as hub, node(air, METER, code=CODE) as meter:
            nwk = await form_and_join(hub, meter, CODE)
            await hub.receive(cluster=0x0013)
            air.set_link(HUB, METER, loss=0.5)
            results = [await hub.send_unicast(nwk, bytes([i]), cluster=ZCL_CLUSTER)
                       for i in range(20)]
            await asyncio.sleep(0.2)
            got = []
            while not meter.received.empty():
                got.append(meter.received.get_nowait().payload[0])
            ok = [i for i, s in enumerate(results) if s == t.EmberStatus.SUCCESS]
            assert len(ok) >= 15  # 0.25 per try, 4 MAC tries per APS try, 4 APS tries
            assert set(ok) <= set(got)  # an acked frame arrived
            assert len(got) == len(set(got))  # APS duplicates were dropped

    run(body)


def test_aps_duplicates_are_dropped_only_for_the_entry_lifetime() -> None:
    air = VirtualAir(time_scale=50, seed=13)

    async def body() -> None:
        async with node(air, HUB) as hub, node(air, METER, code=CODE) as meter:
            nwk = await form_and_join(hub, meter, CODE)
            await hub.receive(cluster=0x0013)
            sender = air.radios[t.EUI64.convert(HUB)]

            async def send_as_after_a_restart(body: bytes) -> bytes | None:
                """Send with the APS counter the hub's NCP starts from after a reset; what the meter got."""
                sender.aps_seq = 0
                assert await hub.send_unicast(nwk, body, cluster=ZCL_CLUSTER) == t.EmberStatus.SUCCESS
                await asyncio.sleep(0.05)
                return None if meter.received.empty() else meter.received.get_nowait().payload

            assert await send_as_after_a_restart(b"a") == b"a"
            assert await send_as_after_a_restart(b"b") is None  # same counter at once: a duplicate
            await air.sleep(delivery.DUPLICATE_LIFETIME_S)
            assert await send_as_after_a_restart(b"c") == b"c"  # the entry has expired: a new frame

    run(body)


def test_sleepy_child_gets_unicasts_only_when_it_polls_and_never_broadcasts() -> None:
    air = VirtualAir(time_scale=20, seed=13)
    seen: list[AirEvent] = []
    air.add_listener(seen.append)

    async def body() -> None:
        async with node(air, HUB) as hub, node(air, METER, code=CODE) as sleepy, \
                node(air, IHD, code=OTHER_CODE) as awake:
            await hub_forms(hub)
            await hub.allow(sleepy.eui64, CODE)
            await hub.allow(awake.eui64, OTHER_CODE)
            nwk = await sleepy.join(channel=CHANNEL, pan_id=PAN, node_type="sleepy")
            await awake.join(channel=CHANNEL, pan_id=PAN, node_type="end_device")
            assert await sleepy.poll() == t.EmberStatus.MAC_NO_DATA
            sending = asyncio.ensure_future(
                hub.send_unicast(nwk, b"held", cluster=ZCL_CLUSTER))
            await until(lambda: bool(_kinds(seen, "queued")))
            await asyncio.sleep(0.05)
            assert sleepy.received.empty() and not sending.done()
            assert await sleepy.poll() == t.EmberStatus.SUCCESS
            assert (await sleepy.receive(cluster=ZCL_CLUSTER)).payload == b"held"
            assert await sending == t.EmberStatus.SUCCESS
            # Broadcasts reach the rx-on end device, not the sleepy one.
            assert await hub.send_broadcast(b"all", cluster=0x000A) == t.EmberStatus.SUCCESS
            assert (await awake.receive(cluster=0x000A)).payload == b"all"
            await sleepy.poll()
            with pytest.raises(TimeoutError):
                await sleepy.receive(timeout=0.2, cluster=0x000A)

    run(body)


def test_sleepy_child_that_does_not_poll_in_time_fails_the_delivery() -> None:
    air = VirtualAir(time_scale=40, seed=14)
    seen: list[AirEvent] = []
    air.add_listener(seen.append)

    async def body() -> None:
        async with node(air, HUB, 13) as hub, node(air, METER, 13, CODE) as sleepy:
            nwk = await form_and_join(hub, sleepy, CODE, node_type="sleepy")
            t0 = air.now()
            status = await hub.send_unicast(nwk, b"late", cluster=ZCL_CLUSTER, aps_ack=False)
            assert status == t.EmberStatus.DELIVERY_FAILED
            assert air.now() - t0 >= 7.68  # the indirect transmission timeout, in air time
            assert [e.status for e in _kinds(seen, "lost")] == ["indirect transmission timeout"]
            assert await sleepy.poll() == t.EmberStatus.MAC_NO_DATA  # nothing left queued

    run(body)


def test_periodic_polling_picks_up_queued_frames() -> None:
    air = VirtualAir(time_scale=20, seed=15)

    async def body() -> None:
        async with node(air, HUB) as hub, node(air, METER, code=CODE) as sleepy:
            nwk = await form_and_join(hub, sleepy, CODE, node_type="sleepy")
            # Every 1 s of air time; the first poll finds nothing.
            assert await sleepy.start_polling(1.0) == t.EmberStatus.MAC_NO_DATA
            assert await hub.send_unicast(nwk, b"p", cluster=ZCL_CLUSTER) == t.EmberStatus.SUCCESS
            assert (await sleepy.receive(cluster=ZCL_CLUSTER)).payload == b"p"

    run(body)


def test_sleepy_child_of_a_router_is_reached_through_it() -> None:
    """Joins through a router parent (the TC decides, the router's host sees the child),
    then two-hop delivery with the frame held at the router until the child polls."""
    air = VirtualAir(time_scale=20, seed=16)
    seen: list[AirEvent] = []
    air.add_listener(seen.append)

    async def body() -> None:
        async with node(air, HUB) as hub, node(air, IHD, code=OTHER_CODE) as router, \
                node(air, METER, code=CODE) as sleepy:
            router_id = await form_and_join(hub, router, OTHER_CODE)
            await hub.permit(0)  # only the router lets devices in now
            await router.permit(60)
            await hub.allow(sleepy.eui64, CODE)
            nwk = await sleepy.join(channel=CHANNEL, pan_id=PAN, node_type="sleepy")
            assert hub.tc_joins[-1][0] == nwk  # the TC decided about it ...
            (parent,) = [e for e in _kinds(seen, "join") if e.src.nwk == nwk]
            assert parent.dst.nwk == router_id  # ... and the router is its parent
            sending = asyncio.ensure_future(hub.send_unicast(nwk, b"via", cluster=ZCL_CLUSTER))
            await until(lambda: any(e.src.nwk == router_id for e in _kinds(seen, "queued")))
            assert await sleepy.poll() == t.EmberStatus.SUCCESS
            assert (await sleepy.receive(cluster=ZCL_CLUSTER)).payload == b"via"
            assert await sending == t.EmberStatus.SUCCESS
            assert await sleepy.send_unicast(0, b"up", cluster=ZCL_CLUSTER) \
                == t.EmberStatus.SUCCESS
            got = await hub.receive(cluster=ZCL_CLUSTER)
            assert (got.sender, got.payload) == (nwk, b"up")

    run(body)


def test_mgmt_permit_joining_broadcast_opens_routers() -> None:
    air = VirtualAir(time_scale=20, seed=17)

    async def body() -> None:
        async with node(air, HUB) as hub, node(air, IHD, code=OTHER_CODE) as router, \
                node(air, METER, code=CODE) as meter:
            await form_and_join(hub, router, OTHER_CODE)
            await hub.permit(0)
            await hub.allow(meter.eui64, CODE)
            with pytest.raises(JoinError):  # nobody open
                await meter.join(channel=CHANNEL, pan_id=PAN)
            # ZDO Mgmt_Permit_Joining_req (seq, 60 s, TC significance) to all routers.
            assert await hub.send_broadcast(bytes([1, 60, 1]), cluster=0x0036, dest=0xFFFC,
                                            profile=0, src_ep=0, dst_ep=0) == t.EmberStatus.SUCCESS
            await meter.join(channel=CHANNEL, pan_id=PAN)
            assert hub.tc_joins[-1][3] == t.EmberJoinDecision.USE_PRECONFIGURED_KEY

    run(body)
