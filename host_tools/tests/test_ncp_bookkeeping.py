"""The NCP's bookkeeping commands (coordinator, keytable, counters, scan) through stock bellows.

Each command is checked for what it does to the NCP's state and what a later
command (or a reset) then sees, not for its mere answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import bellows.types as t
import pytest

from commshub.radio import VirtualAir, VirtualNcp
from commshub.radio.device import BellowsDevice

HUB = "00:0d:6f:00:00:c0:ff:ee"
DEV = "00:11:22:33:44:55:66:77"
OTHER = "00:aa:bb:cc:dd:ee:ff:01"
KEY = t.KeyData(bytes(range(16)))
C = t.EmberCounterType


def run(coro_fn: Callable[[], Awaitable[Any]], timeout: float = 60.0) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro_fn(), timeout)

    return asyncio.run(bounded())


async def node(air: VirtualAir, eui: str, version: int, **kw: Any) -> tuple[VirtualNcp, BellowsDevice]:
    ncp = air.add_ncp(eui, protocol_version=version, startup_rstack_delay=0.0)
    await ncp.serve_tcp("127.0.0.1", 0)
    dev = BellowsDevice(f"socket://127.0.0.1:{ncp.port}", **kw)
    await dev.connect()
    return ncp, dev


def test_address_multicast_and_extended_timeout_tables_and_reset() -> None:
    async def body() -> None:
        air = VirtualAir()
        ncp, hub = await node(air, HUB, 8)
        _, dev = await node(air, DEV, 8)
        ezsp = hub.api
        try:
            await hub.form(channel=15, pan_id=0x1A62, ext_pan_id=HUB, install_code_only=False)
            nwk = await dev.join(channel=15, pan_id=0x1A62, ext_pan_id=HUB)
            eui = t.EUI64.convert(DEV)
            assert (await ezsp.getAddressTableRemoteNodeId(0))[0] == 0xFFFF  # unused slot
            status, old_eui, old_id, _ = await ezsp.replaceAddressTableEntry(2, eui, nwk, True)
            assert (status, old_id) == (t.EmberStatus.SUCCESS, 0xFFFF)
            assert (await ezsp.getAddressTableRemoteNodeId(2))[0] == nwk
            assert (await ezsp.getAddressTableRemoteEui64(2))[0] == eui
            assert (await ezsp.getExtendedTimeout(eui))[0] == t.Bool.true
            assert (await ezsp.lookupEui64ByNodeId(nwk)) == [t.EmberStatus.SUCCESS, eui]
            assert (await ezsp.lookupNodeIdByEui64(eui))[0] == nwk
            assert (await ezsp.lookupNodeIdByEui64(t.EUI64.convert(OTHER)))[0] == 0xFFFF
            assert (await ezsp.replaceAddressTableEntry(200, eui, nwk, False))[0] == \
                t.EmberStatus.INDEX_OUT_OF_RANGE

            entry = t.EmberMulticastTableEntry(multicastId=0x1234, endpoint=1, networkIndex=0)
            assert (await ezsp.setMulticastTableEntry(3, entry))[0] == t.EmberStatus.SUCCESS
            assert (await ezsp.getMulticastTableEntry(3)) == [t.EmberStatus.SUCCESS, entry]
            assert (await ezsp.getMulticastTableEntry(255))[0] == t.EmberStatus.INDEX_OUT_OF_RANGE

            assert (await ezsp.setRadioPower(3))[0] == t.EmberStatus.SUCCESS
            assert (await ezsp.getNetworkParameters())[2].radioTxPower == 3
            assert (await ezsp.setRadioPower(40))[0] == t.EmberStatus.BAD_ARGUMENT

            # A reset loses RAM tables; the network (and its tx power) stays in tokens.
            await hub.close()
            ncp.reset_ncp()
            await hub.connect()
            await hub.rejoin_from_tokens()
            ezsp = hub.api
            assert (await ezsp.getAddressTableRemoteNodeId(2))[0] == 0xFFFF
            assert (await ezsp.getMulticastTableEntry(3))[1].endpoint == 0
            assert (await ezsp.getExtendedTimeout(eui))[0] == t.Bool.false
            assert (await ezsp.getNetworkParameters())[2].radioTxPower == 3
            assert ncp.unhandled == []
        finally:
            await hub.close()
            await dev.close()

    run(body)


@pytest.mark.parametrize("version", [8, 13])
def test_key_table(version: int) -> None:
    async def body() -> None:
        air = VirtualAir()
        ncp, hub = await node(air, HUB, version)
        ezsp = hub.api
        eui, other = t.EUI64.convert(DEV), t.EUI64.convert(OTHER)
        try:
            if version < 13:
                assert (await ezsp.addOrUpdateKeyTableEntry(eui, True, KEY))[0] == t.EmberStatus.SUCCESS
                status, key = await ezsp.getKeyTableEntry(0)
                assert (status, key.partnerEUI64, key.key) == (t.EmberStatus.SUCCESS, eui, KEY)
                assert (await ezsp.getKeyTableEntry(1))[0] == t.EmberStatus.TABLE_ENTRY_ERASED
                assert (await ezsp.getKeyTableEntry(4))[0] == t.EmberStatus.INDEX_OUT_OF_RANGE
            else:
                assert (await ezsp.importLinkKey(0, eui, KEY))[0] == t.sl_Status.OK
                got_eui, got_key, _meta, status = await ezsp.exportLinkKeyByIndex(0)
                assert (status, got_eui, got_key) == (t.sl_Status.OK, eui, KEY)
                assert (await ezsp.exportLinkKeyByIndex(1))[3] == t.sl_Status.NOT_FOUND
            assert ncp.key_table == {eui: bytes(KEY)}
            assert (await ezsp.findKeyTableEntry(eui, True))[0] == 0
            assert (await ezsp.findKeyTableEntry(other, True))[0] == 0xFF
            assert (await ezsp.eraseKeyTableEntry(0))[0] == t.EmberStatus.SUCCESS
            assert ncp.key_table == {}
            for i in range(4):  # CONFIG_KEY_TABLE_SIZE slots, then full
                ncp.key_table[t.EUI64(bytes([i]) * 8)] = bytes(16)
            if version < 13:
                assert (await ezsp.addOrUpdateKeyTableEntry(eui, True, KEY))[0] == t.EmberStatus.TABLE_FULL
            else:
                assert (await ezsp.importLinkKey(9, eui, KEY))[0] == t.sl_Status.INVALID_INDEX
            assert (await ezsp.clearKeyTable())[0] == t.EmberStatus.SUCCESS
            assert ncp.key_table == {}
        finally:
            await hub.close()

    run(body)


def test_nv3_tokens_and_factory_reset_v13() -> None:
    async def body() -> None:
        air = VirtualAir()
        ncp, hub = await node(air, HUB, 13)
        ezsp = hub.api
        try:
            assert (await ezsp.getTokenData(t.NV3KeyId.NVM3KEY_STACK_NODE_DATA, 0)).status != 0  # no network
            await hub.form(channel=25, pan_id=0x4321, ext_pan_id=HUB)
            rsp = await ezsp.getTokenData(t.NV3KeyId.NVM3KEY_STACK_NODE_DATA, 0)
            node_data, _ = t.NV3StackNodeData.deserialize(rsp.value)
            assert (node_data.panId, node_data.radioFreqChannel, node_data.nodeType) == \
                (0x4321, 25, t.EmberNodeType.COORDINATOR)
            (status,) = await ezsp.setTokenData(t.NV3KeyId.NVM3KEY_STACK_NODE_DATA, 0,
                                                t.LVBytes32(node_data.replace(radioTxPower=5).serialize()))
            assert status == t.EmberStatus.SUCCESS
            assert (await ezsp.getNetworkParameters())[2].radioTxPower == 5
            rsp = await ezsp.getTokenData(t.NV3KeyId.NVM3KEY_STACK_TRUST_CENTER, 0)
            assert t.NV3StackTrustCenterToken.deserialize(rsp.value)[0].eui64 == t.EUI64.convert(HUB)
            assert (await ezsp.getTokenData(t.NV3KeyId.NVM3KEY_STACK_RESTORED_EUI64, 0)).status != 0
            assert (await ezsp.setTokenData(t.NV3KeyId.NVM3KEY_STACK_NODE_DATA, 0,
                                            t.LVBytes32(b"\x01")))[0] != t.EmberStatus.SUCCESS
            status, state = await ezsp.getCurrentSecurityState()
            assert (status, state.trustCenterLongAddress) == (t.EmberStatus.SUCCESS, t.EUI64.convert(HUB))

            child = t.EmberChildDataV10(eui64=t.EUI64.convert(DEV), type=t.EmberNodeType.SLEEPY_END_DEVICE,
                                        id=0x1234, phy=0, power=0, timeout=0, timeout_remaining=0)
            assert (await ezsp.setChildData(0, child))[0] == t.EmberStatus.SUCCESS
            status, got = await ezsp.getChildData(0)
            assert (status, got.eui64, got.id) == (t.EmberStatus.SUCCESS, child.eui64, 0x1234)
            assert (await ezsp.getChildData(1))[0] == t.EmberStatus.NOT_JOINED

            assert ncp.members == set()  # nobody joined; a join would be forgotten too
            ncp.members.add(t.EUI64.convert(DEV))
            await ezsp.tokenFactoryReset(False, False)
            await hub.close()
            await hub.connect()
            ezsp = hub.api
            assert (await ezsp.networkInit(t.EmberNetworkInitBitmask.NETWORK_INIT_NO_OPTIONS))[0] == \
                t.EmberStatus.NOT_JOINED
            assert (await ezsp.getChildData(0))[0] == t.EmberStatus.NOT_JOINED
            assert ncp.tokens is None and ncp.members == set() and ncp.unhandled == []
        finally:
            await hub.close()

    run(body)


def test_scans_see_the_other_network_and_take_scan_time() -> None:
    async def body() -> None:
        air = VirtualAir(time_scale=2.0)
        _, hub = await node(air, HUB, 8)
        ncp, other = await node(air, OTHER, 13)
        try:
            await other.form(channel=20, pan_id=0x0BEE, ext_pan_id=OTHER, permit_s=60)
            air.set_link(HUB, OTHER, loss=0.2)
            t0 = air.now()
            mask = t.Channels.from_channel_list([19, 20])
            results = await hub.api.startScan(t.EzspNetworkScanType.ENERGY_SCAN, mask, 3)
            assert air.now() - t0 >= 2 * (2**3 + 1) * 0.01536
            assert [(int(c), int(r)) for c, r in results] == [(19, -100), (20, -50)]
            beacons = await hub.api.startScan(t.EzspNetworkScanType.ACTIVE_SCAN, mask, 1)
            assert len(beacons) == 1
            found, lqi, rssi = beacons[0]
            assert (found.channel, found.panId, found.allowingJoin) == (20, 0x0BEE, t.Bool.true)
            assert (lqi, rssi) == (204, -50)
            (status,) = await hub.api._command("startScan", scanType=t.EzspNetworkScanType.ENERGY_SCAN,
                                                channelMask=t.Channels(0), duration=3)
            assert status == t.EmberStatus.BAD_ARGUMENT
        finally:
            await hub.close()
            await other.close()

    run(body)


def test_counters_count_traffic_and_clear() -> None:
    async def body() -> None:
        air = VirtualAir()
        ncp, hub = await node(air, HUB, 13)
        _, dev = await node(air, DEV, 8)
        try:
            await hub.form(channel=15, pan_id=0x1A62, ext_pan_id=HUB, install_code_only=False)
            await dev.join(channel=15, pan_id=0x1A62, ext_pan_id=HUB)
            await hub.receive(cluster=0x0013)  # its Device_annce (a broadcast) has arrived
            for _ in range(3):
                assert await dev.send_unicast(0x0000, b"\x00\x01\x00\x00\x00", cluster=0) == 0
            assert await hub.send_broadcast(b"\x01\x02", cluster=6, dest=0xFFFD) == 0
            (values,) = await hub.api.readAndClearCounters()
            counts = dict(zip(C, values, strict=False))
            assert counts[C.COUNTER_APS_DATA_RX_UNICAST] == 3
            assert counts[C.COUNTER_APS_DATA_RX_BROADCAST] == 1  # the device's Device_annce
            assert counts[C.COUNTER_APS_DATA_TX_BROADCAST] == 1
            assert counts[C.COUNTER_JOIN_INDICATION] == 1
            assert counts[C.COUNTER_ASH_FRAMING_ERROR] == 0
            (values,) = await hub.api.readCounters()
            assert sum(values) == 0
        finally:
            await hub.close()
            await dev.close()

    run(body)
