"""NCP handlers for forming, joining, opening and leaving a network.

What the network is lives in the NCP's tokens (`ncp.tokens`); whether it is
up is RAM (`ncp.up`): after a reset the host brings it back with
`networkInit`, as with EmberZNet. Joins run on the air (`joining`).
"""

from __future__ import annotations

import os
from typing import Any

import bellows.types as t

from commshub.radio import joining
from commshub.radio.air import END_DEVICES
from commshub.radio.ncp import NetworkState, VirtualNcp, handles
from commshub.radio.security import Bits, tc_link_key

OK = t.EmberStatus.SUCCESS
PERMIT_FOREVER = 0xFF


@handles("networkState")
def _network_state(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    if ncp.up:
        status = t.EmberNetworkStatus.JOINED_NETWORK
    elif ncp.joining:
        status = t.EmberNetworkStatus.JOINING_NETWORK
    else:
        status = t.EmberNetworkStatus.NO_NETWORK
    return {"status": status}


@handles("networkInit")
def _network_init(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    if ncp.tokens is None:
        return {"status": t.EmberStatus.NOT_JOINED}
    if ncp.up:
        return {"status": t.EmberStatus.INVALID_CALL}
    ncp.up = True
    ncp.air.emit("form" if ncp.tokens.node_type == t.EmberNodeType.COORDINATOR else "join",
                 src=ncp, status="network up from tokens (networkInit)")
    ncp.callback("stackStatusHandler", status=t.EmberStatus.NETWORK_UP)
    return {"status": OK}


@handles("getNetworkParameters")
def _network_params(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    net = ncp.network
    if net is None:
        return {
            "status": t.EmberStatus.NOT_JOINED,
            "nodeType": t.EmberNodeType.UNKNOWN_DEVICE,
            "parameters": t.EmberNetworkParameters.deserialize(bytes(20))[0],
        }
    return {"status": OK, "nodeType": net.node_type, "parameters": net.parameters}


@handles("formNetwork")
def _form(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    if ncp.up or ncp.joining:
        return {"status": t.EmberStatus.INVALID_CALL}
    state = ncp.security_state
    if state is None:
        return {"status": t.EmberStatus.SECURITY_STATE_NOT_SET}
    params: t.EmberNetworkParameters = args["parameters"]
    if not 11 <= params.radioChannel <= 26 or params.panId >= 0xFFFF:
        return {"status": t.EmberStatus.BAD_ARGUMENT}
    have_key = Bits.HAVE_NETWORK_KEY in state.bitmask
    ncp.tokens = NetworkState(
        parameters=params.replace(nwkManagerId=t.EmberNodeId(0)),
        network_key=bytes(state.networkKey) if have_key else os.urandom(16),
        network_key_seq=int(state.networkKeySequenceNumber) if have_key else 0,
        trust_center=ncp.eui64,
        security_bitmask=int(state.bitmask),
    )
    ncp.tokens.link_key = tc_link_key(ncp)
    ncp.key_table.clear()
    ncp.members.clear()
    ncp.up = True
    ncp.air.emit("form", src=ncp, status="formed", pan_id=int(params.panId),
                 channel=int(params.radioChannel), ext_pan_id=str(params.extendedPanId))
    ncp.callback("stackStatusHandler", status=t.EmberStatus.NETWORK_UP)
    return {"status": OK}


@handles("permitJoining")
def _permit(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    net = ncp.network
    if net is None or net.node_type not in (t.EmberNodeType.COORDINATOR, t.EmberNodeType.ROUTER):
        return {"status": t.EmberStatus.INVALID_CALL}
    duration = int(args["duration"])
    now = ncp.air.now()
    ncp.permit_until = float("inf") if duration == PERMIT_FOREVER else now + duration
    return {"status": OK}


@handles("joinNetwork")
def _join(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    node_type = args["nodeType"]
    if ncp.up or ncp.joining:
        return {"status": t.EmberStatus.INVALID_CALL}
    if ncp.security_state is None:
        return {"status": t.EmberStatus.SECURITY_STATE_NOT_SET}
    if node_type not in (t.EmberNodeType.ROUTER, *END_DEVICES):
        return {"status": t.EmberStatus.BAD_ARGUMENT}
    ncp.joining = True  # until the join task ends
    ncp.start(joining.join(ncp.air, ncp, node_type, args["parameters"]))
    return {"status": OK}


@handles("leaveNetwork")
def _leave(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    if ncp.network is None:
        return {"status": t.EmberStatus.INVALID_CALL}
    ncp.air.loop_soon(joining.leave, ncp.air, ncp, "left (leaveNetwork)")
    return {"status": OK}


@handles("removeDevice")
def _remove(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    net = ncp.network
    if net is None or net.node_type != t.EmberNodeType.COORDINATOR:
        return {"status": t.EmberStatus.INVALID_CALL}
    ncp.air.loop_soon(joining.remove, ncp.air, ncp, args["targetLong"])
    return {"status": OK}


@handles("getParentChildParameters")
def _parent_child(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    tok = ncp.network
    parent = ncp.air.radios.get(tok.parent) if tok is not None and tok.parent else None
    return {
        "childCount": len(joining.children(ncp.air, ncp)) if tok is not None else 0,
        "parentEui64": parent.eui64 if parent else t.EUI64(bytes(8)),
        "parentNodeId": parent.node_id if parent else 0xFFFF,
    }
