"""NCP counters (readCounters, readAndClearCounters), counted from what the air reports.

EmberZNet counts in its stack; the virtual NCP's stack is the air, so each
NCP gets an air listener from power-on (a boot hook) that counts the events
about it, see `COUNTED`. Counters are RAM: a reset zeroes them. The counters nothing in the model
produces (ASH, PTA, PHY, security failures) stay zero.
"""

from __future__ import annotations

import collections
from typing import Any
import weakref

import bellows.types as t

from commshub.radio.ncp import BOOT_HOOKS, VirtualNcp, handles

C = t.EmberCounterType
# What each counter counts here (event kinds are the air's, see air.AirEvent).
COUNTED = {
    C.COUNTER_MAC_RX_UNICAST: "unicasts delivered to us",
    C.COUNTER_APS_DATA_RX_UNICAST: "unicasts delivered to us",
    C.COUNTER_MAC_RX_BROADCAST: "broadcasts delivered to us",
    C.COUNTER_APS_DATA_RX_BROADCAST: "broadcasts delivered to us",
    C.COUNTER_MAC_TX_BROADCAST: "broadcasts we sent",
    C.COUNTER_APS_DATA_TX_BROADCAST: "broadcasts we sent",
    C.COUNTER_APS_DATA_TX_UNICAST_SUCCESS: "our unicasts delivered",
    C.COUNTER_MAC_TX_UNICAST_SUCCESS: "our unicasts delivered",
    C.COUNTER_APS_DATA_TX_UNICAST_FAILED: "our unicasts lost for good",
    C.COUNTER_APS_DATA_TX_UNICAST_RETRY: "APS retransmissions of ours (acks after the 1st try)",
    C.COUNTER_JOIN_INDICATION: "devices that joined through us",
}

_LISTENING: weakref.WeakSet[VirtualNcp] = weakref.WeakSet()


def counters(ncp: VirtualNcp) -> collections.Counter[int]:
    """This NCP's counters (RAM: a reset zeroes them); the first call starts counting (at boot)."""
    if ncp not in _LISTENING:
        _LISTENING.add(ncp)
        ref = weakref.ref(ncp)

        def count(event: Any) -> None:
            me = ref()
            if me is not None:
                _count(me, counters(me), event)

        ncp.air.add_listener(count)
    found: collections.Counter[int] = ncp.ram.setdefault("counters", collections.Counter())
    return found


BOOT_HOOKS.append(counters)  # count from power-on; each reboot gets a fresh ncp.ram


def _is(addr: Any, ncp: VirtualNcp) -> bool:
    return addr is not None and addr.eui64 == str(ncp.eui64)


def _count(ncp: VirtualNcp, counts: collections.Counter[int], ev: Any) -> None:
    if ev.kind == "delivered" and _is(ev.dst, ncp):
        if "BROADCAST" in ev.status:
            counts.update([C.COUNTER_MAC_RX_BROADCAST, C.COUNTER_APS_DATA_RX_BROADCAST])
        else:
            counts.update([C.COUNTER_MAC_RX_UNICAST, C.COUNTER_APS_DATA_RX_UNICAST])
    elif ev.kind == "delivered" and _is(ev.src, ncp) and "BROADCAST" not in ev.status:
        counts.update([C.COUNTER_APS_DATA_TX_UNICAST_SUCCESS, C.COUNTER_MAC_TX_UNICAST_SUCCESS])
    elif ev.kind == "broadcast" and _is(ev.src, ncp):
        counts.update([C.COUNTER_MAC_TX_BROADCAST, C.COUNTER_APS_DATA_TX_BROADCAST])
    elif ev.kind == "aps_ack" and _is(ev.dst, ncp):
        counts[C.COUNTER_APS_DATA_TX_UNICAST_RETRY] += int(ev.detail.get("attempt", 1)) - 1
    elif ev.kind == "lost" and _is(ev.src, ncp) and ev.aps is not None \
            and not ev.status.startswith("broadcast"):
        counts[C.COUNTER_APS_DATA_TX_UNICAST_FAILED] += 1
    elif ev.kind == "join" and _is(ev.dst, ncp):
        counts[C.COUNTER_JOIN_INDICATION] += 1


@handles("readCounters", "readAndClearCounters")
def _read_counters(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    counts = counters(ncp)
    values = [t.uint16_t(min(counts[c], 0xFFFF)) for c in t.EmberCounterType]
    if ncp.received[-1] == "readAndClearCounters":
        counts.clear()
    return {"values": values}
