"""A stock zigpy ControllerApplication (bellows) as coordinator on the virtual NCP, at EZSP v8 and v13.

zigpy and bellows are the clients nobody here wrote: they start on an empty
NCP, form a network, resume it on the next start (networkInit, no second
formNetwork), scan energy when no channel is configured, open joins, take a
device's join, read a ZCL attribute from it through the NCP, and read the
NCP's key, child and address tables. bellows' command timeout is cut to 2 s
so that a command the NCP does not answer fails the test fast.

`ZIGPY_COMMANDS` records which EZSP commands zigpy uses to start (form, then
resume) per version: 33 at v8, 37 at v13.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
from typing import Any

from bellows.zigbee.application import ControllerApplication
import bellows.ezsp.protocol
import bellows.types as t
import pytest
import zigpy.config as zc
import zigpy.types as zt
import zigpy.zcl.foundation as f

from commshub.radio import VirtualAir, VirtualNcp
from commshub.radio.device import BellowsDevice

HUB = "00:0d:6f:00:00:c0:ff:ee"
ESME = "00:11:22:33:44:55:66:77"
IHD = "00:11:22:33:44:55:66:88"
OTHER_TC = "00:aa:bb:cc:dd:ee:ff:01"
CHANNEL = 15
COMMON = {
    "addEndpoint", "clearKeyTable", "formNetwork", "getAddressTableRemoteNodeId", "getChildData",
    "getConfigurationValue", "getCurrentSecurityState", "getEui64", "getExtendedTimeout", "getMfgToken",
    "getMulticastTableEntry", "getNetworkParameters", "getNodeId", "getValue", "gpSinkTableClearAll",
    "lookupNodeIdByEui64", "networkInit", "networkState", "permitJoining", "readCounters", "sendBroadcast",
    "sendUnicast", "setConcentrator", "setConfigurationValue", "setExtendedTimeout", "setInitialSecurityState",
    "setPolicy", "setSourceRouteDiscoveryMode", "setValue", "version",
}
ZIGPY_COMMANDS = {
    8: COMMON | {"addTransientLinkKey", "getKey", "getKeyTableEntry"},
    13: COMMON | {"customFrame", "exportKey", "exportLinkKeyByIndex", "getNetworkKeyInfo", "getTokenData",
                  "importTransientKey", "tokenFactoryReset"},
}
# No Green Power sink table in this NCP: invalidCommand, as on firmware without one (bellows expects that).
UNSUPPORTED = {"gpSinkTableClearAll"}


@pytest.fixture(autouse=True)
def fail_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """A command the NCP leaves unanswered costs 2 s, not bellows' 10 s."""
    monkeypatch.setattr(bellows.ezsp.protocol, "EZSP_CMD_TIMEOUT", 2)


def run(coro_fn: Callable[[], Awaitable[Any]], timeout: float = 90.0) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro_fn(), timeout)

    return asyncio.run(bounded())


async def serve(air: VirtualAir, eui: str, version: int) -> VirtualNcp:
    # Dongle-like start: the NCP waits for the host's RST. An unsolicited RSTACK (as zigbeed sends)
    # races bellows' own RST once its 2 s wait for it runs out on a starved CPU.
    ncp = air.add_ncp(eui, protocol_version=version, startup_rstack_delay=None)
    await ncp.serve_tcp("127.0.0.1", 0)
    return ncp


@contextlib.asynccontextmanager
async def zigpy_on(ncp: VirtualNcp, channel: int | None = CHANNEL) -> AsyncIterator[ControllerApplication]:
    """A zigpy coordinator app started (auto-form) on `ncp`, shut down afterwards."""
    cfg: dict[str, Any] = {
        zc.CONF_DEVICE: {zc.CONF_DEVICE_PATH: f"socket://127.0.0.1:{ncp.port}"},
        zc.CONF_DATABASE: None,
    }
    if channel is not None:
        cfg[zc.CONF_NWK] = {zc.CONF_NWK_CHANNEL: channel}
    app = await ControllerApplication.new(cfg, auto_form=True)
    try:
        yield app
    finally:
        await app.shutdown()


@pytest.mark.parametrize("version", [8, 13])
def test_zigpy_forms_a_network_and_resumes_it(version: int) -> None:
    async def body() -> None:
        air = VirtualAir()
        ncp = await serve(air, HUB, version)
        try:
            async with zigpy_on(ncp) as app:
                first = app.state.network_info
                assert str(app.state.node_info.ieee) == HUB and app.state.node_info.nwk == 0x0000
            formed = ncp.received.count("formNetwork")
            assert formed >= 1 and ncp.tokens is not None
            params = ncp.tokens.parameters
            assert (first.channel, first.pan_id) == (CHANNEL, params.panId)
            assert bytes(first.extended_pan_id) == bytes(params.extendedPanId)
            assert bytes(first.network_key.key) == ncp.tokens.network_key
            assert first.stack_specific["ezsp"]["hashed_tclk"]  # zigpy's hashed TC link key, from tokens

            async with zigpy_on(ncp) as app:  # the second start resumes: networkInit, no formNetwork
                again = app.state.network_info
            assert ncp.received.count("formNetwork") == formed
            assert ncp.received.count("networkInit") >= 2
            assert (again.pan_id, again.extended_pan_id, again.channel) == \
                (first.pan_id, first.extended_pan_id, first.channel)
            assert again.network_key.key == first.network_key.key
            assert set(ncp.received) == ZIGPY_COMMANDS[version]
            assert set(ncp.unhandled) <= UNSUPPORTED
        finally:
            await ncp.close()

    run(body)


def test_zigpy_without_a_channel_scans_energy_and_avoids_a_busy_channel() -> None:
    """zigpy prefers 15 on a quiet air (15, 20, 25 score alike, 15 comes first); with another
    network on 15 the energy scan makes it pick 20."""

    async def body() -> None:
        air = VirtualAir(time_scale=8.0)
        other = await serve(air, OTHER_TC, 13)
        hub = await serve(air, HUB, 8)
        tc = BellowsDevice(f"socket://127.0.0.1:{other.port}")
        try:
            await tc.connect()
            await tc.form(channel=15, pan_id=0x1234, ext_pan_id=OTHER_TC, permit_s=0)
            async with zigpy_on(hub, channel=None) as app:
                assert app.state.network_info.channel == 20
                energy = await app.energy_scan(zt.Channels.ALL_CHANNELS, duration_exp=2, count=1)
            assert energy[15] > 200 and max(e for c, e in energy.items() if c != 15) < 10
            assert "startScan" in hub.received and set(hub.unhandled) <= UNSUPPORTED
        finally:
            await tc.close()
            await other.close()
            await hub.close()

    run(body)


def read_rsp(tsn: int, model: str) -> bytes:
    hdr = f.ZCLHeader.general(tsn=tsn, command_id=f.GeneralCommand.Read_Attributes_rsp,
                              direction=f.Direction.Server_to_Client)
    rec = f.ReadAttributeRecord(attrid=0x0005, status=f.Status.SUCCESS,
                                value=f.TypeValue(type=0x42, value=zt.CharacterString(model)))
    schema = f.GENERAL_COMMANDS[f.GeneralCommand.Read_Attributes_rsp].schema
    return hdr.serialize() + schema(status_records=[rec]).serialize()


@pytest.mark.parametrize("version", [8, 13])
def test_zigpy_permits_joins_reads_zcl_and_reads_the_ncp_tables(version: int) -> None:
    async def body() -> None:
        air = VirtualAir(time_scale=4.0)
        events: list[Any] = []
        air.add_listener(events.append)
        hub = await serve(air, HUB, version)
        esme_ncp, ihd_ncp = await serve(air, ESME, 13), await serve(air, IHD, 8)
        esme = BellowsDevice(f"socket://127.0.0.1:{esme_ncp.port}")
        ihd = BellowsDevice(f"socket://127.0.0.1:{ihd_ncp.port}")
        try:
            await esme.connect()
            await ihd.connect()
            async with zigpy_on(hub) as app:
                info = app.state.network_info
                assert hub.permit_until <= air.now()  # zigpy closes joins at start
                await app.permit(60)
                assert hub.permit_until > air.now() + 10
                assert any(e.kind == "broadcast" and e.aps and e.aps.cluster == 0x0036 for e in events)

                esme_nwk = await esme.join(channel=info.channel, pan_id=info.pan_id,
                                           ext_pan_id=str(info.extended_pan_id), node_type="router")
                ihd_nwk = await ihd.join(channel=info.channel, pan_id=info.pan_id,
                                         ext_pan_id=str(info.extended_pan_id), node_type="end_device")
                dev = app.get_device(ieee=zt.EUI64.convert(ESME))
                assert dev.nwk == esme_nwk

                ep = dev.add_endpoint(1)
                ep.profile_id = 0x0104  # zigpy ignores ZCL in other profiles (SE 0x0109 included)
                basic = ep.add_input_cluster(0x0000)

                async def answer() -> None:
                    msg = await esme.receive(cluster=0x0000)
                    hdr, _ = f.ZCLHeader.deserialize(msg.payload)
                    assert hdr.command_id == f.GeneralCommand.Read_Attributes
                    status = await esme.send_unicast(0x0000, read_rsp(hdr.tsn, "ESME-1"), cluster=0x0000,
                                                     profile=msg.profile, src_ep=1, dst_ep=msg.src_ep)
                    assert status == t.EmberStatus.SUCCESS

                (success, failure), _ = await asyncio.gather(
                    basic.read_attributes(["model"], allow_cache=False), answer())
                assert (success, failure) == ({"model": "ESME-1"}, {})

                await app.load_network_info(load_devices=True)
                tables = app.state.network_info
                assert tables.children == [zt.EUI64.convert(IHD)]
                assert tables.nwk_addresses[zt.EUI64.convert(IHD)] == ihd_nwk
                counters = dict(zip(t.EmberCounterType, (await app._ezsp.readCounters())[0], strict=False))
                assert counters[t.EmberCounterType.COUNTER_APS_DATA_RX_UNICAST] >= 1
                assert counters[t.EmberCounterType.COUNTER_APS_DATA_TX_BROADCAST] >= 1
                assert counters[t.EmberCounterType.COUNTER_JOIN_INDICATION] == 2
            assert set(hub.unhandled) <= UNSUPPORTED
        finally:
            for d in (esme, ihd):
                await d.close()
            for n in (hub, esme_ncp, ihd_ncp):
                await n.close()

    run(body, timeout=120)
