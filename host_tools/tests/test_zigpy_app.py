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
import pytest
import zigpy.config as zc
import zigpy.types as zt

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
    ncp = air.add_ncp(eui, protocol_version=version, startup_rstack_delay=0.0)
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
