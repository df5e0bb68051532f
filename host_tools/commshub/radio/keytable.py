"""NCP key table, security state and tokens (manufacturing and NV3) as bellows reads and writes them.

The key table is the trust centre's table of device link keys
(`ncp.key_table`, EUI-64 -> key, in the NCP's tokens: it survives resets);
CONFIG_KEY_TABLE_SIZE slots, a slot's index is its place in insertion order.
v8-v12 read it with getKeyTableEntry, v12+ with exportLinkKeyByIndex; both
write with addOrUpdateKeyTableEntry (to v12) or importLinkKey (v12+).

NV3 tokens (getTokenData / setTokenData, v9+) are views of the network
tokens (`ncp.tokens`): NODE_DATA, TRUST_CENTER, NETWORK_MANAGEMENT. Writing
one changes the network as a real NCP would after its next reset (here at
once: tx power, update id, the TC's address). Other tokens are NOT_FOUND,
including RESTORED_EUI64 (no rewritable custom EUI-64 in this firmware).
Link-key frame counters are not modelled (zero).
"""

from __future__ import annotations

from typing import Any

import bellows.types as t

from commshub.radio.ncp import VirtualNcp, handles

OK = t.EmberStatus.SUCCESS
NO_KEY = t.KeyData(bytes(16))
NO_EUI = t.EUI64(bytes(8))
DEFAULT_KEY_TABLE_SIZE = 4
NOT_SET = 0xFF  # findKeyTableEntry: no such entry
MFG_TOKENS: dict[int, bytes] = {
    t.EzspMfgTokenId.MFG_STRING: b"commshub".ljust(16, b"\xff"),
    t.EzspMfgTokenId.MFG_BOARD_NAME: b"virtual-ncp".ljust(16, b"\xff"),
    t.EzspMfgTokenId.MFG_CUSTOM_EUI_64: b"\xff" * 8,  # none burnt: the radio's own EUI-64 is used
}
NV3 = t.NV3KeyId


def key_table_size(ncp: VirtualNcp) -> int:
    """Slots in the key table (CONFIG_KEY_TABLE_SIZE)."""
    return int(ncp.config.get(t.EzspConfigId.CONFIG_KEY_TABLE_SIZE, DEFAULT_KEY_TABLE_SIZE))


def _entry(ncp: VirtualNcp, index: int) -> tuple[t.EUI64, bytes] | None:
    items = list(ncp.key_table.items())
    return items[index] if index < len(items) else None


def _put(ncp: VirtualNcp, eui: t.EUI64, key: bytes, index: int | None = None) -> bool:
    """Add or update `eui`'s key (at slot `index` if given); False when the table is full."""
    items = list(ncp.key_table.items())
    if index is not None and index < len(items):
        items[index] = (eui, bytes(key))
        ncp.key_table.clear()
        ncp.key_table.update(dict(items))
        return True
    if eui not in ncp.key_table and len(items) >= key_table_size(ncp):
        return False
    ncp.key_table[eui] = bytes(key)
    return True


@handles("getKeyTableEntry")
def _get_key_entry(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    index = int(args["index"])
    entry = _entry(ncp, index)
    empty = t.EmberKeyStruct(bitmask=t.EmberKeyStructBitmask(0), type=t.EmberKeyType.APPLICATION_LINK_KEY,
                             key=NO_KEY, outgoingFrameCounter=0, incomingFrameCounter=0,
                             sequenceNumber=0, partnerEUI64=NO_EUI)
    if index >= key_table_size(ncp):
        return {"status": t.EmberStatus.INDEX_OUT_OF_RANGE, "keyStruct": empty}
    if entry is None:
        return {"status": t.EmberStatus.TABLE_ENTRY_ERASED, "keyStruct": empty}
    eui, key = entry
    return {"status": OK, "keyStruct": empty.replace(
        bitmask=t.EmberKeyStructBitmask.KEY_HAS_PARTNER_EUI64
        | t.EmberKeyStructBitmask.KEY_IS_AUTHORIZED,
        key=t.KeyData(key), partnerEUI64=eui)}


@handles("exportLinkKeyByIndex")
def _export_link_key(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    entry = _entry(ncp, int(args["index"]))
    meta = t.SecurityManagerAPSKeyMetadata(bitmask=t.EmberKeyStructBitmask(0), outgoing_frame_counter=0,
                                           incoming_frame_counter=0, ttl_in_seconds=0)
    if entry is None:
        return {"eui64": NO_EUI, "plaintext_key": NO_KEY, "key_data": meta, "status": t.sl_Status.NOT_FOUND}
    meta = meta.replace(bitmask=t.EmberKeyStructBitmask.KEY_HAS_PARTNER_EUI64
                        | t.EmberKeyStructBitmask.KEY_IS_AUTHORIZED)
    return {"eui64": entry[0], "plaintext_key": t.KeyData(entry[1]), "key_data": meta,
            "status": t.sl_Status.OK}


@handles("findKeyTableEntry")
def _find_key_entry(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    euis = list(ncp.key_table)
    found = args["address"] in euis and bool(args["linkKey"])
    return {"index": euis.index(args["address"]) if found else NOT_SET}


@handles("eraseKeyTableEntry")
def _erase_key_entry(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    entry = _entry(ncp, int(args["index"]))
    if entry is None:
        return {"status": t.EmberStatus.INDEX_OUT_OF_RANGE}
    del ncp.key_table[entry[0]]
    return {"status": OK}


@handles("addOrUpdateKeyTableEntry")
def _add_key_entry(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    if not args["linkKey"]:
        return {"status": t.EmberStatus.KEY_INVALID}  # master keys: not in Zigbee 3.0 stacks
    ok = _put(ncp, args["address"], args["keyData"])
    return {"status": OK if ok else t.EmberStatus.TABLE_FULL}


@handles("importLinkKey")
def _import_link_key(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    index = int(args["index"])
    if index >= key_table_size(ncp):
        return {"status": t.sl_Status.INVALID_INDEX}
    ok = _put(ncp, args["address"], args["key"], index)
    return {"status": t.sl_Status.OK if ok else t.sl_Status.FULL}


@handles("clearKeyTable")
def _clear_key_table(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    ncp.key_table.clear()
    return {"status": OK}


@handles("getCurrentSecurityState")
def _security_state(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    tok = ncp.network
    if tok is None:
        return {"status": t.EmberStatus.NOT_JOINED,
                "state": t.EmberCurrentSecurityState(bitmask=t.EmberCurrentSecurityBitmask(0),
                                                     trustCenterLongAddress=NO_EUI)}
    bits = t.EmberCurrentSecurityBitmask.GLOBAL_LINK_KEY
    if tok.security_bitmask & t.EmberInitialSecurityBitmask.TRUST_CENTER_USES_HASHED_LINK_KEY:
        bits = t.EmberCurrentSecurityBitmask.TRUST_CENTER_USES_HASHED_LINK_KEY
    return {"status": OK, "state": t.EmberCurrentSecurityState(
        bitmask=bits, trustCenterLongAddress=tok.trust_center or ncp.eui64)}


@handles("getMfgToken")
def _mfg_token(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    return {"tokenData": MFG_TOKENS.get(int(args["tokenId"]), b"")}


# -- NV3 tokens ----------------------------------------------------------------------


def _nv3_read(ncp: VirtualNcp, token: int) -> bytes | None:
    tok = ncp.tokens
    if tok is None:
        return None
    p = tok.parameters
    if token in (NV3.NVM3KEY_STACK_NODE_DATA, NV3.CREATOR_STACK_NODE_DATA):
        return t.NV3StackNodeData(panId=p.panId, radioTxPower=p.radioTxPower,
                                  radioFreqChannel=p.radioChannel, stackProfile=2,
                                  nodeType=tok.node_type, zigbeeNodeId=tok.node_id,
                                  extendedPanId=p.extendedPanId).serialize()
    if token in (NV3.NVM3KEY_STACK_TRUST_CENTER, NV3.CREATOR_STACK_TRUST_CENTER):
        return t.NV3StackTrustCenterToken(mode=0, eui64=tok.trust_center or NO_EUI,
                                          key=t.KeyData(tok.link_key)).serialize()
    if token in (NV3.NVM3KEY_STACK_NETWORK_MANAGEMENT, NV3.CREATOR_STACK_NETWORK_MANAGEMENT):
        return t.NV3StackNetworkManagementToken(active_channels=p.channels, manager_node_id=p.nwkManagerId,
                                                update_id=p.nwkUpdateId, padding=0).serialize()
    return None


def _nv3_write(ncp: VirtualNcp, token: int, data: bytes) -> bool:
    tok = ncp.tokens
    if tok is None or _nv3_read(ncp, token) is None:
        return False
    p = tok.parameters
    if token in (NV3.NVM3KEY_STACK_NODE_DATA, NV3.CREATOR_STACK_NODE_DATA):
        node, _ = t.NV3StackNodeData.deserialize(data)
        tok.parameters = p.replace(panId=node.panId, radioTxPower=node.radioTxPower,
                                   radioChannel=node.radioFreqChannel, extendedPanId=node.extendedPanId)
        tok.node_type, tok.node_id = node.nodeType, int(node.zigbeeNodeId)
    elif token in (NV3.NVM3KEY_STACK_TRUST_CENTER, NV3.CREATOR_STACK_TRUST_CENTER):
        tc, _ = t.NV3StackTrustCenterToken.deserialize(data)
        tok.trust_center, tok.link_key = tc.eui64, bytes(tc.key)
    else:
        mgmt, _ = t.NV3StackNetworkManagementToken.deserialize(data)
        tok.parameters = p.replace(channels=mgmt.active_channels, nwkManagerId=mgmt.manager_node_id,
                                   nwkUpdateId=mgmt.update_id)
    return True


@handles("getTokenData")
def _get_token(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    value = _nv3_read(ncp, int(args["token"])) if int(args["index"]) == 0 else None
    if value is None:
        return {"status": t.EmberStatus.ERR_FATAL, "value": t.LVBytes32(b"")}
    return {"status": OK, "value": t.LVBytes32(value)}


@handles("setTokenData")
def _set_token(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    try:
        ok = int(args["index"]) == 0 and _nv3_write(ncp, int(args["token"]), bytes(args["token_data"]))
    except ValueError:  # short or malformed token data: nothing written
        ok = False
    return {"status": OK if ok else t.EmberStatus.ERR_FATAL}
