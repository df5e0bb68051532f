"""The HAN device runtime: a Zigbee node on bellows' raw EZSP serving ZCL.

`HanDevice` joins with its install code through `BellowsDevice` (any NCP:
virtual air or a real dongle), then runs a receive loop that answers ZCL:
Read Attributes from its attribute tables, Configure Reporting (periodic
reports at the maximum interval, in simulated time), cluster-specific commands
through per-model handlers, and Default Responses as the ZCL spec asks.
`exchange()` sends a request and waits for its answer; a sleepy device polls
its parent while it waits (it only hears anything when it polls).

Models (esme, gsme, ppmid) subclass it; docs/HAN_DEVICES.md describes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import bellows.types as bt
from cryptography.hazmat.primitives.asymmetric import ec
from zigpy.zcl import Cluster
from zigpy.zcl.clusters.general import Basic

from commshub.han import zcl
from commshub.han.clock import SimClock
from commshub.han.scan import find_network
from commshub.radio.device import SE_PROFILE, BellowsDevice, JoinError, Received

if TYPE_CHECKING:
    from commshub.han.ota import OtaClient

LOG = logging.getLogger(__name__)
HUB_NWK = 0x0000
ENDPOINT = 1
FAST_POLL_S = 0.25  # a sleepy device's poll period while it waits for an answer (real seconds)

Handler = Callable[[zcl.Frame, Received], Awaitable[bytes | None]]


def version_text(file_version: int) -> str:
    """A 32-bit file version as MAJOR.MINOR.PATCH[.BUILD] (docs/IMAGES.md's encoding)."""
    parts = [file_version >> 24 & 0xFF, file_version >> 16 & 0xFF, file_version >> 8 & 0xFF]
    text = ".".join(str(p) for p in parts)
    return text if file_version & 0xFF == 0 else f"{text}.{file_version & 0xFF}"


@dataclasses.dataclass
class Identity:
    """Who a device says it is (Basic cluster) and which firmware images are its own (OTA)."""

    manufacturer: str = "commshub"
    model: str = "emulated"
    manufacturer_code: int = 0x1234
    image_type: int = 0x0000
    file_version: int = 0x01000000  # 1.0.0
    power_source: int = 0x01  # Basic PowerSource: 1 mains (single phase), 3 battery


@dataclasses.dataclass
class Network:
    """Where to join: the hub's channel, PAN ID and extended PAN ID (its EUI-64).
    Channel or PAN ID None: found by an active scan (commshub.han.scan)."""

    channel: int | None = None
    pan_id: int | None = None
    ext_pan_id: str | None = None


def _same_network(network: Network, params: bt.EmberNetworkParameters) -> bool:
    """Whether the NCP's network is the one we were told to be on (None: any)."""
    if network.pan_id is not None and network.pan_id != int(params.panId):
        return False
    if network.channel is not None and network.channel != int(params.radioChannel):
        return False
    return network.ext_pan_id is None or \
        bt.ExtendedPanId.convert(network.ext_pan_id) == params.extendedPanId


class HanDevice:
    """A HAN node: join, serve ZCL, talk to the hub (see the module docstring)."""

    kind = "device"
    node_type = "router"

    def __init__(self, path: str, *, install_code: bytes | None, identity: Identity | None = None,
                 clock: SimClock | None = None, hub_nwk: int = HUB_NWK,
                 trusted_key: ec.EllipticCurvePublicKey | None = None) -> None:
        self.radio = BellowsDevice(path, install_code=install_code)
        self.identity = identity or Identity()
        self.clock = clock or SimClock()
        self.hub_nwk = hub_nwk
        self.servers: dict[int, zcl.AttributeStore] = {}
        self.handlers: dict[tuple[int, str], Handler] = {}
        self._expect: list[tuple[int, Callable[[zcl.Frame], bool], asyncio.Future[zcl.Frame]]] = []
        self._reports: dict[tuple[int, int], float] = {}  # (cluster, attr) -> max interval (sim s)
        self._tsn = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self.log: list[str] = []  # what happened, for people and tests
        self.ota: OtaClient | None = None
        if trusted_key is not None:
            from commshub.han.ota import OtaClient  # noqa: PLC0415  (ota imports this module)
            self.ota = OtaClient(self, trusted_key)
        basic = self.server(Basic)
        basic.set("zcl_version", 8)
        basic.set("manufacturer", lambda: self.identity.manufacturer)
        basic.set("model", lambda: self.identity.model)
        basic.set("power_source", lambda: self.identity.power_source)
        basic.set("sw_build_id", lambda: version_text(self.identity.file_version))

    # -- set-up ---------------------------------------------------------------------
    def server(self, cluster: type[Cluster]) -> zcl.AttributeStore:
        """The attribute table of a server cluster we host (created on first use)."""
        return self.servers.setdefault(int(cluster.cluster_id), zcl.AttributeStore(cluster))

    def on(self, cluster: type[Cluster], name: str, handler: Handler) -> None:
        """Handle cluster-specific command `name` received on `cluster`."""
        self.handlers[(int(cluster.cluster_id), name)] = handler

    def note(self, text: str) -> None:
        self.log.append(text)
        LOG.info("%s %s: %s", self.kind, self.radio.eui64, text)

    @property
    def sleepy(self) -> bool:
        return self.node_type == "sleepy"

    async def start(self, network: Network, join_timeout: float = 60.0) -> int:
        """Connect to the NCP, join (or resume from the NCP's tokens), serve; our short address."""
        await self.radio.connect()
        self.spawn(self._rx_loop())
        nwk = await self._resume(network)
        if nwk is None:
            if network.channel is None or network.pan_id is None:
                channel, pan_id, ext = await find_network(self.radio.api, network.ext_pan_id)
                self.note(f"found network {ext} on channel {channel}, PAN {pan_id:#06x}")
                network = Network(channel, pan_id, ext)
            nwk = await self.radio.join(channel=network.channel, pan_id=network.pan_id,
                                        ext_pan_id=network.ext_pan_id, node_type=self.node_type,
                                        timeout=join_timeout)
            self.note(f"joined as {nwk:#06x}")
        self.spawn(self._report_loop())
        await self.on_joined()
        return nwk

    async def _resume(self, network: Network) -> int | None:
        """After a restart (power cut): bring back the network the NCP keeps in its tokens, as a
        meter does, if it is the one we are told to be on; our short address, or None."""
        (state,) = await self.radio.api.networkState()
        if state == bt.EmberNetworkStatus.JOINED_NETWORK:  # the NCP kept running without us
            (node_id,) = await self.radio.api.getNodeId()
            self.radio.node_id = nwk = int(node_id)
        else:
            try:
                nwk = await self.radio.rejoin_from_tokens()
            except (JoinError, TimeoutError):
                return None
        _status, _type, params = await self.radio.api.getNetworkParameters()
        if not _same_network(network, params):
            self.note(f"NCP was on PAN {int(params.panId):#06x}: leaving it")
            await self.radio.leave()
            return None
        self.note(f"resumed as {nwk:#06x}")
        return nwk

    async def on_joined(self) -> None:
        """Models start their own activity here (wake schedule, display refresh...)."""

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        """A background task stopped with the device (forgotten once it is done)."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def every(self, interval_s: float, step: Callable[[], Awaitable[Any]]) -> None:
        """Run `step` now and then every `interval_s` simulated seconds while the device runs;
        a step that times out or cannot reach the hub is noted and retried next time."""
        async def loop() -> None:
            while True:
                try:
                    await step()
                except (TimeoutError, ConnectionError) as exc:
                    self.note(f"{getattr(step, '__name__', 'step')}: {exc!r}")
                await self.clock.sleep(interval_s)
        self.spawn(loop())

    async def stop(self) -> None:
        """Stop serving and disconnect from the NCP (the NCP keeps its network)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.radio.close()

    # -- sending ----------------------------------------------------------------------
    def next_tsn(self) -> int:
        self._tsn = (self._tsn + 1) & 0xFF
        return self._tsn

    async def send(self, cluster: int, frame: bytes, *, dst: int | None = None,
                   dst_ep: int = ENDPOINT) -> bt.EmberStatus:
        """Send one ZCL frame (APS-acked) to `dst` (the hub by default)."""
        sending = asyncio.ensure_future(self.radio.send_unicast(
            self.hub_nwk if dst is None else dst, frame, cluster=cluster, src_ep=ENDPOINT,
            dst_ep=dst_ep))
        # A sleepy device hears the APS ack only by polling for it.
        while self.sleepy and not sending.done():
            await asyncio.wait([sending], timeout=FAST_POLL_S)
            if not sending.done():
                await self.radio.poll()
        status = await sending
        if status != bt.EmberStatus.SUCCESS:
            self.note(f"send on {cluster:#06x} failed: {status.name}")
        return status

    async def exchange(self, cluster: int, frame: bytes, *, dst: int | None = None,
                       timeout: float = 10.0) -> zcl.Frame:
        """Send a request and return its answer (same TSN, other direction); TimeoutError if none."""
        sent = zcl.parse(cluster, frame)
        return await self.request(cluster, frame, lambda f: f.tsn == sent.tsn
                                  and f.to_server != sent.to_server, dst=dst, timeout=timeout)

    async def request(self, cluster: int, frame: bytes, match: Callable[[zcl.Frame], bool], *,
                      dst: int | None = None, timeout: float = 10.0) -> zcl.Frame:
        """Send `frame` and return the first frame on `cluster` that `match`es.

        A sleepy device polls its parent every FAST_POLL_S while it waits (it hears
        nothing otherwise)."""
        fut: asyncio.Future[zcl.Frame] = asyncio.get_running_loop().create_future()
        entry = (cluster, match, fut)
        self._expect.append(entry)
        try:
            status = await self.send(cluster, frame, dst=dst)
            if status != bt.EmberStatus.SUCCESS:
                raise ConnectionError(f"request on {cluster:#06x} not delivered: {status.name}")
            async with asyncio.timeout(timeout):
                while self.sleepy and not fut.done():
                    await self.radio.poll()
                    await asyncio.wait([fut], timeout=FAST_POLL_S)
                return await fut
        finally:
            self._expect.remove(entry)

    # -- receiving --------------------------------------------------------------------
    async def _rx_loop(self) -> None:
        while True:
            msg = await self.radio.received.get()
            if msg.profile != SE_PROFILE or msg.kind not in (
                    bt.EmberIncomingMessageType.INCOMING_UNICAST,
                    bt.EmberIncomingMessageType.INCOMING_BROADCAST):
                continue  # ZDO and other profiles: the NCP's stack answers what it must
            try:
                await self._dispatch(msg)
            except Exception as exc:  # noqa: BLE001  one bad frame must not stop the device
                self.note(f"error handling a frame on {msg.cluster:#06x}: {exc!r}")

    async def _dispatch(self, msg: Received) -> None:
        try:
            frame = zcl.parse(msg.cluster, msg.payload)
        except zcl.ZclError as exc:
            self.note(f"unparsed frame on {msg.cluster:#06x}: {exc}")
            await self._answer_unparsed(msg)
            return
        for cluster, match, fut in self._expect:
            if cluster == msg.cluster and not fut.done() and match(frame):
                fut.set_result(frame)
                return
        # Requests are handled in their own task: a handler may itself wait for frames
        # (a proxy waiting for the meter's answer) that only this loop can deliver.
        self.spawn(self._answer(frame, msg))

    async def _answer(self, frame: zcl.Frame, msg: Received) -> None:
        try:
            answer = await self._handle(frame, msg)
            if answer is not None and msg.kind == bt.EmberIncomingMessageType.INCOMING_UNICAST:
                await self.send(msg.cluster, answer, dst=msg.sender, dst_ep=msg.src_ep)
        except Exception as exc:  # noqa: BLE001  one bad request must not stop the device
            self.note(f"error answering {frame.name} on {msg.cluster:#06x}: {exc!r}")

    async def _answer_unparsed(self, msg: Received) -> None:
        # A frame whose header parsed but whose command we do not know gets the ZCL status.
        try:
            hdr, _ = zcl.f.ZCLHeader.deserialize(msg.payload)
        except ValueError:
            return
        frame = zcl.Frame(msg.cluster, hdr, "?", None)
        if frame.wants_default_response and msg.kind == bt.EmberIncomingMessageType.INCOMING_UNICAST:
            status = (zcl.Status.UNSUP_GENERAL_COMMAND if frame.general else
                      zcl.Status.UNSUP_CLUSTER_COMMAND if msg.cluster in self.servers
                      or any(c == msg.cluster for c, _ in self.handlers) else zcl.Status.UNSUPPORTED_CLUSTER)
            await self.send(msg.cluster, zcl.default_response(frame, status), dst=msg.sender,
                            dst_ep=msg.src_ep)

    async def _handle(self, frame: zcl.Frame, msg: Received) -> bytes | None:
        """The answer to a request we received (None: nothing to send)."""
        store = self.servers.get(msg.cluster)
        if frame.general:
            if frame.name == "Read_Attributes" and store is not None:
                return store.read_response(frame)
            if frame.name == "Configure_Reporting" and store is not None:
                return self._configure_reporting(frame, store)
            if frame.name in ("Default_Response", "Read_Attributes_rsp", "Report_Attributes",
                              "Configure_Reporting_rsp"):
                return None
            status = zcl.Status.UNSUPPORTED_CLUSTER if store is None else zcl.Status.UNSUP_GENERAL_COMMAND
        else:
            handler = self.handlers.get((msg.cluster, frame.name))
            if handler is not None:
                answer = await handler(frame, msg)
                if answer is not None:
                    return answer
                status = zcl.Status.SUCCESS
            elif store is None and not any(c == msg.cluster for c, _ in self.handlers):
                status = zcl.Status.UNSUPPORTED_CLUSTER
            else:
                status = zcl.Status.UNSUP_CLUSTER_COMMAND
        return zcl.default_response(frame, status) if frame.wants_default_response else None

    # -- reporting --------------------------------------------------------------------
    def _configure_reporting(self, frame: zcl.Frame, store: zcl.AttributeStore) -> bytes:
        records = []
        for cfg in frame.args.config_records:
            attr = int(cfg.attrid)
            if attr not in store.ids():
                status = zcl.Status.UNSUPPORTED_ATTRIBUTE
            elif int(cfg.direction) != 0:
                status = zcl.Status.UNREPORTABLE_ATTRIBUTE
            else:
                status = zcl.Status.SUCCESS
                if int(cfg.max_interval) in (0, 0xFFFF):
                    self._reports.pop((frame.cluster_id, attr), None)  # reporting off
                else:
                    self._reports[(frame.cluster_id, attr)] = float(cfg.max_interval)
            records.append(zcl.f.ConfigureReportingResponseRecord(
                status=status, direction=cfg.direction, attrid=attr))
        if all(r.status == zcl.Status.SUCCESS for r in records):
            records = [zcl.f.ConfigureReportingResponseRecord(status=zcl.Status.SUCCESS)]
        return zcl.general(zcl.GeneralCommand.Configure_Reporting_rsp, frame.tsn, to_server=False,
                           disable_default_response=True, status_records=records)

    async def _report_loop(self) -> None:
        """Report configured attributes to the hub at their maximum interval (simulated time).

        Sleepy devices report on waking instead (their models call `send_reports`)."""
        due: dict[tuple[int, int], float] = {}
        while True:
            await asyncio.sleep(0.1)
            if self.sleepy:
                continue
            now = self.clock.now()
            for key, interval in list(self._reports.items()):
                if due.setdefault(key, now + interval) <= now:
                    due[key] = now + interval
                    await self.send_reports(key[0], [key[1]])

    async def send_reports(self, cluster: int, attr_ids: list[int]) -> bt.EmberStatus:
        """Report Attributes to the hub."""
        store = self.servers[cluster]
        frame = zcl.general(zcl.GeneralCommand.Report_Attributes, self.next_tsn(), to_server=False,
                            disable_default_response=True, attribute_reports=store.report(attr_ids))
        return await self.send(cluster, frame)
