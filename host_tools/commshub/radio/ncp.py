"""A virtual EZSP NCP (an EmberZNet-like radio) over ASH, on TCP, a file descriptor or a pty.

Frames are built and parsed with bellows' command schemas for the configured
protocol version (`bellows.ezsp.EZSP._BY_VERSION[v].COMMANDS`: name ->
(id, request schema, response schema)). Startup as bellows does it: RST ->
RSTACK, `version` in the legacy frame `[seq, fc, id8]`, answered in the
legacy frame with our version; then everything in the extended frame
`[seq, fc_lo, fc_hi, id_lo, id_hi]`. Commands without a handler are answered
with `invalidCommand` (0x0058) so the host fails fast instead of timing out.

State is split as on a real NCP: `tokens` (the network it formed or joined,
its keys; the TC's device key table) survive resets, everything else is RAM
and is lost when the host sends RST or `reset_ncp()` reboots it; after a
reboot the network is down until the host calls `networkInit`. The NCP is a
radio on a `VirtualAir` (its own private air if none is given); the command
handlers live in `network`, `security`, `messaging`, `basics` and (A2's)
`coordinator`, registered with `handles`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import dataclasses
import logging
import os
from typing import TYPE_CHECKING, Any

from bellows.ezsp import EZSP
import bellows.types as t

from commshub.radio.ash_ncp import AshNcpLink, UartFaults
from commshub.radio.transport import FdStream, PacedLine, open_pty_pair

if TYPE_CHECKING:
    from commshub.radio.air import VirtualAir

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
# Called with the NCP at every boot (power-on, host RST, reset_ncp), after RAM is cleared:
# handler modules that keep per-boot state (counters, ...) start it here.
BOOT_HOOKS: list[Callable[["VirtualNcp"], None]] = []
LEGACY_INVALID_COMMAND = 0x58


def handles(*names: str) -> Callable[[Handler], Handler]:
    """Register a handler for the named EZSP commands."""

    def register(fn: Handler) -> Handler:
        for name in names:
            _HANDLERS[name] = fn
        return fn

    return register


@dataclasses.dataclass
class NetworkState:
    """What the NCP's tokens hold about the network it formed or joined."""

    parameters: t.EmberNetworkParameters
    node_type: t.EmberNodeType = t.EmberNodeType.COORDINATOR
    node_id: int = 0x0000
    network_key: bytes = bytes(16)
    network_key_seq: int = 0
    link_key: bytes = bytes(16)  # our link key with the trust centre (the TC: its TC link key)
    security_bitmask: int = 0  # setInitialSecurityState's bitmask when formed/joined
    trust_center: t.EUI64 | None = None
    parent: t.EUI64 | None = None  # end devices: the router/coordinator they poll


class VirtualNcp:
    """An EZSP NCP answering one host (bellows, zigpy, the hub) at a time."""

    def __init__(
        self,
        *,
        eui64: t.EUI64 | str | bytes = DEFAULT_EUI64,
        protocol_version: int = 8,
        startup_rstack_delay: float | None = None,
        t_rx_ack: float = 1.6,
        air: VirtualAir | None = None,
        baud: int | None = None,
    ) -> None:
        """`startup_rstack_delay`: send an unsolicited RSTACK that long after a
        host connects (zigbeed does; bellows on `socket://` then skips its own
        reset and the 2 s wait for it). None: wait for the host's RST, like a
        USB dongle. `air`: the VirtualAir this radio is on (default: a private one).
        `baud`: pace the UART both ways at this rate (None: as fast as the stream goes)."""
        if protocol_version not in SUPPORTED_VERSIONS:
            raise ValueError(f"EZSP v{protocol_version} not supported (8 to 13)")
        self.eui64 = to_eui64(eui64)
        self.protocol_version = protocol_version
        self.startup_rstack_delay = startup_rstack_delay
        self.t_rx_ack = t_rx_ack
        if baud is not None and baud <= 0:
            raise ValueError("baud must be positive")
        self.baud = baud
        cmds = EZSP._BY_VERSION[protocol_version].COMMANDS
        self.commands: dict[str, tuple[int, Any, Any]] = cmds
        self.by_id: dict[int, str] = {cid: name for name, (cid, _, _) in cmds.items()}
        # Tokens: survive NCP resets.
        self.tokens: NetworkState | None = None
        self.key_table: dict[t.EUI64, bytes] = {}  # as trust centre: devices' APS link keys
        # As trust centre: the devices it let in and has not removed (membership is not a
        # key-table entry: a host may erase link keys, bellows does after each join).
        self.members: set[t.EUI64] = set()
        self.faults = UartFaults()
        self.received: list[str] = []  # command names, in order (tests, debugging)
        self.unhandled: list[str] = []
        self._link: AshNcpLink | None = None
        self._last_seq = 0
        self._callbacks: list[bytes] = []
        self._servers: list[asyncio.Server] = []
        self._streams: list[FdStream] = []
        self._pty_slaves: list[int] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reboot()
        if air is None:
            from commshub.radio.air import VirtualAir

            air = VirtualAir()
        self.air = air
        air.attach(self)
        self._boot_hooks()

    def _boot_hooks(self) -> None:
        for hook in BOOT_HOOKS:
            hook(self)

    def _reboot(self) -> None:
        """Lose everything a real NCP keeps in RAM (config, policies, transient keys, ...)."""
        self.config: dict[int, int] = {}
        self.policies: dict[int, int] = {}
        self.values: dict[int, bytes] = {}
        self.endpoints: dict[int, bytes] = {}
        self.security_state: t.EmberInitialSecurityState | None = None
        self.up = False
        self.permit_until = 0.0  # air time until which we accept joiners
        self.transient_keys: dict[t.EUI64, tuple[bytes, float]] = {}  # key, expiry (air time)
        self.aps_seq = 0
        self.joining = False
        self.ram: dict[str, Any] = {}  # other per-boot state of the handler modules
        for task in list(getattr(self, "_air_tasks", ())):
            task.cancel()
        self._air_tasks: set[asyncio.Task[Any]] = set()

    @property
    def network(self) -> NetworkState | None:
        """The network we are up on, or None (not formed/joined, or not initialised since boot)."""
        return self.tokens if self.up else None

    @property
    def node_id(self) -> int:
        """Our short address (0xFFFE when not on a network)."""
        return self.tokens.node_id if self.tokens and self.up else 0xFFFE

    def __repr__(self) -> str:
        return f"<VirtualNcp {self.eui64} 0x{self.node_id:04X}>"

    # -- transport ------------------------------------------------------------

    async def serve_tcp(self, host: str = "127.0.0.1", port: int = 0) -> asyncio.Server:
        """Listen for a host on TCP (`socket://host:port` in bellows); port 0 picks one."""
        server = await asyncio.start_server(self._connection, host, port)
        self._servers.append(server)
        return server

    @property
    def port(self) -> int:
        """The TCP port the first `serve_tcp` listens on."""
        assert self._servers, "serve_tcp() first"
        return self._servers[0].sockets[0].getsockname()[1]

    def serve_fd(self, fd: int) -> None:
        """Be the NCP on a byte stream file descriptor (e.g. a pty master: a board's radio UART).

        A pty whose other side is closed and opened again (a board rebooting)
        keeps being served. The fd is ours to close from then on."""
        stream = FdStream(fd)
        self._streams.append(stream)
        self._spawn(self._connection(stream.reader, stream))

    def open_pty(self) -> str:
        """A new pty with this NCP on its master side; returns the slave's path (for bellows)."""
        master, slave = open_pty_pair()
        self._pty_slaves.append(slave)  # held open so the master never sees EIO
        self.serve_fd(master)
        return os.ttyname(slave)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> None:
        """Stop listening, drop the current host, stop radio activity."""
        for server in self._servers:
            server.close()
        for stream in self._streams:
            stream.close()
        for task in [*self._tasks, *self._air_tasks]:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2.0)
        for server in self._servers:
            await server.wait_closed()
        for fd in self._pty_slaves:
            os.close(fd)
        self._servers, self._streams, self._pty_slaves = [], [], []

    async def _connection(self, reader: Any, writer: Any) -> None:
        if self._link is not None:  # one host at a time: the newest wins
            self._link.close()
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        if self.baud is not None:
            reader = writer = PacedLine(reader, writer, self.baud)
        link = AshNcpLink(reader, writer, self._on_frame, self._host_reset,
                          t_rx_ack=self.t_rx_ack, faults=self.faults)
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

    def _host_reset(self) -> None:
        # An ASH RST reboots a real NCP: RAM state goes, tokens stay.
        self.air.node_down(self, "host reset")
        self._reboot()
        self._boot_hooks()

    def reset_ncp(self, code: t.NcpResetCode = t.NcpResetCode.RESET_SOFTWARE) -> None:
        """The NCP resets under its host: RSTACK to the host, RAM state lost, tokens kept."""
        self.air.node_down(self, "ncp reset")
        self._reboot()
        self._boot_hooks()
        self.air.emit("reset", src=self, status=code.name)
        if self._link is not None:
            self._link.send_rstack(code)

    def inject_raw(self, data: bytes) -> None:
        """Write raw bytes to the host, as if the NCP (or line noise) sent them."""
        if self._link is not None:
            self._link.write_raw(data)

    def start(self, coro: Any) -> asyncio.Task[Any]:
        """Run radio activity (a join, a transmission) that a reboot cancels."""
        task = asyncio.get_running_loop().create_task(coro)
        self._air_tasks.add(task)
        task.add_done_callback(self._air_tasks.discard)
        return task

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
        if len(data) >= 3 and data[2] != FC_HIGH_EXTENDED:
            # A legacy-format frame other than version (bellows' watchdog while it
            # renegotiates): a real NCP answers invalidCommand, version not set yet.
            self.received.append(f"legacy 0x{data[2]:02X}")
            return [bytes([data[0], FC_RESPONSE, LEGACY_INVALID_COMMAND,
                           t.EzspStatus.ERROR_VERSION_NOT_SET])]
        if len(data) < 5:
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
        except Exception as exc:  # a handler bug must cost the host an error, not a timeout
            if args is None and isinstance(exc, (AssertionError, IndexError)):
                # A request its schema cannot parse (handlers assert they got one).
                LOGGER.info("malformed %s request %s: invalidCommand", name, payload.hex())
                status = t.EzspStatus.ERROR_INVALID_VALUE
            else:
                LOGGER.exception("handler for %s failed: invalidCommand", name)
                self.unhandled.append(name)
                status = t.EzspStatus.ERROR_INVALID_FRAME_ID
            return [self._frame(seq, FC_RESPONSE, "invalidCommand", {"status": status})]

    def _version_body(self) -> bytes:
        v = self.protocol_version
        return bytes([v, STACK_TYPE_MESH]) + STACK_VERSIONS[v].to_bytes(2, "little")

    def _frame(self, seq: int, fc: int, name: str, values: dict[str, Any]) -> bytes:
        frame_id, _, rsp_schema = self.commands[name]
        if isinstance(rsp_schema, dict):
            body = t.serialize_dict([], values, rsp_schema)
        else:  # some versions describe a response as a Struct class
            body = rsp_schema(**values).serialize()
        return bytes([seq, fc, FC_HIGH_EXTENDED]) + frame_id.to_bytes(2, "little") + body

    def callback(self, name: str, **values: Any) -> None:
        """Queue a callback after the response being built (from a handler)."""
        self._callbacks.append(self._frame(self._last_seq, FC_ASYNC_CALLBACK, name, values))

    def send_callback(self, name: str, **values: Any) -> None:
        """Send an asynchronous callback now (outside a command), if a host is connected."""
        if self._link is not None and name in self.commands:
            self._link.send(self._frame(self._last_seq, FC_ASYNC_CALLBACK, name, values))

    def stack_status(self, status: t.EmberStatus) -> None:
        """Tell the host about a network change (stackStatusHandler)."""
        self.send_callback("stackStatusHandler", status=status)


def to_eui64(value: t.EUI64 | str | bytes) -> t.EUI64:
    """An EUI-64 from zigpy's colon form, 16 hex digits (big-endian, as printed) or an EUI64."""
    if isinstance(value, t.EUI64):
        return value
    if isinstance(value, str):
        text = value.replace(":", "").replace("-", "")
        if len(text) != 16:
            raise ValueError(f"EUI-64 must be 16 hex digits: {value!r}")
        return t.EUI64(bytes.fromhex(text)[::-1])
    if len(value) != 8:
        raise ValueError("EUI-64 must be 8 bytes")
    return t.EUI64(bytes(value)[::-1])  # bytes as printed (big-endian)


# The handler modules register themselves on import; ours after A2's
# coordinator bookkeeping so that the modelled commands win.
from commshub.radio import coordinator as _coordinator  # noqa: E402,F401
from commshub.radio import basics as _basics  # noqa: E402,F401
from commshub.radio import network as _network  # noqa: E402,F401
from commshub.radio import security as _security  # noqa: E402,F401
from commshub.radio import messaging as _messaging  # noqa: E402,F401
