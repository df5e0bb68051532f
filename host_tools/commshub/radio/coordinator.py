"""Handlers a zigpy ControllerApplication (bellows) needs to start on the virtual NCP.

Most of what a coordinator's startup asks is bookkeeping the virtual radio
does not model yet (counters, key tables, GP tables, concentrator, TX power):
those commands are accepted with an all-zero response, i.e. SUCCESS and
empty/zero fields (`ACCEPTED`). The rest have real handlers here. Importing
this module registers them with `commshub.radio.ncp`.
"""

from __future__ import annotations

from typing import Any

import bellows.types as t

from commshub.radio.ncp import VirtualNcp, handles

# Accepted with every response field zero: status SUCCESS, counts 0, bytes empty.
ACCEPTED = (
    "clearKeyTable",
    "tokenFactoryReset",
    "addOrUpdateKeyTableEntry",
    "importLinkKey",
    "setChildData",
    "setConcentrator",
    "setSourceRouteDiscoveryMode",
    "setManufacturerCode",
    "setRadioPower",
    "setMulticastTableEntry",
    "setExtendedTimeout",
    "gpProxyTableProcessGpPairing",
    "setRadioIeee802154CcaMode",
    "gpSinkTableClearAll",
)
MFG_TOKENS: dict[int, bytes] = {
    t.EzspMfgTokenId.MFG_STRING: b"commshub".ljust(16, b"\xff"),
    t.EzspMfgTokenId.MFG_BOARD_NAME: b"virtual-ncp".ljust(16, b"\xff"),
    t.EzspMfgTokenId.MFG_CUSTOM_EUI_64: b"\xff" * 8,  # none burnt
}


def zero_response(ncp: VirtualNcp, name: str) -> dict[str, Any]:
    """The named command's response with every field parsed from zero bytes."""
    _, _, rsp_schema = ncp.commands[name]
    values, _ = t.deserialize_dict(bytes(512), rsp_schema)
    return values


def _accept(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    return zero_response(ncp, ncp.received[-1])


for _name in ACCEPTED:
    handles(_name)(_accept)


@handles("readCounters", "readAndClearCounters")
def _counters(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    return {"values": [t.uint16_t(0)] * len(t.EmberCounterType)}


@handles("getMfgToken")
def _mfg_token(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    return {"tokenData": MFG_TOKENS.get(int(args["tokenId"]), b"")}


@handles("leaveNetwork")
def _leave(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    if ncp.network is None:
        return {"status": t.EmberStatus.INVALID_CALL}
    ncp.network = None
    ncp.callback("stackStatusHandler", status=t.EmberStatus.NETWORK_DOWN)
    return {"status": t.EmberStatus.SUCCESS}


@handles("getKeyTableEntry")
def _key_entry(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    rsp = zero_response(ncp, "getKeyTableEntry")
    rsp["status"] = t.EmberStatus.TABLE_ENTRY_ERASED
    return rsp


@handles("getChildData")
def _child(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    rsp = zero_response(ncp, "getChildData")
    rsp["status"] = t.EmberStatus.NOT_JOINED
    return rsp


@handles("getKey")
def _get_key(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    """v8-v12: the network key / TC link key from setInitialSecurityState."""
    assert args is not None
    state = ncp.security_state
    if state is None or ncp.network is None:
        rsp = zero_response(ncp, "getKey")
        rsp["status"] = t.EmberStatus.KEY_INVALID
        return rsp
    network = args["keyType"] == t.EmberKeyType.CURRENT_NETWORK_KEY
    key = t.EmberKeyStruct(
        bitmask=t.EmberKeyStructBitmask.KEY_HAS_SEQUENCE_NUMBER
        | t.EmberKeyStructBitmask.KEY_HAS_OUTGOING_FRAME_COUNTER,
        type=args["keyType"],
        key=state.networkKey if network else state.preconfiguredKey,
        outgoingFrameCounter=0,
        incomingFrameCounter=0,
        sequenceNumber=state.networkKeySequenceNumber if network else 0,
        partnerEUI64=t.EUI64(ncp.eui64) if not network else t.EUI64(bytes(8)),
    )
    return {"status": t.EmberStatus.SUCCESS, "keyStruct": key}


@handles("getCurrentSecurityState")
def _security_state(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    """We are the trust centre; the hashed-TCLK flag follows setInitialSecurityState."""
    bits = t.EmberCurrentSecurityBitmask.GLOBAL_LINK_KEY
    state = ncp.security_state
    if state is not None and (
        t.EmberInitialSecurityBitmask.TRUST_CENTER_USES_HASHED_LINK_KEY in state.bitmask
    ):
        bits = t.EmberCurrentSecurityBitmask.TRUST_CENTER_USES_HASHED_LINK_KEY
    return {
        "status": t.EmberStatus.SUCCESS,
        "state": t.EmberCurrentSecurityState(bitmask=bits, trustCenterLongAddress=ncp.eui64),
    }
