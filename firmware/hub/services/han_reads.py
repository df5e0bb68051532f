"""Reads of HAN devices through the hub (`han.read`, docs/RADIO.md "HAN services").

A ZCL Read Attributes goes to a joined device in the log; its answer (Read
Attributes Response, or a Default Response refusing the request) is matched by
sender and ZCL sequence number (TSN) and returned as attribute records. Every
check is done before anything is sent; no answer in time is a `timeout` error.
While a GSME sleeps the Gas Proxy Function answers from its mirror instead
(`self.mirror`, set by hub.services.gpf).
"""

import asyncio

from hub.codecs import zcl
from hub.errors import HubError, bad_args
from hub.services import device_log

_MAX_ATTRS = 16  # a Read Attributes of 16 ids fits one APS frame, and most answers too
_T_DEFAULT_S = 5


def _int(v, lo, hi, what):
    if type(v) is not int or not lo <= v <= hi:
        raise bad_args("%s must be an int %d..%d" % (what, lo, hi))
    return v


def records_view(records):
    """Attribute records (id, status, type, value) as the JSON of a read's result."""
    out = []
    for aid, status, dtype, value in records:
        d = {"id": aid, "status": status}
        if status == zcl.SUCCESS:
            d["type"] = dtype
            d["value"] = value.hex() if isinstance(value, bytes) else value
        out.append(d)
    return out


class Reads:
    def __init__(self, han, devlog, next_tsn):
        self.han = han
        self.devlog = devlog
        self.next_tsn = next_tsn  # fn() -> the hub's next ZCL sequence number (shared by its services)
        self._wait = {}  # (node, tsn) -> [Event, answer payload or None]
        self.mirror = None  # the GPF: answers for sleepy devices, or None
        self.sent = 0
        self.answered = 0
        self.timeouts = 0
        han.responses = self._response

    def device(self, eui):
        """The stored log entry of joined device `eui` (any spelling of 16 hex digits); errors if not."""
        eui = device_log.parse_eui(eui)
        e = self.devlog._find(eui)
        if e is None:
            raise HubError("not_found", "%s is not in the HAN device log" % eui)
        if not e[device_log.JOINED] or e[device_log.NODE] < 0:
            raise HubError("not_joined", "%s has not joined the HAN" % eui)
        return e

    def check(self, args):
        """han.read's arguments -> (log entry, cluster, attrs, endpoint, timeout s); bad_args if wrong."""
        for k in ("device", "cluster", "attrs"):
            if k not in args:
                raise bad_args("missing %s" % k)
        cluster = _int(args["cluster"], 0, 0xFFFF, "cluster")
        attrs = args["attrs"]
        if type(attrs) is not list or not 1 <= len(attrs) <= _MAX_ATTRS:
            raise bad_args("attrs must be a list of 1..%d attribute ids" % _MAX_ATTRS)
        for a in attrs:
            _int(a, 0, 0xFFFF, "attribute id")
        ep = _int(args.get("endpoint", 1), 1, 240, "endpoint")
        t = _int(args.get("timeout_s", _T_DEFAULT_S), 1, 60, "timeout_s")
        return self.device(args["device"]), cluster, attrs, ep, t

    async def read(self, entry, cluster, attrs, ep, timeout_s):
        """Read `attrs` of `cluster` on the device; the han.read result."""
        eui = entry[device_log.EUI]
        if self.mirror is not None:
            r = self.mirror.read(entry, cluster, attrs)
            if r is not None:
                return r
        node = entry[device_log.NODE]
        tsn = self.next_tsn()
        body = bytearray(zcl.encode_header(0, tsn, zcl.READ_ATTRIBUTES))
        for a in attrs:
            body.append(a & 0xFF)
            body.append(a >> 8)
        payload = await self.request(node, cluster, tsn, bytes(body), ep, timeout_s * 1000, eui)
        h = zcl.decode_header(payload)
        if h.cmd == zcl.DEFAULT_RSP:
            st = payload[h.size + 1] if len(payload) > h.size + 1 else zcl.MALFORMED_COMMAND
            raise HubError("zcl_status", "%s refused the read: ZCL status 0x%02X" % (eui, st))
        recs = zcl.decode_attribute_records(payload, h.size, True)
        return {"device": eui, "node": node, "cluster": cluster, "endpoint": ep, "source": "device",
                "attrs": records_view(recs)}

    async def request(self, node, cluster, tsn, frame, ep, timeout_ms, eui):
        """Send ZCL `frame` (TSN `tsn`) to the device; its answer's payload, or a `timeout` error."""
        key = (node, tsn)
        slot = self._wait[key] = [asyncio.Event(), None]
        try:
            await self.han.unicast(node, cluster, frame, dst_ep=ep)
            self.sent += 1
            try:
                await asyncio.wait_for_ms(slot[0].wait(), timeout_ms)
            except asyncio.TimeoutError:
                self.timeouts += 1
                raise HubError("timeout", "no answer from %s in %d s" % (eui, timeout_ms // 1000))
            self.answered += 1
            return slot[1]
        finally:
            self._wait.pop(key, None)

    def _response(self, node, eui, aps, payload):
        # Global answers to the hub's own requests (server -> client); everything else goes on to
        # the cluster receivers. A frame too short for a header is not ours to judge.
        if len(payload) < 3 or not payload[0] & zcl.FC_TO_CLIENT or payload[0] & zcl.FC_CLUSTER:
            return False
        try:
            h = zcl.decode_header(payload)
        except HubError:
            return False
        if h.cmd not in (zcl.READ_ATTRIBUTES_RSP, zcl.DEFAULT_RSP):
            return False
        slot = self._wait.get((node, h.seq))
        if slot is None or slot[1] is not None:
            return False
        slot[1] = payload
        slot[0].set()
        return True

    def status(self):
        return {"sent": self.sent, "answered": self.answered, "timeouts": self.timeouts,
                "pending": len(self._wait)}
