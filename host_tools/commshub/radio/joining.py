"""Joining and leaving a network on the virtual air, with the trust centre's decision.

A join as EmberZNet runs it: the joiner scans its channel for a beacon from
a router or coordinator of the wanted PAN that permits joining (none: the
joiner's stack reports NO_BEACONS), associates with it (MAC frames, subject
to the link model), the parent reports the joiner to the trust centre (the
TC's host sees `trustCenterJoinHandler` with the TC's decision), and the TC
sends the network key encrypted with the link key it chose. A denied joiner,
or one whose preconfigured key differs from the TC's key for it, never gets
a usable network key and gives up after `key_wait_s` (JOIN_FAILED). A good
join ends with NETWORK_UP at the joiner, `childJoinHandler` at the parent
for an end device, and the joiner's ZDO Device_annce broadcast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import bellows.types as t

from commshub.radio import delivery, linkmodel
from commshub.radio.air import END_DEVICES, ROUTERS, same_network
from commshub.radio.ncp import NetworkState, VirtualNcp
from commshub.radio.security import WELL_KNOWN_KEY, joiner_key, tc_decision

if TYPE_CHECKING:
    from commshub.radio.air import VirtualAir

DEVICE_ANNCE = 0x0013
# Device_annce capability: FFD 0x02, mains 0x04, rx on when idle 0x08, allocate address 0x80.
CAPABILITY = {t.EmberNodeType.ROUTER: 0x8E, t.EmberNodeType.END_DEVICE: 0x88,
              t.EmberNodeType.SLEEPY_END_DEVICE: 0x80, t.EmberNodeType.MOBILE_END_DEVICE: 0x80}
ASSOCIATION_FRAMES = 4  # beacon request/beacon are in scan_s; assoc request, data request, response


def _wanted(params: t.EmberNetworkParameters, net: NetworkState) -> bool:
    p = net.parameters
    if p.panId != params.panId or p.radioChannel != params.radioChannel:
        return False
    return params.extendedPanId == t.ExtendedPanId(bytes(8)) or params.extendedPanId == p.extendedPanId


def _parents(air: VirtualAir, joiner: VirtualNcp,
             params: t.EmberNetworkParameters) -> list[VirtualNcp]:
    now = air.now()
    found = [p for p in air.radios.values()
             if p is not joiner and p.tokens is not None and p.tokens.node_type in ROUTERS
             and p.permit_until > now and _wanted(params, p.tokens) and air.is_member(p)]
    # The joiner picks the parent it hears best.
    return sorted(found, key=lambda p: air.link(joiner, p).loss)


async def join(air: VirtualAir, joiner: VirtualNcp, node_type: t.EmberNodeType,
               params: t.EmberNetworkParameters) -> None:
    """Run one join attempt of `joiner` (its host already got SUCCESS for joinNetwork)."""
    joiner.joining = True
    try:
        await _join(air, joiner, node_type, params)
    finally:
        joiner.joining = False


async def _join(air: VirtualAir, joiner: VirtualNcp, node_type: t.EmberNodeType,
                params: t.EmberNetworkParameters) -> None:
    await air.sleep(air.knobs["scan_s"])
    parents = _parents(air, joiner, params)
    where = {"pan_id": int(params.panId), "channel": int(params.radioChannel)}
    if not parents:
        air.emit("join_failed", src=joiner, status="no beacons: no open parent on that PAN",
                 **where)
        joiner.stack_status(t.EmberStatus.NO_BEACONS)
        return
    parent = parents[0]
    assert parent.tokens is not None
    link = air.link(joiner, parent)
    for _ in range(ASSOCIATION_FRAMES):
        hop = linkmodel.mac_hop(air.rng, link.loss, link.latency_s,
                                linkmodel.aps_frame_bytes(0), int(air.knobs["mac_retries"]))
        await air.sleep(hop.elapsed_s)
        if not hop.acked:
            air.emit("join_failed", src=joiner, dst=parent, status="association lost", **where)
            joiner.stack_status(t.EmberStatus.JOIN_FAILED)
            return
    tc = air.trust_center(parent.tokens)
    if tc is None or not tc.up or tc.tokens is None:
        air.emit("join_failed", src=joiner, dst=parent, status="no trust centre", **where)
        await air.sleep(air.knobs["key_wait_s"])
        joiner.stack_status(t.EmberStatus.JOIN_FAILED)
        return
    node_id = air.new_node_id(parent.tokens)
    decision, key, why = tc_decision(tc, joiner.eui64)
    tc.send_callback("trustCenterJoinHandler", newNodeId=node_id, newNodeEui64=joiner.eui64,
                     status=t.EmberDeviceUpdate.STANDARD_SECURITY_UNSECURED_JOIN,
                     policyDecision=decision, parentOfNewNodeId=parent.node_id)
    if decision == t.EmberJoinDecision.DENY_JOIN:
        air.emit("join_denied", src=joiner, dst=tc, status=why, node_id=node_id, **where)
        await air.sleep(air.knobs["key_wait_s"])
        joiner.stack_status(t.EmberStatus.JOIN_FAILED)
        return
    if key is not None and joiner_key(joiner) != key:
        air.emit("join_failed", src=joiner, dst=tc, node_id=node_id, **where,
                 status="link key mismatch: the joiner cannot decrypt the network key")
        await air.sleep(air.knobs["key_wait_s"])
        joiner.stack_status(t.EmberStatus.JOIN_FAILED)
        return
    hop = linkmodel.mac_hop(air.rng, link.loss, link.latency_s, linkmodel.aps_frame_bytes(35),
                            int(air.knobs["mac_retries"]))
    await air.sleep(hop.elapsed_s)
    if not hop.received:
        air.emit("join_failed", src=joiner, dst=parent, status="network key transport lost", **where)
        await air.sleep(air.knobs["key_wait_s"])
        joiner.stack_status(t.EmberStatus.JOIN_FAILED)
        return
    net = tc.tokens
    joiner.tokens = NetworkState(
        parameters=net.parameters.replace(radioTxPower=params.radioTxPower),
        node_type=node_type, node_id=node_id,
        network_key=net.network_key, network_key_seq=net.network_key_seq,
        link_key=key if key is not None else WELL_KNOWN_KEY,
        trust_center=tc.eui64,
        security_bitmask=int(joiner.security_state.bitmask) if joiner.security_state else 0,
        parent=parent.eui64 if node_type in END_DEVICES else None,
    )
    joiner.up = True
    tc.key_table[joiner.eui64] = joiner.tokens.link_key
    tc.members.add(joiner.eui64)
    if node_type in END_DEVICES:
        parent.send_callback("childJoinHandler", index=len(children(air, parent)) - 1,
                             joining=t.Bool.true, childId=node_id, childEui64=joiner.eui64,
                             childType=node_type)
    joiner.stack_status(t.EmberStatus.NETWORK_UP)
    air.emit("join", src=joiner, dst=parent, status=t.EmberNodeType(node_type).name,
             node_id=node_id, decision=t.EmberJoinDecision(decision).name, **where)
    await _announce(air, joiner, node_type)


async def _announce(air: VirtualAir, ncp: VirtualNcp, node_type: t.EmberNodeType) -> None:
    """The joiner's stack broadcasts ZDO Device_annce to rx-on-when-idle nodes."""
    seq = delivery.next_aps_seq(ncp)
    body = bytes([seq]) + ncp.node_id.to_bytes(2, "little") + ncp.eui64.serialize()
    body += bytes([CAPABILITY.get(node_type, 0x80)])
    aps = t.EmberApsFrame(profileId=0, clusterId=DEVICE_ANNCE, sourceEndpoint=0,
                          destinationEndpoint=0, options=t.EmberApsOption.APS_OPTION_NONE,
                          groupId=0, sequence=seq)
    await delivery.broadcast(air, ncp, 0xFFFD, aps, 0, body, notify_host=False)


def children(air: VirtualAir, parent: VirtualNcp) -> list[VirtualNcp]:
    """The end devices whose parent is `parent`."""
    return [n for n in air.radios.values()
            if n.tokens is not None and n.tokens.parent == parent.eui64
            and parent.tokens is not None and same_network(n.tokens, parent.tokens)]


def leave(air: VirtualAir, ncp: VirtualNcp, why: str) -> None:
    """`ncp` leaves its network: tokens gone, its key gone at the TC, the TC and parent told."""
    tok = ncp.tokens
    if tok is None:
        return
    tc = air.trust_center(tok)
    parent = air.radios.get(tok.parent) if tok.parent is not None else None
    was_up = ncp.up
    air.emit("leave", src=ncp, dst=tc, status=why)
    ncp.tokens = None
    ncp.up = False
    ncp.permit_until = 0.0
    delivery.forget_child(air, ncp, parent)
    if was_up:
        ncp.stack_status(t.EmberStatus.NETWORK_DOWN)
    if tc is None or tc is ncp:
        return
    tc.key_table.pop(ncp.eui64, None)
    tc.members.discard(ncp.eui64)
    tc.transient_keys.pop(ncp.eui64, None)
    if tc.up:
        tc.send_callback("trustCenterJoinHandler", newNodeId=tok.node_id, newNodeEui64=ncp.eui64,
                         status=t.EmberDeviceUpdate.DEVICE_LEFT,
                         policyDecision=t.EmberJoinDecision.NO_ACTION,
                         parentOfNewNodeId=parent.node_id if parent is not None else 0x0000)
    if parent is not None and parent.up:
        parent.send_callback("childJoinHandler", index=0, joining=t.Bool.false,
                             childId=tok.node_id, childEui64=ncp.eui64, childType=tok.node_type)


def remove(air: VirtualAir, tc: VirtualNcp, target: t.EUI64) -> str:
    """The TC removes a device: its key goes; if it is on the air it is told to leave."""
    tc.key_table.pop(target, None)
    tc.members.discard(target)
    tc.transient_keys.pop(target, None)
    device = air.radios.get(target)
    if device is None or device.tokens is None or tc.tokens is None \
            or not same_network(device.tokens, tc.tokens):
        air.emit("leave", src=tc, status="removed: not on the network", target=str(target))
        return "not on the network"
    if not device.up:
        # Its radio is off: it keeps its stale tokens, but without a key at the TC
        # nothing it sends is accepted any more.
        air.emit("leave", src=device, dst=tc, status="removed while its radio was down")
        return "removed while down"
    leave(air, device, "removed by the trust centre")
    return "removed"
