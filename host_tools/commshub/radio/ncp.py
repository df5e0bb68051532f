"""A virtual EZSP NCP (EmberZNet-like coordinator radio) over ASH, on TCP.

Frames are built and parsed with bellows' command schemas for the configured
protocol version (`bellows.ezsp.EZSP._BY_VERSION[v].COMMANDS`: name ->
(id, request schema, response schema)). Startup as bellows does it: RST ->
RSTACK, `version` in the legacy frame `[seq, fc, id8]`, answered in the
legacy frame with our version; then everything in the extended frame
`[seq, fc_lo, fc_hi, id_lo, id_hi]`. Commands without a handler are answered
with `invalidCommand` (0x0058) so the host fails fast instead of timing out.
Network state (EUI-64, config, formed network) lives in the `VirtualNcp` and
survives reconnects and resets; the link and the negotiated frame format are
per connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import dataclasses
import logging
from typing import Any

from bellows.ezsp import EZSP
import bellows.types as t

from commshub.radio.ash_ncp import AshNcpLink

LOGGER = logging.getLogger(__name__)

SUPPORTED_VERSIONS = range(8, 14)
# EZSP frame control (low byte) of what the NCP sends.
FC_RESPONSE = 0x80
FC_ASYNC_CALLBACK = 0x90
FC_HIGH_EXTENDED = 0x01  # frame format version 1
STACK_TYPE_MESH = 2
# EmberZNet release per EZSP version, one nibble per digit (major.minor.patch.special).
STACK_VERSIONS = {8: 0x6A30, 9: 0x7000, 10: 0x7100, 11: 0x7200, 12: 0x7300, 13: 0x7440}
DEFAULT_EUI64 = t.EUI64.convert("00:0d:6f:00:00:c0:ff:ee")

Handler = Callable[["VirtualNcp", dict[str, Any] | None, bytes], dict[str, Any] | None]
_HANDLERS: dict[str, Handler] = {}


def handles(*names: str) -> Callable[[Handler], Handler]:
    """Register a handler for the named EZSP commands."""

    def register(fn: Handler) -> Handler:
        for name in names:
            _HANDLERS[name] = fn
        return fn

    return register


@dataclasses.dataclass
class NetworkState:
    """What the NCP's tokens would hold about the network it is on."""

    parameters: t.EmberNetworkParameters
    node_type: t.EmberNodeType = t.EmberNodeType.COORDINATOR
    node_id: int = 0x0000


class VirtualNcp:
    """An EZSP NCP answering a host (bellows, zigpy) over ASH on TCP."""

    def __init__(
        self,
        *,
        eui64: t.EUI64 | str = DEFAULT_EUI64,
        protocol_version: int = 8,
        startup_rstack_delay: float | None = None,
        t_rx_ack: float = 1.6,
    ) -> None:
        """`startup_rstack_delay`: send an unsolicited RSTACK that long after a
        host connects (zigbeed does; bellows on `socket://` then skips its own
        reset and the 2 s wait for it). None: wait for the host's RST, like a
        USB dongle."""
        if protocol_version not in SUPPORTED_VERSIONS:
            raise ValueError(f"EZSP v{protocol_version} not supported (8 to 13)")
        self.eui64 = t.EUI64.convert(eui64) if isinstance(eui64, str) else eui64
        self.protocol_version = protocol_version
        self.startup_rstack_delay = startup_rstack_delay
        self.t_rx_ack = t_rx_ack
        cmds = EZSP._BY_VERSION[protocol_version].COMMANDS
        self.commands: dict[str, tuple[int, Any, Any]] = cmds
        self.by_id: dict[int, str] = {cid: name for name, (cid, _, _) in cmds.items()}
        self.config: dict[int, int] = {}
        self.policies: dict[int, int] = {}
        self.values: dict[int, bytes] = {}
        self.endpoints: dict[int, bytes] = {}
        self.security_state: t.EmberInitialSecurityState | None = None
        self.network: NetworkState | None = None
        self.permit_joining_s = 0
        self.received: list[str] = []  # command names, in order (tests, debugging)
        self.unhandled: list[str] = []
        self._link: AshNcpLink | None = None
        self._last_seq = 0
        self._callbacks: list[bytes] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- transport ------------------------------------------------------------

    async def serve_tcp(self, host: str = "127.0.0.1", port: int = 0) -> asyncio.Server:
        """Listen for a host on TCP (`socket://host:port` in bellows); port 0 picks one."""
        self._server = await asyncio.start_server(self._connection, host, port)
        return self._server

    @property
    def port(self) -> int:
        """The TCP port `serve_tcp` listens on."""
        assert self._server is not None, "serve_tcp() first"
        return self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening and drop the current host."""
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2.0)
        if self._server is not None:
            await self._server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._link is not None:  # one host at a time: the newest wins
            self._link.close()
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        link = AshNcpLink(reader, writer, self._on_frame, t_rx_ack=self.t_rx_ack)
        self._link = link
        if self.startup_rstack_delay is not None:
            loop = asyncio.get_running_loop()
            loop.call_later(self.startup_rstack_delay, link.send_rstack)
        try:
            await link.run()
        except asyncio.CancelledError:
            pass  # close(): the handler ends quietly
        finally:
            self._tasks.discard(task)
            if self._link is link:
                self._link = None
            writer.close()

    # -- EZSP -----------------------------------------------------------------

    def _on_frame(self, data: bytes) -> None:
        assert self._link is not None
        for out in self.handle_frame(data):
            self._link.send(out)

    def handle_frame(self, data: bytes) -> list[bytes]:
        """Answer one host EZSP frame: the response, then any callbacks."""
        if len(data) == 4 and data[2] == 0x00:  # legacy `version` [seq, fc, 0x00, v]
            seq = data[0]
            self._last_seq = seq
            self.received.append("version")
            body = self._version_body()
            return [bytes([seq, FC_RESPONSE, 0x00]) + body]
        if len(data) < 5 or data[2] != FC_HIGH_EXTENDED:
            LOGGER.warning("unparseable EZSP frame %s", data.hex())
            return []
        seq, frame_id, payload = data[0], int.from_bytes(data[3:5], "little"), data[5:]
        self._last_seq = seq
        name = self.by_id.get(frame_id, f"0x{frame_id:04X}")
        self.received.append(name)
        handler = _HANDLERS.get(name)
        if handler is None:
            LOGGER.info("no handler for %s: invalidCommand", name)
            self.unhandled.append(name)
            return [self._frame(seq, FC_RESPONSE, "invalidCommand",
                                {"status": t.EzspStatus.ERROR_INVALID_FRAME_ID})]
        _, req_schema, _ = self.commands[name]
        try:
            args, _rest = t.deserialize_dict(payload, req_schema)
        except (ValueError, KeyError):
            args = None  # e.g. AnonymousList fields: the handler reads `payload`
        self._callbacks = []
        try:
            values = handler(self, args, payload) or {}
            return [self._frame(seq, FC_RESPONSE, name, values), *self._callbacks]
        except Exception:  # a handler bug must cost the host an error, not a timeout
            LOGGER.exception("handler for %s failed: invalidCommand", name)
            self.unhandled.append(name)
            return [self._frame(seq, FC_RESPONSE, "invalidCommand",
                                {"status": t.EzspStatus.ERROR_INVALID_FRAME_ID})]

    def _version_body(self) -> bytes:
        v = self.protocol_version
        return bytes([v, STACK_TYPE_MESH]) + STACK_VERSIONS[v].to_bytes(2, "little")

    def _frame(self, seq: int, fc: int, name: str, values: dict[str, Any]) -> bytes:
        frame_id, _, rsp_schema = self.commands[name]
        body = t.serialize_dict([], values, rsp_schema)
        return bytes([seq, fc, FC_HIGH_EXTENDED]) + frame_id.to_bytes(2, "little") + body

    def callback(self, name: str, **values: Any) -> None:
        """Queue a callback after the response being built (from a handler)."""
        self._callbacks.append(self._frame(self._last_seq, FC_ASYNC_CALLBACK, name, values))

    def send_callback(self, name: str, **values: Any) -> None:
        """Send an asynchronous callback now (outside a command), if a host is connected."""
        if self._link is not None:
            self._link.send(self._frame(self._last_seq, FC_ASYNC_CALLBACK, name, values))


# -- handlers -----------------------------------------------------------------
# Each gets (ncp, parsed request or None, raw request payload) and returns the
# response fields by name; `ncp.callback(...)` queues callbacks after it.

OK = t.EmberStatus.SUCCESS
EZSP_OK = t.EzspStatus.SUCCESS
DEFAULT_CONFIG: dict[int, int] = {
    t.EzspConfigId.CONFIG_KEY_TABLE_SIZE: 4,
    t.EzspConfigId.CONFIG_ADDRESS_TABLE_SIZE: 8,
    t.EzspConfigId.CONFIG_MAX_END_DEVICE_CHILDREN: 32,
    t.EzspConfigId.CONFIG_STACK_PROFILE: 2,
    t.EzspConfigId.CONFIG_SECURITY_LEVEL: 5,
    t.EzspConfigId.CONFIG_PACKET_BUFFER_COUNT: 255,
}


@handles("version")
def _version(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    return {
        "protocolVersion": ncp.protocol_version,
        "stackType": STACK_TYPE_MESH,
        "stackVersion": STACK_VERSIONS[ncp.protocol_version],
    }


@handles("nop")
def _nop(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> None:
    return None


@handles("getEui64")
def _eui64(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    return {"eui64": ncp.eui64}


@handles("getNodeId")
def _node_id(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    return {"nodeId": ncp.network.node_id if ncp.network else 0xFFFE}


@handles("getConfigurationValue")
def _get_config(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    cid = int(args["configId"])
    return {"status": EZSP_OK, "value": ncp.config.get(cid, DEFAULT_CONFIG.get(cid, 0))}


@handles("setConfigurationValue")
def _set_config(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    ncp.config[int(args["configId"])] = int(args["value"])
    return {"status": EZSP_OK}


@handles("setPolicy")
def _set_policy(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    ncp.policies[int(args["policyId"])] = int(args["decisionId"])
    return {"status": EZSP_OK}


@handles("getValue")
def _get_value(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    vid = int(args["valueId"])
    if vid == t.EzspValueId.VALUE_VERSION_INFO:
        ver = STACK_VERSIONS[ncp.protocol_version]
        digits = [(ver >> s) & 0xF for s in (12, 8, 4, 0)]
        # build (u16), major, minor, patch, special, type (GA = 0xAA)
        value = bytes([0, 0, *digits, 0xAA])
    elif vid in ncp.values:
        value = ncp.values[vid]
    else:
        return {"status": t.EzspStatus.ERROR_INVALID_ID, "value": b""}
    return {"status": EZSP_OK, "value": value}


@handles("setValue")
def _set_value(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    ncp.values[int(args["valueId"])] = bytes(args["value"])
    return {"status": EZSP_OK}


@handles("networkState")
def _network_state(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    joined = t.EmberNetworkStatus.JOINED_NETWORK
    return {"status": joined if ncp.network else t.EmberNetworkStatus.NO_NETWORK}


@handles("networkInit")
def _network_init(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    if ncp.network is None:
        return {"status": t.EmberStatus.NOT_JOINED}
    ncp.callback("stackStatusHandler", status=t.EmberStatus.NETWORK_UP)
    return {"status": OK}


@handles("getNetworkParameters")
def _network_params(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    if ncp.network is None:
        return {
            "status": t.EmberStatus.NOT_JOINED,
            "nodeType": t.EmberNodeType.UNKNOWN_DEVICE,
            "parameters": t.EmberNetworkParameters.deserialize(bytes(20))[0],
        }
    return {"status": OK, "nodeType": ncp.network.node_type, "parameters": ncp.network.parameters}


@handles("addEndpoint")
def _add_endpoint(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    # The cluster lists are AnonymousLists: keep the raw descriptor.
    ncp.endpoints[raw[0]] = bytes(raw)
    return {"status": EZSP_OK}


@handles("setInitialSecurityState")
def _security(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    ncp.security_state = args["state"]
    return {"status": OK}


@handles("formNetwork")
def _form(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    if ncp.network is not None:
        return {"status": t.EmberStatus.INVALID_CALL}
    ncp.network = NetworkState(parameters=args["parameters"])
    ncp.callback("stackStatusHandler", status=t.EmberStatus.NETWORK_UP)
    return {"status": OK}


@handles("permitJoining")
def _permit(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    if ncp.network is None:
        return {"status": t.EmberStatus.INVALID_CALL}
    ncp.permit_joining_s = int(args["duration"])
    return {"status": OK}


@handles("customFrame")
def _custom(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    # No XNCP extensions: bellows reads a non-OK status as "no features".
    return {"status": t.EmberStatus.INVALID_CALL, "reply": b""}


# The coordinator-startup handlers register themselves on import.
from commshub.radio import coordinator as _coordinator  # noqa: E402,F401  (after `handles`)
