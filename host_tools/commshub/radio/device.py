"""A minimal HAN node on stock bellows' raw EZSP API, for tests and device emulators.

`BellowsDevice` connects to any EZSP NCP bellows can open (a virtual NCP's
`socket://host:port` or pty path, or a real dongle), joins a network as a
router, end device or sleepy end device with the link key derived from its
install code, and sends and receives APS frames. It can also play a simple
coordinator and trust centre (`form`, `allow`), which is what the tests use
to stand in for the hub. Nothing here knows about the virtual air: the same
code drives real radios.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from typing import Any

from bellows.ezsp import EZSP
import bellows.types as t
import zigpy.config

from commshub.radio.aesmmo import install_code_key, normalise_install_code

SE_PROFILE = 0x0109  # Smart Energy: the GB HAN's profile
NODE_TYPES = {
    "coordinator": t.EmberNodeType.COORDINATOR,
    "router": t.EmberNodeType.ROUTER,
    "end_device": t.EmberNodeType.END_DEVICE,
    "sleepy": t.EmberNodeType.SLEEPY_END_DEVICE,
}
JOIN_OUTCOMES = (t.EmberStatus.NETWORK_UP, t.EmberStatus.JOIN_FAILED, t.EmberStatus.NO_BEACONS,
                 t.EmberStatus.NOT_JOINED, t.EmberStatus.NETWORK_DOWN)
WELL_KNOWN_KEY = b"ZigBeeAlliance09"
Bits = t.EmberInitialSecurityBitmask


class JoinError(RuntimeError):
    """A join (or form) that ended without NETWORK_UP; `status` says how it ended."""

    def __init__(self, status: t.EmberStatus) -> None:
        super().__init__(f"join failed: {status.name}")
        self.status = status


@dataclasses.dataclass
class Received:
    """One APS frame the node's host got (incomingMessageHandler)."""

    kind: t.EmberIncomingMessageType
    sender: int
    profile: int
    cluster: int
    src_ep: int
    dst_ep: int
    seq: int
    payload: bytes


class BellowsDevice:
    """A HAN node driven through bellows' raw EZSP (see the module docstring)."""

    def __init__(self, path: str, *, install_code: bytes | None = None,
                 link_key: bytes | None = None) -> None:
        """`path`: socket://host:port or a serial/pty path. `install_code`: with or without
        its CRC (16 bytes as GBCS gives it: the CRC is added); the link key is derived from
        it. Or `link_key` directly; else the well-known key."""
        self.path = path
        if install_code is not None:
            link_key = install_code_key(normalise_install_code(install_code))
        self.link_key = link_key if link_key is not None else WELL_KNOWN_KEY
        self.ezsp: EZSP | None = None
        self.eui64: t.EUI64 | None = None
        self.node_id: int | None = None
        self.received: asyncio.Queue[Received] = asyncio.Queue()
        self.statuses: list[t.EmberStatus] = []
        self.tc_joins: list[tuple[int, t.EUI64, t.EmberDeviceUpdate, t.EmberJoinDecision]] = []
        self._status_q: asyncio.Queue[t.EmberStatus] = asyncio.Queue()
        self._sent: dict[int, asyncio.Future[t.EmberStatus]] = {}
        self._tag = 0
        self.ncp_failed = asyncio.Event()  # set when the NCP reset or failed under us
        self.ncp_failure: BaseException | None = None

    @property
    def api(self) -> EZSP:
        """The connected bellows EZSP object (raw commands: `await dev.api.getNodeId()`)."""
        if self.ezsp is None:
            raise RuntimeError("connect() first")
        return self.ezsp

    async def connect(self) -> None:
        """Open the NCP, reset it and negotiate the EZSP version (bellows does both)."""
        cfg = zigpy.config.SCHEMA_DEVICE({zigpy.config.CONF_DEVICE_PATH: self.path})
        self.ezsp = EZSP(cfg, application=self)
        await self.ezsp.connect(use_thread=False)
        self.ezsp.add_callback(self._callback)
        (self.eui64,) = await self.ezsp.getEui64()

    def connection_lost(self, exc: BaseException | None) -> None:
        """bellows: the NCP reset unexpectedly or the link failed (reconnect to go on)."""
        self.ncp_failure = exc
        self.ncp_failed.set()

    async def close(self) -> None:
        """Disconnect from the NCP (the NCP keeps its network in its tokens)."""
        if self.ezsp is not None:
            await self.ezsp.disconnect()
            self.ezsp = None

    def _callback(self, name: str, args: list[Any]) -> None:
        if name == "stackStatusHandler":
            status = t.EmberStatus(args[0])
            self.statuses.append(status)
            self._status_q.put_nowait(status)
        elif name == "incomingMessageHandler":
            kind, aps, _lqi, _rssi, sender, _bi, _ai, contents = args
            self.received.put_nowait(Received(
                kind, int(sender), int(aps.profileId), int(aps.clusterId),
                int(aps.sourceEndpoint), int(aps.destinationEndpoint), int(aps.sequence),
                bytes(contents)))
        elif name == "messageSentHandler":
            fut = self._sent.pop(int(args[3]), None)
            if fut is not None and not fut.done():
                fut.set_result(t.EmberStatus(args[4]))
        elif name == "trustCenterJoinHandler":
            self.tc_joins.append((int(args[0]), args[1], args[2], args[3]))

    async def _security(self, bitmask: t.EmberInitialSecurityBitmask, key: bytes,
                        network_key: bytes = bytes(16)) -> None:
        state = t.EmberInitialSecurityState(
            bitmask=bitmask, preconfiguredKey=t.KeyData(key), networkKey=t.KeyData(network_key),
            networkKeySequenceNumber=0, preconfiguredTrustCenterEui64=t.EUI64(bytes(8)))
        (status,) = await self.api.setInitialSecurityState(state)
        if status != t.EmberStatus.SUCCESS:
            raise JoinError(t.EmberStatus(status))

    async def _until_up(self, timeout: float) -> int:
        async with asyncio.timeout(timeout):
            while True:
                status = await self._status_q.get()
                if status in JOIN_OUTCOMES:
                    break
        if status != t.EmberStatus.NETWORK_UP:
            raise JoinError(status)
        (self.node_id,) = await self.api.getNodeId()
        return int(self.node_id)

    async def join(self, *, channel: int, pan_id: int, ext_pan_id: t.EUI64 | str | None = None,
                   node_type: str = "router", timeout: float = 30.0) -> int:
        """Join with our link key; returns our short address, raises JoinError on failure."""
        await self._security(Bits.HAVE_PRECONFIGURED_KEY | Bits.REQUIRE_ENCRYPTED_KEY,
                             self.link_key)
        params = _params(channel, pan_id, ext_pan_id)
        self._drain()
        (status,) = await self.api.joinNetwork(NODE_TYPES[node_type], params)
        if status != t.EmberStatus.SUCCESS:
            raise JoinError(t.EmberStatus(status))
        return await self._until_up(timeout)

    async def rejoin_from_tokens(self, timeout: float = 10.0) -> int:
        """networkInit: bring the network in the NCP's tokens back up (after a reset)."""
        self._drain()
        (status,) = await self.api.networkInit(t.EmberNetworkInitBitmask.NETWORK_INIT_NO_OPTIONS)
        if status != t.EmberStatus.SUCCESS:
            raise JoinError(t.EmberStatus(status))
        return await self._until_up(timeout)

    def _drain(self) -> None:
        while not self._status_q.empty():
            self._status_q.get_nowait()

    async def form(self, *, channel: int, pan_id: int, ext_pan_id: t.EUI64 | str,
                   install_code_only: bool = True, permit_s: int = 0xFF) -> None:
        """Form a network as coordinator and trust centre (what the hub does) and open it."""
        await self._security(Bits.HAVE_PRECONFIGURED_KEY | Bits.HAVE_NETWORK_KEY
                             | Bits.TRUST_CENTER_GLOBAL_LINK_KEY | Bits.REQUIRE_ENCRYPTED_KEY,
                             WELL_KNOWN_KEY, os.urandom(16))
        policy = t.EzspDecisionBitmask.ALLOW_JOINS
        if install_code_only:
            policy |= t.EzspDecisionBitmask.JOINS_USE_INSTALL_CODE_KEY
        await self.api.setPolicy(t.EzspPolicyId.TRUST_CENTER_POLICY, policy)
        await self.api.formNetwork(_params(channel, pan_id, ext_pan_id))  # waits NETWORK_UP
        (self.node_id,) = await self.api.getNodeId()
        await self.permit(permit_s)

    async def permit(self, seconds: int) -> None:
        """Open (0xFF: for good) or close (0) joining at this node."""
        (status,) = await self.api.permitJoining(seconds)
        if status != t.EmberStatus.SUCCESS:
            raise RuntimeError(f"permitJoining: {t.EmberStatus(status).name}")

    async def hash_install_code(self, code: bytes) -> bytes:
        """The install-code link key (code with or without CRC), hashed by the NCP (aesMmoHash)."""
        ctx = t.EmberAesMmoHashContext.deserialize(bytes(20))[0]
        status, out = await self.api.aesMmoHash(context=ctx, finalize=True,
                                                data=normalise_install_code(code))
        if status != t.EmberStatus.SUCCESS:
            raise ValueError(f"aesMmoHash: {t.EmberStatus(status).name}")
        return bytes(out.result)

    async def allow(self, eui64: t.EUI64, code: bytes) -> None:
        """As trust centre: accept `eui64` with the key of its install code (transient key)."""
        key = t.KeyData(await self.hash_install_code(code))
        if "importTransientKey" in self.api._protocol.COMMANDS:
            (status,) = await self.api.importTransientKey(
                eui64=eui64, plaintext_key=key, flags=t.SecurityManagerContextFlags.NONE)
        else:
            (status,) = await self.api.addTransientLinkKey(eui64, key)
        if int(status) != 0:
            raise RuntimeError(f"transient key for {eui64}: status {status!r}")

    async def remove(self, eui64: t.EUI64, parent_id: int = 0x0000,
                     parent_eui: t.EUI64 | None = None) -> None:
        """As trust centre: make a device leave (removeDevice)."""
        (status,) = await self.api.removeDevice(parent_id, parent_eui or eui64, eui64)
        if status != t.EmberStatus.SUCCESS:
            raise RuntimeError(f"removeDevice: {t.EmberStatus(status).name}")

    def _aps(self, profile: int, cluster: int, src_ep: int, dst_ep: int,
             aps_ack: bool) -> t.EmberApsFrame:
        options = t.EmberApsOption.APS_OPTION_ENABLE_ROUTE_DISCOVERY
        if aps_ack:
            options |= t.EmberApsOption.APS_OPTION_RETRY
        return t.EmberApsFrame(profileId=profile, clusterId=cluster, sourceEndpoint=src_ep,
                               destinationEndpoint=dst_ep, options=options, groupId=0, sequence=0)

    def _next_tag(self) -> tuple[int, asyncio.Future[t.EmberStatus]]:
        self._tag = (self._tag + 1) & 0xFF
        fut = asyncio.get_running_loop().create_future()
        self._sent[self._tag] = fut
        return self._tag, fut

    async def send_unicast(self, nwk: int, payload: bytes, *, cluster: int,
                           profile: int = SE_PROFILE, src_ep: int = 1, dst_ep: int = 1,
                           aps_ack: bool = True, timeout: float = 60.0) -> t.EmberStatus:
        """Send an APS unicast; returns messageSentHandler's status (or sendUnicast's error)."""
        tag, fut = self._next_tag()
        status, _seq = await self.api.sendUnicast(
            t.EmberOutgoingMessageType.OUTGOING_DIRECT, nwk,
            self._aps(profile, cluster, src_ep, dst_ep, aps_ack), tag, payload)
        if status != t.EmberStatus.SUCCESS:
            self._sent.pop(tag, None)
            return t.EmberStatus(status)
        async with asyncio.timeout(timeout):
            return await fut

    async def send_broadcast(self, payload: bytes, *, cluster: int, dest: int = 0xFFFF,
                             profile: int = SE_PROFILE, src_ep: int = 1, dst_ep: int = 0xFF,
                             radius: int = 0, timeout: float = 30.0) -> t.EmberStatus:
        """Broadcast an APS frame; returns messageSentHandler's status (or sendBroadcast's error)."""
        tag, fut = self._next_tag()
        status, _seq = await self.api.sendBroadcast(
            dest, self._aps(profile, cluster, src_ep, dst_ep, False), radius, tag, payload)
        if status != t.EmberStatus.SUCCESS:
            self._sent.pop(tag, None)
            return t.EmberStatus(status)
        async with asyncio.timeout(timeout):
            return await fut

    async def receive(self, timeout: float = 10.0, *, cluster: int | None = None) -> Received:
        """The next APS frame received (of `cluster`, if given; others are skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.received.get()
                if cluster is None or msg.cluster == cluster:
                    return msg

    async def poll(self) -> t.EmberStatus:
        """One data poll of our parent (sleepy end devices); pollCompleteHandler's status."""
        return await self._poll_for_data(0, t.EmberEventUnits.EVENT_INACTIVE)

    async def start_polling(self, period_s: float) -> t.EmberStatus:
        """Poll every `period_s` (quarter-second units) from now on; the first poll's status."""
        return await self._poll_for_data(max(1, round(period_s * 4)),
                                         t.EmberEventUnits.EVENT_QS_TIME)

    async def _poll_for_data(self, interval: int, units: t.EmberEventUnits) -> t.EmberStatus:
        # bellows' pollForData waits for pollCompleteHandler itself and raises a bare
        # Exception([status]) when that (or the command) is not SUCCESS.
        try:
            await self.api.pollForData(interval, units, 0)
        except Exception as exc:  # noqa: BLE001  (bellows raises Exception itself)
            if exc.args and isinstance(exc.args[0], list) and exc.args[0]:
                return t.EmberStatus(exc.args[0][0])
            raise
        return t.EmberStatus.SUCCESS

    async def leave(self, timeout: float = 10.0) -> None:
        """Leave the network (leaveNetwork, then NETWORK_DOWN)."""
        await self.api.leaveNetwork(timeout=timeout)
        self.node_id = None


def _params(channel: int, pan_id: int,
            ext_pan_id: t.EUI64 | str | None) -> t.EmberNetworkParameters:
    if ext_pan_id is None:
        ext = t.ExtendedPanId(bytes(8))
    elif isinstance(ext_pan_id, str):
        ext = t.ExtendedPanId.convert(ext_pan_id)
    else:
        ext = t.ExtendedPanId(ext_pan_id)
    return t.EmberNetworkParameters(
        extendedPanId=ext, panId=t.EmberPanId(pan_id), radioTxPower=8, radioChannel=channel,
        joinMethod=t.EmberJoinMethod.USE_MAC_ASSOCIATION, nwkManagerId=t.EmberNodeId(0),
        nwkUpdateId=0, channels=t.Channels.from_channel_list([channel]))
