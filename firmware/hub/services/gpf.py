"""Gas Proxy Function: the hub's stand-in for the sleepy GSME (docs/RADIO.md, "HAN services";
../shared/docs/domain.md).

Mirror: the Metering attributes a GSME reports on waking (Report Attributes) are
kept with the time they came; `han.read` of a GSME is answered from them
(`source: "mirror"`), since the meter itself hears nothing while it sleeps.
Reading the mirror and queueing are in hub.services.gpf_ops (loaded with
their commands); this keeps the mirror, the queue and the tunnel.

Queue: messages for a GSME (`han.gsme.queue`, GBCS bytes) wait until it polls.
On waking it opens a GB-HGRP tunnel (Tunneling 0x0704 RequestTunnel) and sends
TransferData GET (0x01); each GET is answered with TransferData GET-RESPONSE
(0x02, the count still waiting after this one, then one message or none). The
GSME's responses (TransferData 0x03 + response) come out as `han.gsme.response`
events. The queue is stored (atomically) when a command is queued and when one
has been delivered (APS acknowledged): a power cut loses no queued command (one
cut in the middle of a hand-over may deliver it twice).
"""

import struct
from binascii import hexlify, unhexlify

import asyncio
from micropython import const

from hub.codecs import zcl
from hub.errors import HubError
from hub.services import device_log

SE_PROFILE = const(0x0109)
METERING = const(0x0702)
TUNNELING = const(0x0704)
_GSME = const(0)  # device log type
_GET, _GET_RSP, _RESPONSE = const(1), const(2), const(3)
_GB_HGRP = const(6)
_MAX_TRANSFER = const(1500)
_FC = zcl.FC_CLUSTER | zcl.FC_TO_CLIENT | zcl.FC_NO_DEFAULT_RSP


class Gpf:
    def __init__(self, han, devlog, store, clock, bus, log):
        self.han = han
        self.devlog = devlog
        self.store = store
        self.clock = clock
        self.bus = bus
        self.log = log
        self.mirror = {}  # eui -> {attr id: (type, value)}, and "utc": when the last report came
        self.polls = {}  # eui -> UTC of the last GET
        self.delivered = 0
        q = store.load("gpf", {})
        self.queues = q if isinstance(q, dict) else {}  # eui -> [message hex, ...]
        han.receivers[(SE_PROFILE, METERING)] = self._report
        han.receivers[(SE_PROFILE, TUNNELING)] = self._tunnel

    def _gsme(self, eui):
        e = self.devlog._find(eui)
        return e is not None and e[device_log.TYPE] == _GSME

    # -- mirror ------------------------------------------------------------------------

    def _report(self, node, eui, aps, payload):
        if not self._gsme(eui):
            return False  # not mirrored: the HAN service shows it as han.rx
        try:
            h = zcl.decode_header(payload)
            if not h.is_global or h.cmd != zcl.REPORT_ATTRIBUTES:
                return False
            recs = zcl.decode_attribute_records(payload, h.size, False)
        except HubError:
            return  # malformed report: nothing mirrored
        m = self.mirror.setdefault(eui, {})
        for aid, _st, dtype, value in recs:
            m[aid] = (dtype, value)
        m["utc"] = self.clock.utc()

    # -- tunnel ------------------------------------------------------------------------

    def _tunnel(self, node, eui, aps, payload):
        if not self._gsme(eui):
            return False  # the GPF tunnels for GSMEs only: the HAN service shows it as han.rx
        try:
            h = zcl.decode_header(payload)
            if h.is_global or not h.to_server:
                return
            if h.cmd == 0x00:  # RequestTunnel: protocol, manufacturer, flow control, max size
                proto = payload[h.size]
                ok = proto == _GB_HGRP
                out = zcl.encode_header(_FC, h.seq, 0x00) + struct.pack(
                    "<HBH", 1 if ok else 0xFFFF, 0 if ok else 0x03, _MAX_TRANSFER)  # 3: protocol not supported
            elif h.cmd == 0x02 and len(payload) > h.size + 2:  # TransferData: tunnel id, data
                tid = payload[h.size] | payload[h.size + 1] << 8
                data = payload[h.size + 2:]
                if data[0] == _RESPONSE:
                    self.bus.emit("han.gsme.response", {"eui64": eui, "response": hexlify(data[1:]).decode()})
                    return
                if data[0] != _GET:
                    return
                out, msg = self._get_response(eui, h.seq, tid)
                asyncio.create_task(self._hand_over(node, eui, aps, out, msg))
                return
            else:
                return
        except Exception as e:  # a malformed frame: no answer
            self.log.warn("gpf: bad tunnel frame from %s (%r)" % (eui, e))
            return
        asyncio.create_task(self._send(node, aps, out))

    def _get_response(self, eui, seq, tid):
        # The head of the queue goes out now; it is put back if it cannot be sent (_hand_over).
        self.polls[eui] = self.clock.utc()
        q = self.queues.get(eui) or []
        msg = None
        if q:
            msg = q[0]
            q = q[1:]
            self._set(eui, q, False)  # stored once handed over: a cut before that sends it again
        return zcl.encode_header(_FC, seq, 0x01) + struct.pack("<HBB", tid, _GET_RSP, min(len(q), 255)) + \
            (unhexlify(msg) if msg else b""), msg

    def _set(self, eui, q, save=True):
        if q:
            self.queues[eui] = q
        else:
            self.queues.pop(eui, None)
        if save:
            self.store.save("gpf", self.queues)

    async def _hand_over(self, node, eui, aps, out, msg):
        st = await self._send(node, aps, out, msg is not None)
        if msg is None:
            return
        if st == 0:
            self.store.save("gpf", self.queues)
            self.delivered += 1
            self.bus.emit("han.gsme.delivered", {"eui64": eui, "remaining": len(self.queues.get(eui, ()))})
        else:  # not delivered: first in line again for the next GET
            self._set(eui, [msg] + self.queues.get(eui, []))

    async def _send(self, node, aps, out, wait=False):
        try:
            return await self.han.unicast(node, TUNNELING, out, aps[0], aps[3], aps[2], wait)
        except Exception as e:  # the radio went away: the GSME asks again on its next wake
            self.log.warn("gpf: answer to 0x%04X not sent (%r)" % (node, e))
            return -1
