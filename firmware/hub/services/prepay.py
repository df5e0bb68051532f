"""Prepayment between the PPMID and the ESME, through the hub (docs/HAN_DEVICES.md, "PPMID flows").

The hub is the PPMID's only partner on the HAN. What a PPMID in the device log
asks on the Prepayment cluster (0x0705): Read Attributes of its credit display,
Consumer Top Up with a UTRN, Select Emergency Credit, goes to the hub; the hub
sends the same ZCL frame, under a sequence number (TSN) of its own, to the
joined ESME, and passes the ESME's answer back to the PPMID under the PPMID's
TSN. The meter's rules decide (a UTRN accepted once, the reject reason in its
Consumer Top Up Response), and the hub emits `han.top_up` for every top-up
answer, on whichever links are up.

Reads go through to the meter rather than to a mirror: the ESME is mains
powered and always listening, so its live credit costs one round trip, where a
mirror would be stale between reports and cost RAM. A request with no ESME to
go to gets a Default Response NOT_FOUND; an answer that never comes is left to
the PPMID's own timeout (its entry here expires).
"""

import struct
import time

import asyncio
from micropython import const

from hub.codecs import zcl
from hub.services import device_log

PREPAYMENT = const(0x0705)
_ESME, _PPMID = const(1), const(5)  # device log types
_TOP_UP, _TOP_UP_RSP = const(0x03), const(0x03)  # Consumer Top Up and its response (other direction)
_NOT_FOUND = const(0x8B)
_MAX_PENDING = const(4)
_T_PENDING_MS = const(15000)


class Prepay:
    def __init__(self, han, devlog, bus, log, next_tsn):
        self.han = han
        self.devlog = devlog
        self.bus = bus
        self.log = log
        self.next_tsn = next_tsn
        self.pending = {}  # (meter node, hub TSN) -> (PPMID node, PPMID EUI, its TSN, its aps, ticks)

    def _meter(self):
        for e in self.devlog.devices:
            if e[device_log.TYPE] == _ESME and e[device_log.JOINED] and e[device_log.NODE] >= 0:
                return e
        return None

    def frame(self, node, eui, aps, payload):
        """The HAN service's receiver for Prepayment; False leaves a frame to it (han.rx)."""
        try:
            h = zcl.decode_header(payload)
        except Exception:  # noqa - too short for a header: nothing to pass on
            return False
        if h.to_server:
            e = self.devlog._find(eui)
            if e is None or e[device_log.TYPE] != _PPMID:
                return False
            self._to_meter(node, eui, aps, payload, h)
            return True
        p = self.pending.pop((node, h.seq), None)
        if p is None:
            return False
        out = bytearray(payload)
        out[h.size - 2] = p[2]  # the PPMID's TSN again
        if not h.is_global and h.cmd == _TOP_UP_RSP and len(payload) >= h.size + 10:
            r, value, _src, credit = struct.unpack_from("<BiBi", payload, h.size)
            self.bus.emit("han.top_up", {"ppmid": p[1], "meter": eui, "accepted": r == 0, "result": r,
                                         "value": value, "credit_remaining": credit})
        asyncio.create_task(self._send(p[0], bytes(out), p[3][0], p[3][3], p[3][2]))
        return True

    def _to_meter(self, node, eui, aps, payload, h):
        m = self._meter()
        if m is None:
            if not h.is_global and h.cmd == _TOP_UP:
                self.bus.emit("han.top_up", {"ppmid": eui, "meter": None, "accepted": False,
                                             "error": "no_meter"})
            if not h.fc & zcl.FC_NO_DEFAULT_RSP:
                out = zcl.encode_header(zcl.FC_TO_CLIENT | zcl.FC_NO_DEFAULT_RSP, h.seq, zcl.DEFAULT_RSP,
                                        h.manufacturer) + zcl.encode_default_rsp(h.cmd, _NOT_FOUND)
                asyncio.create_task(self._send(node, out, aps[0], aps[3], aps[2]))
            return
        now = time.ticks_ms()
        for k, p in list(self.pending.items()):  # answers that never came
            if time.ticks_diff(now, p[4]) > _T_PENDING_MS or len(self.pending) >= _MAX_PENDING:
                del self.pending[k]
        tsn = self.next_tsn()
        self.pending[(m[device_log.NODE], tsn)] = (node, eui, h.seq, aps, now)
        out = bytearray(payload)
        out[h.size - 2] = tsn
        asyncio.create_task(self._send(m[device_log.NODE], bytes(out), aps[0], aps[3], 1))

    async def _send(self, node, payload, profile, src_ep, dst_ep):
        try:
            await self.han.unicast(node, PREPAYMENT, payload, profile, src_ep, dst_ep)
        except Exception as e:  # the radio went away: the PPMID asks again
            self.log.warn("prepay: frame to 0x%04X not sent (%r)" % (node, e))
