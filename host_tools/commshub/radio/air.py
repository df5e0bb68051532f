"""The virtual air: the radio medium that connects any number of virtual NCPs.

One asyncio loop runs everything. The air keeps the clock (air time runs
`time_scale` times faster than the loop's clock, so modelled delays shrink),
the per-link model (loss, latency; airtime and MAC retries in `linkmodel`),
the random source (seeded for reproducible runs) and the listeners that see
every `AirEvent` (A2's capture is one). Who is on which network is not kept
here: it is read from the radios' own tokens, so an NCP reset or a leave
changes it the way it would on real radios. Joins are in `joining`,
unicast/broadcast/poll delivery in `delivery`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
import dataclasses
import logging
import random
from typing import Any, NamedTuple

import bellows.types as t

from commshub.radio.ncp import NetworkState, VirtualNcp, to_eui64

LOGGER = logging.getLogger(__name__)
COORDINATOR = t.EmberNodeType.COORDINATOR
ROUTERS = (t.EmberNodeType.COORDINATOR, t.EmberNodeType.ROUTER)
END_DEVICES = (t.EmberNodeType.END_DEVICE, t.EmberNodeType.SLEEPY_END_DEVICE,
               t.EmberNodeType.MOBILE_END_DEVICE)
SLEEPY = (t.EmberNodeType.SLEEPY_END_DEVICE, t.EmberNodeType.MOBILE_END_DEVICE)


class Addr(NamedTuple):
    """A node in an event: EUI-64 (zigpy's colon form) and short address (None if unknown)."""

    eui64: str
    nwk: int | None


class Aps(NamedTuple):
    """The APS header fields an event shows."""

    profile: int
    cluster: int
    src_ep: int
    dst_ep: int
    seq: int


@dataclasses.dataclass
class AirEvent:
    """Something that happened on the air, for listeners (capture, tests, the CLI).

    kind: 'form', 'join', 'join_denied', 'join_failed', 'leave', 'unicast',
    'broadcast', 'delivered', 'lost', 'aps_ack', 'queued', 'poll', 'reset',
    'down'. `t` is air time in seconds since the air started.
    """

    t: float
    kind: str
    src: Addr | None = None
    dst: Addr | None = None
    aps: Aps | None = None
    payload: bytes = b""
    status: str = ""
    detail: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class LinkParams:
    """Model of one radio link (both directions): loss per frame (0..1), extra latency (s)."""

    loss: float = 0.0
    latency_s: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.loss <= 1.0:
            raise ValueError(f"loss must be between 0 and 1, not {self.loss}")
        if self.latency_s < 0:
            raise ValueError(f"latency_s must not be negative, not {self.latency_s}")


Listener = Callable[[AirEvent], None]


class VirtualAir:
    """The medium: radios, links, clock, events. See the module docstring."""

    def __init__(self, time_scale: float = 1.0, seed: int | None = None,
                 loss: float = 0.0, latency_s: float = 0.0) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.time_scale = time_scale
        self.rng = random.Random(seed)
        self.default_link = LinkParams(loss, latency_s)
        self.links: dict[frozenset[t.EUI64], LinkParams] = {}
        self.radios: dict[t.EUI64, VirtualNcp] = {}
        self.listeners: list[Listener] = []
        self.knobs: dict[str, float] = {
            "scan_s": 0.14,  # joinNetwork's active scan on one channel (2^3+1 superframes)
            "key_wait_s": 5.0,  # a joiner waits this long for the network key before failing
            "aps_ack_wait_s": 1.6,  # APS ack timeout before an APS retry
            "aps_retries": 3,
            "mac_retries": 3,  # macMaxFrameRetries
            "broadcast_retries": 2,  # nwkMaxBroadcastRetries (passive ack missing)
            "route_discovery_s": 0.5,  # time to give up on an unknown destination
        }
        self._t0: float | None = None

    # -- clock ------------------------------------------------------------------

    def now(self) -> float:
        """Air time (s) since the air started; runs `time_scale` times the real clock."""
        loop_t = asyncio.get_running_loop().time()
        if self._t0 is None:
            self._t0 = loop_t
        return (loop_t - self._t0) * self.time_scale

    async def sleep(self, air_s: float) -> None:
        """Let `air_s` seconds of air time pass."""
        await asyncio.sleep(max(0.0, air_s) / self.time_scale)

    def loop_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run fn(*args) on the loop right after the current command's response is queued."""
        asyncio.get_running_loop().call_soon(fn, *args)

    # -- radios -----------------------------------------------------------------

    def add_ncp(self, eui64: t.EUI64 | str | bytes, **opts: Any) -> VirtualNcp:
        """A new NCP radio on this air (options as VirtualNcp's: protocol_version, ...)."""
        eui = to_eui64(eui64)
        if eui in self.radios:
            raise ValueError(f"an NCP with EUI-64 {eui} is already on this air")
        return VirtualNcp(eui64=eui, air=self, **opts)

    def attach(self, ncp: VirtualNcp) -> None:
        """Put a radio on this air (VirtualNcp does this itself)."""
        if ncp.eui64 in self.radios and self.radios[ncp.eui64] is not ncp:
            raise ValueError(f"an NCP with EUI-64 {ncp.eui64} is already on this air")
        self.radios[ncp.eui64] = ncp

    # -- links ------------------------------------------------------------------

    def set_link(self, a: VirtualNcp | t.EUI64 | str, b: VirtualNcp | t.EUI64 | str,
                 loss: float = 0.0, latency_s: float = 0.0) -> None:
        """Model the link between radios a and b (both directions)."""
        self.links[frozenset((_eui(a), _eui(b)))] = LinkParams(loss, latency_s)

    def set_default_link(self, loss: float = 0.0, latency_s: float = 0.0) -> None:
        """The model of every link not set with `set_link`."""
        self.default_link = LinkParams(loss, latency_s)

    def link(self, a: VirtualNcp, b: VirtualNcp) -> LinkParams:
        """The model of the link between two radios."""
        return self.links.get(frozenset((a.eui64, b.eui64)), self.default_link)

    # -- events -----------------------------------------------------------------

    def add_listener(self, fn: Listener) -> None:
        """Call fn(event) for every AirEvent from now on (exceptions are logged, not raised)."""
        self.listeners.append(fn)

    def remove_listener(self, fn: Listener) -> None:
        """Stop calling fn."""
        self.listeners.remove(fn)

    def emit(self, kind: str, src: VirtualNcp | Addr | None = None,
             dst: VirtualNcp | Addr | None = None, aps: Aps | None = None,
             payload: bytes = b"", status: str = "", **detail: Any) -> AirEvent:
        """Tell the listeners about something that happened."""
        event = AirEvent(self.now(), kind, _addr(src), _addr(dst), aps, bytes(payload),
                         status, detail)
        for fn in list(self.listeners):
            try:
                fn(event)
            except Exception:
                LOGGER.exception("air listener %r failed", fn)
        return event

    # -- who is where -------------------------------------------------------------

    def on_network(self, net: NetworkState) -> Iterator[VirtualNcp]:
        """Radios that are up on the network `net` describes (same PAN, channel, ext PAN)."""
        for ncp in self.radios.values():
            if ncp.up and ncp.tokens is not None and same_network(ncp.tokens, net):
                yield ncp

    def trust_center(self, net: NetworkState) -> VirtualNcp | None:
        """The coordinator (trust centre) of `net`, up or not."""
        for ncp in self.radios.values():
            tok = ncp.tokens
            if tok is not None and tok.node_type == COORDINATOR and same_network(tok, net):
                return ncp
        return None

    def is_member(self, ncp: VirtualNcp) -> bool:
        """Whether `ncp` is up and its trust centre still counts it in (removed devices are not)."""
        if not ncp.up or ncp.tokens is None:
            return False
        if ncp.tokens.node_type == COORDINATOR:
            return True
        tc = self.trust_center(ncp.tokens)
        return tc is not None and ncp.eui64 in tc.members

    def by_node_id(self, net: NetworkState, node_id: int) -> VirtualNcp | None:
        """The radio up on `net` with short address `node_id`."""
        for ncp in self.on_network(net):
            if ncp.node_id == node_id:
                return ncp
        return None

    def new_node_id(self, net: NetworkState) -> int:
        """A random free short address on `net` (stochastic addressing, 0x0001..0xFFF7)."""
        taken = {n.tokens.node_id for n in self.radios.values()
                 if n.tokens is not None and same_network(n.tokens, net)}
        while True:
            node_id = self.rng.randint(0x0001, 0xFFF7)
            if node_id not in taken:
                return node_id

    def node_down(self, ncp: VirtualNcp, why: str) -> None:
        """A radio stops (reset, reboot): whatever it was doing on the air ends."""
        if ncp.up:
            self.emit("down", src=ncp, status=why)


def is_end_device(ncp: VirtualNcp) -> bool:
    """Whether `ncp` is on a network as an end device (it has a parent)."""
    return ncp.tokens is not None and ncp.tokens.node_type in END_DEVICES


def is_sleepy(ncp: VirtualNcp) -> bool:
    """Whether `ncp` is an end device whose receiver is off when idle."""
    return ncp.tokens is not None and ncp.tokens.node_type in SLEEPY


def same_network(a: NetworkState, b: NetworkState) -> bool:
    """Same PAN ID, channel and extended PAN ID."""
    pa, pb = a.parameters, b.parameters
    return (pa.panId == pb.panId and pa.radioChannel == pb.radioChannel
            and pa.extendedPanId == pb.extendedPanId)


def _eui(x: VirtualNcp | t.EUI64 | str) -> t.EUI64:
    return x.eui64 if isinstance(x, VirtualNcp) else to_eui64(x)


def _addr(x: VirtualNcp | Addr | None) -> Addr | None:
    if x is None or isinstance(x, Addr):
        return x
    nwk = x.tokens.node_id if x.tokens is not None else None
    return Addr(str(x.eui64), nwk)
