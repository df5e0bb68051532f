"""APS unicast and broadcast delivery, indirect transmission to sleepy children, data polls.

Routing is by tree: an end device's frames go through its parent, a frame to
an end device ends at its parent, routers and the coordinator hear each
other directly. Each hop is one MAC transmission with retries
(`linkmodel.mac_hop`). A hop from a parent to its sleepy child waits in the
parent until the child polls (`pollForData`) or the indirect-transmission
timeout (CONFIG_INDIRECT_TRANSMISSION_TIMEOUT, default 7.68 s of air time)
passes.

The sender's `messageSentHandler` says SUCCESS when the first hop was
MAC-acked (no APS_OPTION_RETRY) or when the APS ack came back (with it:
up to `aps_retries` retransmissions, `aps_ack_wait_s` apart), else
DELIVERY_FAILED. Receivers drop APS duplicates (same source and APS counter) for
DUPLICATE_LIFETIME_S of air time, as a stack's duplicate rejection table does
(apsDuplicateEntryLifetime): a sender whose NCP restarted counts from 1 again and
must be heard.
Broadcasts reach rx-on-when-idle nodes (0xFFFF, 0xFFFD) or routers (0xFFFC),
never sleepy children; a broadcast is repeated up to `broadcast_retries`
times while an rx-on neighbour has not heard it (passive acks).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
from typing import TYPE_CHECKING, Any

import bellows.types as t

from commshub.radio import linkmodel
from commshub.radio.air import ROUTERS, Aps, is_end_device, is_sleepy
from commshub.radio.basics import config_value
from commshub.radio.ncp import VirtualNcp

if TYPE_CHECKING:
    from commshub.radio.air import VirtualAir

BROADCAST_ADDRESSES = (0xFFFF, 0xFFFD, 0xFFFC, 0xFFFB)
MAX_PAYLOAD = 82  # EmberZNet's maximum APS payload with NWK security, no fragmentation
PASSIVE_ACK_S = 0.5
BROADCAST_JITTER_S = 0.064
SEEN_PER_NODE = 64
DUPLICATE_LIFETIME_S = 8.0
MGMT_PERMIT_JOINING_REQ = 0x0036  # ZDO: routers open or close joining themselves


@dataclasses.dataclass
class Indirect:
    """A frame a parent holds for its sleepy child until the child polls."""

    frame_bytes: int
    done: asyncio.Future[bool]


def next_aps_seq(ncp: VirtualNcp) -> int:
    """The next APS counter value of `ncp`."""
    ncp.aps_seq = (ncp.aps_seq + 1) & 0xFF
    return ncp.aps_seq


def aps_of(frame: t.EmberApsFrame) -> Aps:
    """The event view of an APS frame."""
    return Aps(int(frame.profileId), int(frame.clusterId), int(frame.sourceEndpoint),
               int(frame.destinationEndpoint), int(frame.sequence))


def _parent(air: VirtualAir, ncp: VirtualNcp) -> VirtualNcp | None:
    tok = ncp.tokens
    return air.radios.get(tok.parent) if tok is not None and tok.parent is not None else None


def route(air: VirtualAir, src: VirtualNcp, dst: VirtualNcp) -> list[VirtualNcp] | None:
    """The radios a frame from src to dst passes (tree routing), None if a parent is missing."""
    hops = [src]
    if is_end_device(src):
        parent = _parent(air, src)
        if parent is None:
            return None
        if parent is not dst:
            hops.append(parent)
    if is_end_device(dst):
        parent = _parent(air, dst)
        if parent is None:
            return None
        if hops[-1] is not parent:
            hops.append(parent)
    hops.append(dst)
    return hops


async def _hop(air: VirtualAir, a: VirtualNcp, b: VirtualNcp, n_bytes: int,
               indirect: bool = True) -> linkmodel.HopResult:
    """One hop a -> b: direct, or held at parent a until sleepy child b polls."""
    if indirect and is_sleepy(b) and _parent(air, b) is a:
        return await _indirect(air, a, b, n_bytes)
    link = air.link(a, b)
    loss = link.loss if b.up else 1.0  # a radio that is down does not answer
    hop = linkmodel.mac_hop(air.rng, loss, link.latency_s, n_bytes, int(air.knobs["mac_retries"]))
    await air.sleep(hop.elapsed_s)
    return hop


async def _indirect(air: VirtualAir, parent: VirtualNcp, child: VirtualNcp,
                    n_bytes: int) -> linkmodel.HopResult:
    item = Indirect(n_bytes, asyncio.get_running_loop().create_future())
    queue = pending(parent, child.eui64)
    queue.append(item)
    air.emit("queued", src=parent, dst=child, status=f"{len(queue)} waiting for a poll")
    timeout_s = config_value(parent, t.EzspConfigId.CONFIG_INDIRECT_TRANSMISSION_TIMEOUT) / 1000
    t0 = air.now()
    try:
        async with asyncio.timeout(timeout_s / air.time_scale):
            ok = await item.done
    except TimeoutError:
        if item in queue:
            queue.remove(item)
        air.emit("lost", src=parent, dst=child, status="indirect transmission timeout")
        return linkmodel.HopResult(False, False, 0, air.now() - t0)
    return linkmodel.HopResult(ok, ok, 1, air.now() - t0)


def pending(parent: VirtualNcp, child: t.EUI64) -> collections.deque[Indirect]:
    """The frames `parent` holds for `child` (RAM: gone when the parent resets)."""
    queues: dict[t.EUI64, collections.deque[Indirect]] = parent.ram.setdefault("pending", {})
    return queues.setdefault(child, collections.deque())


def forget_child(air: VirtualAir, child: VirtualNcp, parent: VirtualNcp | None) -> None:
    """Drop what a parent holds for a child that left."""
    if parent is None:
        return
    for item in parent.ram.get("pending", {}).pop(child.eui64, ()):
        if not item.done.done():
            item.done.set_result(False)


async def _carry(air: VirtualAir, hops: list[VirtualNcp], n_bytes: int,
                 indirect: bool = True) -> tuple[bool, bool]:
    """Carry a frame along `hops`: (first hop acked, reached the last radio).
    `indirect=False`: a sleepy last radio is awake and polling for it (an APS ack it awaits)."""
    first_acked = False
    for i, (a, b) in enumerate(zip(hops, hops[1:])):
        hop = await _hop(air, a, b, n_bytes, indirect)
        if i == 0:
            first_acked = hop.acked
        if not hop.received:
            if hop.tries:  # (an indirect timeout has told its own story)
                air.emit("lost", src=a, dst=b, status=f"no MAC ack after {hop.tries} tries",
                         hop=i + 1)
            return first_acked, False
    return first_acked, True


def _deliver(air: VirtualAir, src: VirtualNcp, dst: VirtualNcp, aps: t.EmberApsFrame,
             payload: bytes, kind: t.EmberIncomingMessageType, last: VirtualNcp) -> bool:
    """Hand a frame to dst's host unless dst is down, a duplicate, or the sender has no key."""
    if not dst.up:
        return False
    if not air.is_member(src):
        air.emit("lost", src=src, dst=dst, aps=aps_of(aps), payload=payload,
                 status="dropped: the sender is no longer on the network (no key)")
        return False
    seen: collections.deque[tuple[tuple[t.EUI64, int, int], float]] = dst.ram.setdefault(
        "seen", collections.deque(maxlen=SEEN_PER_NODE))
    tag = (src.eui64, int(aps.sequence), int(kind == t.EmberIncomingMessageType.INCOMING_BROADCAST))
    now = air.now()
    if any(s == tag and now - at < DUPLICATE_LIFETIME_S for s, at in seen):
        return True  # an APS duplicate: acked again, not passed up
    seen.append((tag, now))
    _stack_receives(air, dst, aps, payload)
    loss = air.link(last, dst).loss
    air.emit("delivered", src=src, dst=dst, aps=aps_of(aps), payload=payload,
             status=kind.name)
    dst.send_callback("incomingMessageHandler", type=kind, apsFrame=aps,
                      lastHopLqi=int(255 * (1 - loss)), lastHopRssi=int(-40 - 50 * loss),
                      sender=src.node_id, bindingIndex=0xFF, addressIndex=0xFF,
                      messageContents=payload)
    return True


def _stack_receives(air: VirtualAir, dst: VirtualNcp, aps: t.EmberApsFrame,
                    payload: bytes) -> None:
    """What the receiving Zigbee stack itself acts on (the host gets the frame as well)."""
    if aps.profileId == 0 and aps.clusterId == MGMT_PERMIT_JOINING_REQ and len(payload) >= 2:
        if dst.tokens is not None and dst.tokens.node_type in ROUTERS:
            duration = payload[1]
            dst.permit_until = float("inf") if duration == 0xFF else air.now() + duration


def _message_sent(src: VirtualNcp, kind: t.EmberOutgoingMessageType, dest: int,
                  aps: t.EmberApsFrame, tag: int, status: t.EmberStatus, payload: bytes) -> None:
    with_contents = src.policies.get(t.EzspPolicyId.MESSAGE_CONTENTS_IN_CALLBACK_POLICY) == \
        t.EzspDecisionId.MESSAGE_TAG_AND_CONTENTS_IN_CALLBACK
    src.send_callback("messageSentHandler", type=kind, indexOrDestination=dest, apsFrame=aps,
                      messageTag=tag, status=status,
                      messageContents=payload if with_contents else b"")


async def unicast(air: VirtualAir, src: VirtualNcp, dest: int, aps: t.EmberApsFrame,
                  tag: int, payload: bytes) -> t.EmberStatus:
    """Send an APS unicast from src to short address `dest`; the host gets messageSentHandler."""
    assert src.tokens is not None
    dst = air.by_node_id(src.tokens, dest)
    air.emit("unicast", src=src, dst=dst, aps=aps_of(aps), payload=payload, nwk_dest=dest)
    status = await _unicast(air, src, dst, dest, aps, payload)
    _message_sent(src, t.EmberOutgoingMessageType.OUTGOING_DIRECT, dest, aps, tag, status, payload)
    return status


async def _unicast(air: VirtualAir, src: VirtualNcp, dst: VirtualNcp | None, dest: int,
                   aps: t.EmberApsFrame, payload: bytes) -> t.EmberStatus:
    failed = t.EmberStatus.DELIVERY_FAILED
    hops = route(air, src, dst) if dst is not None else None
    if dst is None or hops is None:
        await air.sleep(air.knobs["route_discovery_s"])
        air.emit("lost", src=src, aps=aps_of(aps), payload=payload, nwk_dest=dest,
                 status="no route to the destination")
        return failed
    want_ack = bool(aps.options & t.EmberApsOption.APS_OPTION_RETRY)
    n_bytes = linkmodel.aps_frame_bytes(len(payload))
    tries = 1 + (int(air.knobs["aps_retries"]) if want_ack else 0)
    for attempt in range(tries):
        t0 = air.now()
        first_acked, arrived = await _carry(air, hops, n_bytes)
        if arrived:
            arrived = _deliver(air, src, dst, aps, payload,
                               t.EmberIncomingMessageType.INCOMING_UNICAST, hops[-2])
        if not want_ack:
            return t.EmberStatus.SUCCESS if first_acked else failed
        if arrived:
            # A sleepy sender short-polls for its APS ack (EmberZNet end-device support does).
            _, acked = await _carry(air, hops[::-1], linkmodel.aps_frame_bytes(0), indirect=False)
            if acked:
                air.emit("aps_ack", src=dst, dst=src, aps=aps_of(aps), attempt=attempt + 1)
                return t.EmberStatus.SUCCESS
        await air.sleep(air.knobs["aps_ack_wait_s"] - (air.now() - t0))
    air.emit("lost", src=src, dst=dst, aps=aps_of(aps), payload=payload,
             status=f"no APS ack after {tries} tries")
    return failed


def _accepts(ncp: VirtualNcp, dest: int) -> bool:
    if is_sleepy(ncp):
        return False
    if dest in (0xFFFC, 0xFFFB):
        return ncp.tokens is not None and ncp.tokens.node_type in ROUTERS
    return True


async def broadcast(air: VirtualAir, src: VirtualNcp, dest: int, aps: t.EmberApsFrame,
                    tag: int, payload: bytes, notify_host: bool = True) -> None:
    """Broadcast from src to `dest` (0xFFFF, 0xFFFD, 0xFFFC); messageSentHandler unless from the stack."""
    assert src.tokens is not None
    air.emit("broadcast", src=src, aps=aps_of(aps), payload=payload, nwk_dest=dest)
    receivers = [n for n in air.on_network(src.tokens) if n is not src and _accepts(n, dest)]
    n_bytes = linkmodel.aps_frame_bytes(len(payload))
    heard: set[int] = set()
    for attempt in range(1 + int(air.knobs["broadcast_retries"])):
        if attempt:
            await air.sleep(PASSIVE_ACK_S)
        await air.sleep(air.rng.random() * BROADCAST_JITTER_S)
        latency = 0.0
        newly = []
        for rx in receivers:
            if id(rx) in heard:
                continue
            via = (_parent(air, rx) if is_end_device(rx) else None) or src
            link = air.link(via, rx)
            latency = max(latency, link.latency_s)
            if rx.up and air.rng.random() >= link.loss:
                heard.add(id(rx))
                newly.append((rx, via))
        await air.sleep(latency + linkmodel.airtime(n_bytes))
        for rx, via in newly:
            _deliver(air, src, rx, aps, payload, t.EmberIncomingMessageType.INCOMING_BROADCAST, via)
        if attempt == 0 and notify_host:
            _message_sent(src, t.EmberOutgoingMessageType.OUTGOING_BROADCAST, dest, aps, tag,
                          t.EmberStatus.SUCCESS, payload)
        if all(id(rx) in heard for rx in receivers):
            break
    for rx in receivers:
        if id(rx) not in heard:
            air.emit("lost", src=src, dst=rx, aps=aps_of(aps), payload=payload,
                     status="broadcast not heard")


async def poll(air: VirtualAir, child: VirtualNcp) -> t.EmberStatus:
    """One data poll of a (sleepy) child: fetch everything its parent holds for it."""
    parent = _parent(air, child)
    if parent is None:
        return t.EmberStatus.INVALID_CALL
    link = air.link(child, parent)
    hop = linkmodel.mac_hop(air.rng, link.loss if parent.up else 1.0, link.latency_s,
                            linkmodel.DATA_REQUEST_BYTES, int(air.knobs["mac_retries"]))
    await air.sleep(hop.elapsed_s)
    if not hop.acked:
        air.emit("poll", src=child, dst=parent, status="no ack from the parent")
        return t.EmberStatus.DELIVERY_FAILED
    queue = pending(parent, child.eui64)
    if not queue:
        air.emit("poll", src=child, dst=parent, status="no data")
        return t.EmberStatus.MAC_NO_DATA
    air.emit("poll", src=child, dst=parent, status=f"{len(queue)} pending")
    while queue:  # frame-pending bit set: the child keeps polling
        item = queue.popleft()
        out = linkmodel.mac_hop(air.rng, link.loss, link.latency_s, item.frame_bytes,
                                int(air.knobs["mac_retries"]))
        await air.sleep(out.elapsed_s)
        if not item.done.done():
            item.done.set_result(out.received)
    return t.EmberStatus.SUCCESS


def poll_interval_s(interval: int, units: Any) -> float | None:
    """pollForData's period in seconds, None for a single poll."""
    scale = {t.EmberEventUnits.EVENT_MS_TIME: 0.001, t.EmberEventUnits.EVENT_QS_TIME: 0.25,
             t.EmberEventUnits.EVENT_MINUTE_TIME: 60.0}.get(units)
    if not interval or scale is None:
        return None
    return interval * scale
