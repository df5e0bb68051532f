"""The virtual air with stock bellows on every side: a coordinator/TC standing in for the hub,
BellowsDevice joiners; install-code joins and refusals, removal, unicast and broadcast."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
import os
from typing import Any

import bellows.types as t
import pytest
import zigpy.util

from commshub.radio import AirEvent, VirtualAir
from commshub.radio.aesmmo import install_code_key, with_crc
from commshub.radio.device import BellowsDevice, JoinError
from commshub.radio.thread import AirThread

HUB = "02AABBCCDDEEFF01"
METER = "00:0d:6f:00:0a:bc:de:01"
IHD = "00:0d:6f:00:0a:bc:de:02"
CHANNEL, PAN = 15, 0x1A62
CODE = with_crc(bytes.fromhex("83FED3407A939723A5C639B26916D505"))  # with its CRC
OTHER_CODE = with_crc(bytes.fromhex("00112233445566778899AABBCCDDEEFF"))
ZCL_CLUSTER = 0x0702


def run(coro_fn: Callable[[], Awaitable[Any]], timeout: float = 60.0) -> Any:
    """Run one async test body with a hard time bound."""

    async def bounded() -> Any:
        return await asyncio.wait_for(coro_fn(), timeout)

    return asyncio.run(bounded())


@contextlib.asynccontextmanager
async def node(air: VirtualAir, eui: str, version: int = 8,
               code: bytes | None = None) -> AsyncIterator[BellowsDevice]:
    """A virtual NCP on `air` with a connected BellowsDevice host."""
    ncp = air.add_ncp(eui, protocol_version=version, startup_rstack_delay=0.0)
    await ncp.serve_tcp()
    dev = BellowsDevice(f"socket://127.0.0.1:{ncp.port}", install_code=code)
    try:
        await dev.connect()
        yield dev
    finally:
        await dev.close()
        await ncp.close()


async def hub_forms(hub: BellowsDevice, **kw: Any) -> None:
    await hub.form(channel=CHANNEL, pan_id=PAN, ext_pan_id=HUB, **kw)


async def form_and_join(hub: BellowsDevice, dev: BellowsDevice, code: bytes, **kw: Any) -> int:
    """The hub forms and admits dev's install code; dev joins; its short address."""
    await hub_forms(hub)
    await hub.allow(dev.eui64, code)
    return await dev.join(channel=CHANNEL, pan_id=PAN, **kw)


async def until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until cond() holds (callbacks arrive asynchronously)."""
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.01)


def events(air: VirtualAir) -> list[AirEvent]:
    seen: list[AirEvent] = []
    air.add_listener(seen.append)
    return seen


@pytest.mark.parametrize("version", [8, 13])
def test_install_code_join_then_unicast_and_broadcast_both_ways(version: int) -> None:
    air = VirtualAir(seed=1)
    seen = events(air)

    async def body() -> None:
        async with node(air, HUB, version) as hub, node(air, METER, version, CODE) as meter:
            nwk = await form_and_join(hub, meter, CODE, ext_pan_id=HUB)
            assert 0 < nwk < 0xFFF8
            # The TC's host saw the join with the transient key in use.
            assert hub.tc_joins == [(nwk, meter.eui64,
                                     t.EmberDeviceUpdate.STANDARD_SECURITY_UNSECURED_JOIN,
                                     t.EmberJoinDecision.USE_PRECONFIGURED_KEY)]
            # The joiner's stack announced itself: ZDO Device_annce, broadcast.
            annce = await hub.receive(cluster=0x0013)
            assert (annce.profile, annce.kind) == (0, t.EmberIncomingMessageType.INCOMING_BROADCAST)
            assert annce.sender == nwk
            assert annce.payload[1:3] == nwk.to_bytes(2, "little")
            assert annce.payload[3:11] == meter.eui64.serialize()
            # Unicast hub -> meter and back, APS-acked.
            assert await hub.send_unicast(nwk, b"\x00\x01\x00\x00\x00", cluster=ZCL_CLUSTER) \
                == t.EmberStatus.SUCCESS
            got = await meter.receive(cluster=ZCL_CLUSTER)
            assert (got.sender, got.payload, got.kind) == (
                0x0000, b"\x00\x01\x00\x00\x00", t.EmberIncomingMessageType.INCOMING_UNICAST)
            assert await meter.send_unicast(0x0000, b"reply", cluster=ZCL_CLUSTER) \
                == t.EmberStatus.SUCCESS
            assert (await hub.receive(cluster=ZCL_CLUSTER)).payload == b"reply"
            # Broadcasts both ways.
            assert await hub.send_broadcast(b"time", cluster=0x000A) == t.EmberStatus.SUCCESS
            bc = await meter.receive(cluster=0x000A)
            assert (bc.sender, bc.kind) == (0, t.EmberIncomingMessageType.INCOMING_BROADCAST)
            assert await meter.send_broadcast(b"hello", cluster=0x000A, dest=0xFFFC) \
                == t.EmberStatus.SUCCESS
            assert (await hub.receive(cluster=0x000A)).payload == b"hello"
        kinds = [e.kind for e in seen]
        assert kinds.index("form") < kinds.index("join") < kinds.index("delivered")
        join = next(e for e in seen if e.kind == "join")
        assert join.src is not None and join.src.eui64 == METER and join.src.nwk == nwk

    run(body)


def test_device_not_in_the_tc_table_is_denied() -> None:
    air = VirtualAir(time_scale=20, seed=2)
    seen = events(air)

    async def body() -> None:
        async with node(air, HUB) as hub, node(air, METER, code=CODE) as meter:
            await hub_forms(hub)
            with pytest.raises(JoinError) as err:
                await meter.join(channel=CHANNEL, pan_id=PAN)
            assert err.value.status == t.EmberStatus.JOIN_FAILED
            assert [j[3] for j in hub.tc_joins] == [t.EmberJoinDecision.DENY_JOIN]
            assert (await meter.api.networkState())[0] == t.EmberNetworkStatus.NO_NETWORK
        assert [e.kind for e in seen if e.kind.startswith("join")] == ["join_denied"]

    run(body)


def test_wrong_install_code_fails_after_the_tc_saw_the_attempt() -> None:
    air = VirtualAir(time_scale=20, seed=3)
    seen = events(air)

    async def body() -> None:
        async with node(air, HUB, 13) as hub, node(air, METER, 13, OTHER_CODE) as meter:
            await hub_forms(hub)
            await hub.allow(meter.eui64, CODE)
            with pytest.raises(JoinError) as err:
                await meter.join(channel=CHANNEL, pan_id=PAN)
            assert err.value.status == t.EmberStatus.JOIN_FAILED
            assert [j[3] for j in hub.tc_joins] == [t.EmberJoinDecision.USE_PRECONFIGURED_KEY]
            with pytest.raises(TimeoutError):
                await hub.receive(timeout=0.5)  # no Device_annce
        failed = [e for e in seen if e.kind == "join_failed"]
        assert len(failed) == 1 and "key mismatch" in failed[0].status

    run(body)


def test_permit_closed_means_no_beacons() -> None:
    air = VirtualAir(time_scale=20, seed=4)

    async def body() -> None:
        async with node(air, HUB) as hub, node(air, METER, code=CODE) as meter:
            await hub_forms(hub, permit_s=0)
            await hub.allow(meter.eui64, CODE)
            with pytest.raises(JoinError) as err:
                await meter.join(channel=CHANNEL, pan_id=PAN)
            assert err.value.status == t.EmberStatus.NO_BEACONS
            assert hub.tc_joins == []
            # Opened for a few (air) seconds: the same device gets in.
            await hub.permit(30)
            assert await meter.join(channel=CHANNEL, pan_id=PAN) > 0

    run(body)


def test_removed_device_cannot_talk_or_rejoin() -> None:
    air = VirtualAir(time_scale=20, seed=5)

    async def body() -> None:
        async with node(air, HUB) as hub, node(air, METER, code=CODE) as meter:
            nwk = await form_and_join(hub, meter, CODE)
            await hub.remove(meter.eui64)
            await until(lambda: t.EmberStatus.NETWORK_DOWN in meter.statuses)
            left = (nwk, meter.eui64, t.EmberDeviceUpdate.DEVICE_LEFT,
                    t.EmberJoinDecision.NO_ACTION)
            await until(lambda: left in hub.tc_joins)
            assert await meter.send_unicast(0, b"x", cluster=ZCL_CLUSTER) \
                == t.EmberStatus.NOT_JOINED
            assert await hub.send_unicast(nwk, b"x", cluster=ZCL_CLUSTER) \
                == t.EmberStatus.DELIVERY_FAILED
            with pytest.raises(JoinError) as err:
                await meter.join(channel=CHANNEL, pan_id=PAN)
            assert err.value.status == t.EmberStatus.JOIN_FAILED
            assert hub.tc_joins[-1][3] == t.EmberJoinDecision.DENY_JOIN

    run(body)


def test_device_that_leaves_tells_the_tc_and_cannot_come_back() -> None:
    air = VirtualAir(time_scale=20, seed=6)

    async def body() -> None:
        async with node(air, HUB, 13) as hub, node(air, METER, 13, CODE) as meter:
            nwk = await form_and_join(hub, meter, CODE, node_type="end_device")
            await meter.leave()
            await until(lambda: hub.tc_joins[-1][:3]
                        == (nwk, meter.eui64, t.EmberDeviceUpdate.DEVICE_LEFT))
            with pytest.raises(JoinError):
                await meter.join(channel=CHANNEL, pan_id=PAN)

    run(body)


@pytest.mark.parametrize("version", [8, 13])
def test_aes_mmo_hash_on_the_ncp_is_zigbee_aes_mmo(version: int) -> None:
    air = VirtualAir()

    async def body() -> None:
        async with node(air, HUB, version) as hub:
            for code in (CODE, OTHER_CODE, with_crc(os.urandom(8)), with_crc(os.urandom(6))):
                key = await hub.hash_install_code(code)
                assert key == bytes(zigpy.util.convert_install_code(code))
                assert key == install_code_key(code)
            # In pieces: whole blocks first, then the rest with finalize.
            data = os.urandom(40)
            ctx = t.EmberAesMmoHashContext.deserialize(bytes(20))[0]
            status, ctx = await hub.api.aesMmoHash(context=ctx, finalize=False, data=data[:32])
            assert status == t.EmberStatus.SUCCESS and ctx.length == 32
            status, ctx = await hub.api.aesMmoHash(context=ctx, finalize=True, data=data[32:])
            assert bytes(ctx.result) == bytes(zigpy.util.aes_mmo_hash(data))
            # An update that is not whole blocks is refused.
            status, _ = await hub.api.aesMmoHash(context=ctx, finalize=False, data=b"abc")
            assert status == t.EmberStatus.BAD_ARGUMENT

    run(body)


def test_bellows_over_a_pty_and_the_air_on_its_own_thread() -> None:
    with AirThread(seed=7) as air_thread:
        hub_ncp = air_thread.add_ncp(HUB, protocol_version=13)
        meter_ncp = air_thread.add_ncp(METER, protocol_version=8)
        hub_path = air_thread.open_pty(hub_ncp)
        meter_port = air_thread.serve_tcp(meter_ncp)
        seen: list[str] = []

        def listener(event: AirEvent) -> None:
            seen.append(event.kind)

        air_thread.add_listener(listener)

        async def body() -> None:
            hub = BellowsDevice(hub_path)
            meter = BellowsDevice(f"socket://127.0.0.1:{meter_port}", install_code=CODE)
            await hub.connect()
            await meter.connect()
            try:
                nwk = await form_and_join(hub, meter, CODE)
                assert await hub.send_unicast(nwk, b"over a pty", cluster=ZCL_CLUSTER) \
                    == t.EmberStatus.SUCCESS
                assert (await meter.receive(cluster=ZCL_CLUSTER)).payload == b"over a pty"
            finally:
                await hub.close()
                await meter.close()

        run(body)
        assert "join" in seen and "delivered" in seen
        air_thread.remove_listener(listener)
        n = len(seen)
        air_thread.call(air_thread.air.emit, "poll")
        assert len(seen) == n
    air_thread.remove_listener(listener)  # after stop: nothing to do, no error


@pytest.mark.parametrize("version", [8, 13])
def test_the_hub_firmware_sequence_with_16_byte_install_codes(version: int) -> None:
    """The order the hub firmware uses (notes from B): config, policy, endpoint, networkInit,
    security state, formNetwork, permit; aesMmoHash(code16 + CRC) -> transient key."""
    air = VirtualAir(time_scale=20, seed=8)
    code16 = bytes.fromhex("83FED3407A939723A5C639B26916D505")

    async def body() -> None:
        async with node(air, HUB, version) as hub, node(air, METER, version, code16) as meter, \
                node(air, IHD, version, OTHER_CODE[:16]) as ihd:
            api = hub.api
            assert (await api.setConfigurationValue(
                t.EzspConfigId.CONFIG_TRANSIENT_KEY_TIMEOUT_S, 65535))[0] == t.EzspStatus.SUCCESS
            assert (await api.setPolicy(t.EzspPolicyId.TRUST_CENTER_POLICY, 0x11))[0] \
                == t.EzspStatus.SUCCESS
            status = await api.addEndpoint(
                endpoint=1, profileId=0x0109, deviceId=0x0500, deviceVersion=0,
                inputClusterCount=2, outputClusterCount=1,
                inputClusterList=[t.uint16_t(0x0000), t.uint16_t(0x000A)],
                outputClusterList=[t.uint16_t(0x0702)])
            assert status[0] == t.EzspStatus.SUCCESS
            assert (await api.networkInit(0))[0] == t.EmberStatus.NOT_JOINED
            state = t.EmberInitialSecurityState(
                bitmask=t.EmberInitialSecurityBitmask(0x0304),
                preconfiguredKey=t.KeyData(os.urandom(16)), networkKey=t.KeyData(os.urandom(16)),
                networkKeySequenceNumber=0, preconfiguredTrustCenterEui64=t.EUI64(bytes(8)))
            assert (await api.setInitialSecurityState(state))[0] == t.EmberStatus.SUCCESS
            await api.formNetwork(t.EmberNetworkParameters(
                extendedPanId=t.ExtendedPanId.convert(":".join(HUB[i:i + 2] for i in range(0, 16, 2))),
                panId=t.EmberPanId(PAN), radioTxPower=8, radioChannel=CHANNEL,
                joinMethod=t.EmberJoinMethod.USE_MAC_ASSOCIATION, nwkManagerId=t.EmberNodeId(0),
                nwkUpdateId=0, channels=t.Channels(1 << CHANNEL)))
            await hub.permit(60)
            await hub.allow(meter.eui64, code16)  # aesMmoHash + transient key, CRC added
            nwk = await meter.join(channel=CHANNEL, pan_id=PAN, ext_pan_id=HUB)
            assert (await hub.receive(cluster=0x0013)).sender == nwk
            # The window closes: keys cleared; a device admitted before then is refused now.
            await hub.allow(ihd.eui64, OTHER_CODE[:16])
            await api.clearTransientLinkKeys()
            with pytest.raises(JoinError):
                await ihd.join(channel=CHANNEL, pan_id=PAN)
            assert hub.tc_joins[-1][3] == t.EmberJoinDecision.DENY_JOIN

    run(body)


def test_erasing_link_keys_does_not_take_a_device_off_the_network() -> None:
    """bellows' ControllerApplication erases each joiner's key-table entry; the device stays on."""
    air = VirtualAir(seed=9)

    async def body() -> None:
        async with node(air, HUB) as hub, node(air, METER, code=CODE) as meter:
            nwk = await form_and_join(hub, meter, CODE)
            assert air.radios[hub.eui64].key_table  # the joiner's link key is there ...
            await hub.api.clearKeyTable()
            assert not air.radios[hub.eui64].key_table  # ... and gone
            assert await meter.send_unicast(0, b"still here", cluster=ZCL_CLUSTER) \
                == t.EmberStatus.SUCCESS
            assert (await hub.receive(cluster=ZCL_CLUSTER)).payload == b"still here"
            assert await hub.send_unicast(nwk, b"ok", cluster=ZCL_CLUSTER) == t.EmberStatus.SUCCESS

    run(body)


def test_serve_fd_survives_the_other_side_closing_and_reopening_the_pty() -> None:
    """A board's radio UART: the pty's slave side goes away (reboot) and comes back."""
    from commshub.radio.transport import open_pty_pair

    air = VirtualAir()

    async def body() -> None:
        master, slave = open_pty_pair()
        path = os.ttyname(slave)
        os.close(slave)  # nobody on the other side yet: the master reads EIO
        ncp = air.add_ncp(HUB, protocol_version=13)
        ncp.serve_fd(master)
        try:
            await asyncio.sleep(0.2)
            for _ in range(2):  # connect, go away, come back
                dev = BellowsDevice(path)
                await dev.connect()
                assert str(dev.eui64) == "02:aa:bb:cc:dd:ee:ff:01"
                await dev.close()
                await asyncio.sleep(0.2)
        finally:
            await ncp.close()

    run(body)
