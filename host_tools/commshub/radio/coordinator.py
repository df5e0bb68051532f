"""NCP bookkeeping a zigpy ControllerApplication (bellows) uses, on state the virtual NCP has.

As EmberZNet keeps them:

- address table (CONFIG_ADDRESS_TABLE_SIZE slots the host fills with
  replaceAddressTableEntry), extended timeouts, multicast table
  (CONFIG_MULTICAST_TABLE_SIZE), concentrator and source-route discovery
  settings, manufacturer code, CCA mode: RAM (`ncp.ram`), lost on reset.
- child table: the end devices on the air whose parent we are, plus entries
  a host restored with setChildData (kept with the tokens).
- tx power (setRadioPower) is the network's, as getNetworkParameters reports it.
- tokenFactoryReset erases the network, members, key and child tables.

The rest of the bookkeeping registers from its own modules, imported here:
`counters` (readCounters), `keytable` (key table, security state,
manufacturing and NV3 tokens), `scan` (energy and active scans).
"""

from __future__ import annotations

import dataclasses
from typing import Any
import weakref

import bellows.types as t

from commshub.radio import counters as _counters  # noqa: F401  (registers its handlers)
from commshub.radio import keytable as _keytable  # noqa: F401  (registers its handlers)
from commshub.radio import scan as _scan  # noqa: F401  (registers its handlers)
from commshub.radio.ncp import VirtualNcp, handles

OK = t.EmberStatus.SUCCESS
UNUSED_NODE = 0xFFFF  # EMBER_TABLE_ENTRY_UNUSED_NODE_ID
NO_EUI = t.EUI64(bytes(8))
DEFAULT_SIZES = {t.EzspConfigId.CONFIG_ADDRESS_TABLE_SIZE: 8,
                 t.EzspConfigId.CONFIG_MULTICAST_TABLE_SIZE: 8,
                 t.EzspConfigId.CONFIG_MAX_END_DEVICE_CHILDREN: 32}
MIN_TX_POWER, MAX_TX_POWER = -26, 20


@dataclasses.dataclass
class AddressEntry:
    """One address table slot."""

    eui64: t.EUI64 = NO_EUI
    node_id: int = UNUSED_NODE
    extended_timeout: bool = False


@dataclasses.dataclass
class Ram:
    """Our per-boot state (in `ncp.ram`, so a reset loses it)."""

    address_table: list[AddressEntry]
    multicast: list[t.EmberMulticastTableEntry]
    extended_timeout: dict[t.EUI64, bool] = dataclasses.field(default_factory=dict)
    concentrator: dict[str, Any] = dataclasses.field(default_factory=dict)
    mtorr_due: float | None = None  # air time of the next many-to-one route request
    manufacturer_code: int = 0x1002  # Silicon Labs
    cca_mode: int = 0


# Our part of the NCP's tokens (survive resets): children a host restored.
_TOKENS: weakref.WeakKeyDictionary[VirtualNcp, dict[t.EUI64, t.EmberChildDataV10]] = \
    weakref.WeakKeyDictionary()


def size(ncp: VirtualNcp, cid: t.EzspConfigId) -> int:
    """A table size as configured by the host, else EmberZNet's default."""
    return int(ncp.config.get(cid, DEFAULT_SIZES.get(cid, 0)))


def ram(ncp: VirtualNcp) -> Ram:
    """This boot's tables, sized by the configuration in force when first used."""
    state = ncp.ram.get("coordinator")
    if state is None:
        multicast = [t.EmberMulticastTableEntry(multicastId=0, endpoint=0, networkIndex=0)
                     for _ in range(size(ncp, t.EzspConfigId.CONFIG_MULTICAST_TABLE_SIZE))]
        state = Ram([AddressEntry() for _ in range(size(ncp, t.EzspConfigId.CONFIG_ADDRESS_TABLE_SIZE))],
                    multicast)
        ncp.ram["coordinator"] = state
    return state




def restored_children(ncp: VirtualNcp) -> dict[t.EUI64, t.EmberChildDataV10]:
    """Child entries a host wrote with setChildData (tokens: they survive resets)."""
    return _TOKENS.setdefault(ncp, {})


# -- address table -------------------------------------------------------------------


def _slot(ncp: VirtualNcp, args: dict[str, Any] | None, key: str = "addressTableIndex") -> AddressEntry | None:
    assert args is not None
    table = ram(ncp).address_table
    index = int(args[key])
    return table[index] if index < len(table) else None


@handles("getAddressTableRemoteNodeId")
def _addr_node_id(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    entry = _slot(ncp, args)
    return {"nodeId": entry.node_id if entry else UNUSED_NODE}


@handles("getAddressTableRemoteEui64")
def _addr_eui64(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    entry = _slot(ncp, args)
    return {"eui64": entry.eui64 if entry else NO_EUI}


@handles("setAddressTableRemoteEui64")
def _addr_set_eui64(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    entry = _slot(ncp, args)
    if entry is None:
        return {"status": t.EmberStatus.INDEX_OUT_OF_RANGE}
    assert args is not None
    entry.eui64, entry.node_id = args["eui64"], _known_node_id(ncp, args["eui64"])
    return {"status": OK}


@handles("setAddressTableRemoteNodeId")
def _addr_set_node_id(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> None:
    entry = _slot(ncp, args)
    if entry is not None:
        assert args is not None
        entry.node_id = int(args["id"])


@handles("replaceAddressTableEntry")
def _addr_replace(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    entry = _slot(ncp, args)
    if entry is None:
        return {"status": t.EmberStatus.INDEX_OUT_OF_RANGE, "oldEui64": NO_EUI,
                "oldId": UNUSED_NODE, "oldExtendedTimeout": t.Bool.false}
    assert args is not None
    old = dataclasses.replace(entry)
    entry.eui64, entry.node_id = args["newEui64"], int(args["newId"])
    entry.extended_timeout = bool(args["newExtendedTimeout"])
    ram(ncp).extended_timeout[entry.eui64] = entry.extended_timeout
    return {"status": OK, "oldEui64": old.eui64, "oldId": old.node_id,
            "oldExtendedTimeout": t.Bool(old.extended_timeout)}


def _neighbours(ncp: VirtualNcp) -> list[VirtualNcp]:
    """Radios up on our network: on the single-hop air every one is a neighbour."""
    net = ncp.network
    return [] if net is None else [n for n in ncp.air.on_network(net) if n is not ncp]


def _known_node_id(ncp: VirtualNcp, eui: t.EUI64) -> int:
    """What the stack knows of `eui`'s short address: address table, neighbours, children."""
    for entry in ram(ncp).address_table:
        if entry.eui64 == eui and entry.node_id != UNUSED_NODE:
            return entry.node_id
    for n in _neighbours(ncp):
        if n.eui64 == eui:
            return n.node_id
    child = restored_children(ncp).get(eui)
    if child is not None:
        return int(child.id)
    return 0xFFFF if eui != ncp.eui64 or ncp.network is None else ncp.node_id


@handles("lookupNodeIdByEui64")
def _lookup_node_id(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    return {"nodeId": _known_node_id(ncp, args["eui64"])}


@handles("lookupEui64ByNodeId")
def _lookup_eui64(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    node_id = int(args["nodeId"])
    if ncp.network is not None and node_id == ncp.node_id:
        return {"status": OK, "eui64": ncp.eui64}
    for entry in ram(ncp).address_table:
        if entry.node_id == node_id and entry.eui64 != NO_EUI:
            return {"status": OK, "eui64": entry.eui64}
    for n in _neighbours(ncp):
        if n.node_id == node_id:
            return {"status": OK, "eui64": n.eui64}
    return {"status": t.EmberStatus.ERR_FATAL, "eui64": NO_EUI}


@handles("setExtendedTimeout")
def _set_ext_timeout(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> None:
    assert args is not None
    eui, on = args["remoteEui64"], bool(args["extendedTimeout"])
    state = ram(ncp)
    state.extended_timeout[eui] = on
    for entry in state.address_table:
        if entry.eui64 == eui:
            entry.extended_timeout = on


@handles("getExtendedTimeout")
def _get_ext_timeout(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    return {"extendedTimeout": t.Bool(ram(ncp).extended_timeout.get(args["remoteEui64"], False))}


# -- multicast table ---------------------------------------------------------------------


@handles("getMulticastTableEntry")
def _get_multicast(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    table, index = ram(ncp).multicast, int(args["index"])
    if index >= len(table):
        return {"status": t.EmberStatus.INDEX_OUT_OF_RANGE,
                "value": t.EmberMulticastTableEntry(multicastId=0, endpoint=0, networkIndex=0)}
    return {"status": OK, "value": table[index]}


@handles("setMulticastTableEntry")
def _set_multicast(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    table, index = ram(ncp).multicast, int(args["index"])
    if index >= len(table):
        return {"status": t.EmberStatus.INDEX_OUT_OF_RANGE}
    table[index] = args["value"]
    return {"status": OK}


# -- child table ---------------------------------------------------------------------------


def child_table(ncp: VirtualNcp) -> list[t.EmberChildDataV10]:
    """Our children: end devices on the air whose parent we are, then restored entries."""
    entries: dict[t.EUI64, t.EmberChildDataV10] = dict(restored_children(ncp))
    if ncp.network is not None:
        for n in ncp.air.radios.values():
            tok = n.tokens
            if tok is not None and tok.parent == ncp.eui64 and n.eui64 not in entries:
                entries[n.eui64] = t.EmberChildDataV10(
                    eui64=n.eui64, type=tok.node_type, id=tok.node_id, phy=0, power=0,
                    timeout=8, timeout_remaining=0)  # 8: EmberZNet's default (256 min)
    return list(entries.values())[:size(ncp, t.EzspConfigId.CONFIG_MAX_END_DEVICE_CHILDREN)]


@handles("getChildData")
def _get_child(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    field = "childData" if ncp.protocol_version < 10 else "child_data"  # V7 struct before v10
    table, index = child_table(ncp), int(args["index"])
    if index >= len(table):
        empty = t.EmberChildDataV10(eui64=NO_EUI, type=t.EmberNodeType.UNKNOWN_DEVICE,
                                    id=UNUSED_NODE, phy=0, power=0, timeout=0, timeout_remaining=0)
        return {"status": t.EmberStatus.NOT_JOINED, field: _child_struct(ncp, empty)}
    return {"status": OK, field: _child_struct(ncp, table[index])}


def _child_struct(ncp: VirtualNcp, data: t.EmberChildDataV10) -> Any:
    if ncp.protocol_version >= 10:
        return data
    return t.EmberChildDataV7(eui64=data.eui64, type=data.type, id=data.id, phy=data.phy,
                              power=data.power, timeout=data.timeout)


@handles("setChildData")
def _set_child(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    data = args["child_data"]
    limit = size(ncp, t.EzspConfigId.CONFIG_MAX_END_DEVICE_CHILDREN)
    children = restored_children(ncp)
    if int(args["index"]) >= limit or (data.eui64 not in children and len(children) >= limit):
        return {"status": t.EmberStatus.INDEX_OUT_OF_RANGE}
    children[data.eui64] = t.EmberChildDataV10(  # v9 writes the V7 struct
        eui64=data.eui64, type=data.type, id=data.id, phy=data.phy, power=data.power,
        timeout=data.timeout, timeout_remaining=getattr(data, "timeout_remaining", 0))
    return {"status": OK}


@handles("tokenFactoryReset")
def _token_factory_reset(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> None:
    """Erase the stack's tokens: network, members, key and child tables (the host resets the NCP next)."""
    ncp.tokens = None
    ncp.key_table.clear()
    ncp.members.clear()
    restored_children(ncp).clear()


# -- radio and routing settings (RAM) --------------------------------------------------------


@handles("setConcentrator")
def _set_concentrator(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    state = ram(ncp)
    if args["on"] and not 0 < int(args["minTime"]) <= int(args["maxTime"]):
        return {"status": t.EmberStatus.BAD_ARGUMENT}
    state.concentrator = {k: int(v) for k, v in args.items()} if args["on"] else {}
    state.mtorr_due = ncp.air.now() + int(args["minTime"]) if args["on"] else None
    return {"status": OK}


@handles("setSourceRouteDiscoveryMode")
def _source_route_mode(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    """OFF (0) stops many-to-one route requests, ON (1) / RESCHEDULE (2) schedule the next."""
    assert args is not None
    state = ram(ncp)
    mode = int(args["mode"])
    if mode == 0 or not state.concentrator:
        state.mtorr_due = None
        return {"remainingTime": 0xFFFFFFFF}  # EmberZNet: MAX_INT32U when off
    if mode == 2 or state.mtorr_due is None:
        state.mtorr_due = ncp.air.now() + state.concentrator["minTime"]
    return {"remainingTime": max(0, int((state.mtorr_due - ncp.air.now()) * 1000))}


@handles("setManufacturerCode")
def _set_mfr_code(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> None:
    assert args is not None
    ram(ncp).manufacturer_code = int(args["code"])  # our node descriptor's manufacturer code


@handles("setRadioPower")
def _set_radio_power(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    """The transmit power (dBm) of the network we are on; EFR32 range -26..20."""
    assert args is not None
    power = int(args["power"])
    if ncp.network is None:
        return {"status": t.EmberStatus.NOT_JOINED}
    if not MIN_TX_POWER <= power <= MAX_TX_POWER:
        return {"status": t.EmberStatus.BAD_ARGUMENT}
    tok = ncp.network
    tok.parameters = tok.parameters.replace(radioTxPower=power)
    return {"status": OK}


@handles("setRadioIeee802154CcaMode")
def _set_cca_mode(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    mode = int(args["cca_mode"])
    if mode > 3:  # RAIL: 0 signal, 1 energy, 2 signal and energy, 3 signal or energy
        return {"status": t.EmberStatus.BAD_ARGUMENT}
    ram(ncp).cca_mode = mode
    return {"status": OK}
