"""NCP security handlers and the trust centre's join decision.

The trust-centre policy (setPolicy TRUST_CENTER_POLICY) is EmberZNet's
bitmask: ALLOW_JOINS, JOINS_USE_INSTALL_CODE_KEY, SEND_KEY_IN_CLEAR (the
rest is accepted and not modelled). Transient link keys (addTransientLinkKey
up to v12, importTransientKey at v13) are RAM and expire after
CONFIG_TRANSIENT_KEY_TIMEOUT_S or VALUE_TRANSIENT_KEY_TIMEOUT_S (default 300 s of air time), as EmberZNet's do;
the key table of devices that joined (`ncp.key_table`) is in tokens.
`aesMmoHash` is real AES-MMO (commshub.radio.aesmmo).
"""

from __future__ import annotations

from typing import Any

import bellows.types as t

from commshub.radio import aesmmo
from commshub.radio.ncp import VirtualNcp, handles

OK = t.EmberStatus.SUCCESS
WELL_KNOWN_KEY = b"ZigBeeAlliance09"
DEFAULT_TC_POLICY = (t.EzspDecisionBitmask.ALLOW_JOINS
                     | t.EzspDecisionBitmask.ALLOW_UNSECURED_REJOINS)
TRANSIENT_KEY_TIMEOUT_S = 300
Bits = t.EmberInitialSecurityBitmask


def transient_key(ncp: VirtualNcp, eui: t.EUI64) -> bytes | None:
    """The unexpired transient key for `eui` at this TC, if any."""
    entry = ncp.transient_keys.get(eui)
    if entry is None:
        return None
    key, expiry = entry
    if ncp.air.now() >= expiry:
        del ncp.transient_keys[eui]
        return None
    return key


def _add_transient(ncp: VirtualNcp, eui: t.EUI64, key: bytes) -> None:
    # Either knob sets it (EmberZNet has both): the configuration value, else the value.
    raw = ncp.values.get(t.EzspValueId.VALUE_TRANSIENT_KEY_TIMEOUT_S)
    timeout = ncp.config.get(t.EzspConfigId.CONFIG_TRANSIENT_KEY_TIMEOUT_S,
                             int.from_bytes(raw[:2], "little") if raw else TRANSIENT_KEY_TIMEOUT_S)
    ncp.transient_keys[eui] = (bytes(key), ncp.air.now() + timeout)


def tc_link_key(ncp: VirtualNcp) -> bytes:
    """The TC link key a network formed now gets (kept in tokens: `ncp.tokens.link_key`)."""
    state = ncp.security_state
    if state is None or Bits.HAVE_PRECONFIGURED_KEY not in state.bitmask:
        return WELL_KNOWN_KEY
    if Bits.TRUST_CENTER_USES_HASHED_LINK_KEY in state.bitmask:
        return WELL_KNOWN_KEY  # joiners use the well-known key; per-device keys come later
    return bytes(state.preconfiguredKey)


def tc_decision(tc: VirtualNcp, eui: t.EUI64) -> tuple[t.EmberJoinDecision, bytes | None, str]:
    """The trust centre's decision for a joiner: (decision, key it encrypts with, why)."""
    policy = tc.policies.get(t.EzspPolicyId.TRUST_CENTER_POLICY, DEFAULT_TC_POLICY)
    if not policy & t.EzspDecisionBitmask.ALLOW_JOINS:
        return t.EmberJoinDecision.DENY_JOIN, None, "joins not allowed by the TC policy"
    key = transient_key(tc, eui)
    if key is not None:
        return t.EmberJoinDecision.USE_PRECONFIGURED_KEY, key, "transient key"
    if policy & t.EzspDecisionBitmask.JOINS_USE_INSTALL_CODE_KEY:
        return t.EmberJoinDecision.DENY_JOIN, None, "no install-code key for this device at the TC"
    if policy & t.EzspDecisionBitmask.SEND_KEY_IN_CLEAR:
        return t.EmberJoinDecision.SEND_KEY_IN_THE_CLEAR, None, "key sent in the clear"
    assert tc.tokens is not None
    return t.EmberJoinDecision.USE_PRECONFIGURED_KEY, tc.tokens.link_key, "TC link key"


def joiner_key(ncp: VirtualNcp) -> bytes:
    """The preconfigured link key a joiner decrypts the network key with."""
    state = ncp.security_state
    if state is None or Bits.HAVE_PRECONFIGURED_KEY not in state.bitmask:
        return WELL_KNOWN_KEY
    return bytes(state.preconfiguredKey)


@handles("setInitialSecurityState")
def _security(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    if ncp.up:
        return {"status": t.EmberStatus.INVALID_CALL}  # only before forming/joining
    ncp.security_state = args["state"]
    return {"status": OK}


@handles("aesMmoHash")
def _aes_mmo(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    ctx = args["context"]
    result, length = bytes(ctx.result), int(ctx.length)
    data = bytes(args["data"])
    try:
        if args["finalize"]:
            result, length = aesmmo.mmo_final(result, length, data)
        else:
            result, length = aesmmo.mmo_update(result, length, data)
        status = OK
    except ValueError:
        status = t.EmberStatus.BAD_ARGUMENT
    out = t.EmberAesMmoHashContext.deserialize(result + length.to_bytes(4, "little"))[0]
    return {"status": status, "returnContext": out}


@handles("addTransientLinkKey")
def _add_transient_v8(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    _add_transient(ncp, args["partner"], args["transientKey"])
    return {"status": OK}


@handles("importTransientKey")
def _import_transient_v13(ncp: VirtualNcp, args: dict[str, Any] | None,
                          raw: bytes) -> dict[str, Any]:
    assert args is not None
    _add_transient(ncp, args["eui64"], args["plaintext_key"])
    return {"status": t.sl_Status.OK}


@handles("clearTransientLinkKeys")
def _clear_transient(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> None:
    ncp.transient_keys.clear()


@handles("getKey")
def _get_key(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    """v8-v12: the current network key or our TC link key."""
    assert args is not None
    tok = ncp.tokens
    key_type = args["keyType"]
    if tok is None or key_type not in (t.EmberKeyType.CURRENT_NETWORK_KEY,
                                       t.EmberKeyType.TRUST_CENTER_LINK_KEY):
        return {"status": t.EmberStatus.KEY_INVALID,
                "keyStruct": t.EmberKeyStruct.deserialize(bytes(64))[0]}
    network = key_type == t.EmberKeyType.CURRENT_NETWORK_KEY
    key = t.EmberKeyStruct(
        bitmask=t.EmberKeyStructBitmask.KEY_HAS_SEQUENCE_NUMBER
        | t.EmberKeyStructBitmask.KEY_HAS_OUTGOING_FRAME_COUNTER
        | (t.EmberKeyStructBitmask(0) if network
           else t.EmberKeyStructBitmask.KEY_HAS_PARTNER_EUI64),
        type=key_type,
        key=t.KeyData(tok.network_key if network else tok.link_key),
        outgoingFrameCounter=0,
        incomingFrameCounter=0,
        sequenceNumber=tok.network_key_seq if network else 0,
        partnerEUI64=t.EUI64(bytes(8)) if network else (tok.trust_center or ncp.eui64),
    )
    return {"status": OK, "keyStruct": key}


@handles("exportKey")
def _export_key(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    """v13: network key, TC link key, or a device's link key (APP_LINK by EUI-64)."""
    assert args is not None
    ctx = args["context"]
    tok = ncp.tokens
    kind = ctx.core_key_type
    if tok is None:
        return {"key": t.KeyData(bytes(16)), "status": t.sl_Status.NOT_JOINED}
    if kind == t.SecurityManagerKeyType.NETWORK:
        key: bytes | None = tok.network_key
    elif kind == t.SecurityManagerKeyType.TC_LINK:
        key = tok.link_key
    elif kind == t.SecurityManagerKeyType.APP_LINK:
        key = ncp.key_table.get(ctx.eui64)
    else:
        key = None
    if key is None:
        return {"key": t.KeyData(bytes(16)), "status": t.sl_Status.NOT_FOUND}
    return {"key": t.KeyData(key), "status": t.sl_Status.OK}


@handles("getNetworkKeyInfo")
def _network_key_info(ncp: VirtualNcp, args: dict[str, Any] | None,
                      raw: bytes) -> dict[str, Any]:
    tok = ncp.tokens
    info = t.SecurityManagerNetworkKeyInfo(
        network_key_set=t.Bool(tok is not None),
        alternate_network_key_set=t.Bool.false,
        network_key_sequence_number=tok.network_key_seq if tok else 0,
        alt_network_key_sequence_number=0,
        network_key_frame_counter=0,
    )
    return {"status": t.sl_Status.OK, "network_key_info": info}
