"""HAN network service: the hub is coordinator and trust centre (docs/RADIO.md).

Brings the network up (hub.services.han_up: formed once, resumed after every
hub reboot and NCP reset) and keeps it up. Joins are install-code only: the
NCP admits a device only when the device log put a transient key for it (the
trust-centre policy han_up sets).

Other services send APS unicasts through here and register
per-cluster receivers; messages from senders the gate (the device log) does
not know are dropped before any service sees them.
"""

import struct
import time
from binascii import hexlify, unhexlify

import asyncio
from micropython import const

from hub import forget
from hub.errors import HubError

# EZSP ids and values used here (bellows.types names).
_SEND_UNICAST = const(0x0034)
_STACK_STATUS = const(0x0019)
_TC_JOIN = const(0x0024)
_CHILD_JOIN = const(0x0023)
_INCOMING = const(0x0045)
_SENT = const(0x003F)
_NETWORK_UP = const(0x90)
_NETWORK_DOWN = const(0x91)
_SE_PROFILE = const(0x0109)
_EP = const(1)  # the hub's one endpoint
_APS_OPTIONS = const(0x0140)  # RETRY | ENABLE_ROUTE_DISCOVERY
_T_SENT_MS = const(10000)
BACKOFF_MS = (500, 1000, 2000, 5000, 10000)


def eui_bytes(hexs):
    """EUI-64 as 16 hex digits (display order) -> the 8 wire bytes (little-endian)."""
    b = unhexlify(hexs)
    return bytes(b[7 - i] for i in range(8))


def eui_hex(b):
    """8 wire bytes -> 16 uppercase hex digits, display order."""
    return "%02X%02X%02X%02X%02X%02X%02X%02X" % (b[7], b[6], b[5], b[4], b[3], b[2], b[1], b[0])


def aps_frame(profile, cluster, src_ep, dst_ep, seq=0):
    return struct.pack("<HHBBHHB", profile, cluster, src_ep, dst_ep, _APS_OPTIONS, 0, seq)


class Han:
    def __init__(self, ezsp, store, config, bus, log, hub_id):
        self.ezsp = ezsp
        self.store = store
        self.config = config
        self.bus = bus
        self.log = log
        self.hub_id = hub_id
        ezsp.on_callback = self._callback
        ezsp.on_down = self._down
        self.state = "starting"
        self.error = None
        self.params = None  # (channel, pan_id) of the running network
        self.ncp_eui = None
        self.formed = 0
        self.resumed = 0
        self.restarts = 0
        self.rx_dropped = 0
        self.rx = 0
        self.tx = 0
        self.tx_failed = 0
        self._net = asyncio.Event()  # stack status _NETWORK_UP seen
        self._wake = asyncio.Event()  # the link went down: restart
        self._tag = 0
        self._sent = {}  # message tag -> delivery status (None while pending)
        self._sent_ev = asyncio.Event()
        self.receivers = {}  # (profile, cluster) -> fn(node, eui, aps, payload); False: not taken
        self.responses = None  # fn(node, eui, aps, payload) -> True when it took an answer to the hub's own request
        self.gate = None  # fn(node) -> EUI hex of a device allowed to talk, or None
        self.joins = None  # fn(kind, node, eui_hex, detail): the device log
        self.on_up = None  # fn(): after the network came up (re-install keys)

    # -- status ---------------------------------------------------------------

    def brief(self):
        """The radio's line in `status` (and the MQTT status)."""
        d = {"state": self.state, "ezsp": self.ezsp.version, "ncp_resets": self.ezsp.link.resets}
        if self.params:
            d["channel"], d["pan_id"] = self.params
        return d

    # -- bring-up -------------------------------------------------------------

    async def run(self):
        """Keep the network up forever: start, and restart after any loss."""
        fails = 0
        while True:
            self._wake.clear()
            try:
                await self._bring_up()
                fails = 0
                self.error = None
                self.state = "up"
                self.bus.emit("han.up", {"channel": self.params[0], "pan_id": self.params[1],
                                         "ezsp": self.ezsp.version})
                if self.on_up:
                    await self.on_up()
                await self._wake.wait()
                self.state = "starting"
                self.restarts += 1
                self.bus.emit("han.down", {"reason": self.error})
            except Exception as e:  # HubError, or garbage from the NCP: never the hub's end
                self.state = "down"
                self.error = "%s: %s" % (e.code, e.message) if isinstance(e, HubError) else repr(e)
                self.log.warn("han: %s" % self.error)
                await asyncio.sleep_ms(BACKOFF_MS[min(fails, len(BACKOFF_MS) - 1)])
                fails += 1

    async def _bring_up(self):
        # Its code only while starting (the name must not outlive this frame, or the code stays).
        from hub.services.han_up import bring_up

        try:
            await bring_up(self)
        finally:
            forget("hub.services.han_up")
            forget("hub.radio.ezsp_start")

    def _down(self, why):
        self.error = why
        self._net.clear()
        self._wake.set()

    async def _status_cmd(self, fid, params, what):
        p = await self.ezsp.cmd(fid, params)
        if p[0] != 0:
            raise HubError("radio_error", "%s status 0x%02X" % (what, p[0]))
        return p

    # -- services' API ----------------------------------------------------------

    def _need_up(self):
        if self.state != "up":
            raise HubError("radio_down", "HAN network is not up (%s)" % self.state)

    async def unicast(self, node, cluster, payload, profile=_SE_PROFILE, src_ep=_EP, dst_ep=_EP, wait=False):
        """Send an APS unicast; with `wait`, return the delivery status (0 = delivered)."""
        self._need_up()
        tag = self._next_tag()
        params = struct.pack("<BH", 0, node) + aps_frame(profile, cluster, src_ep, dst_ep) + \
            bytes((tag, len(payload))) + payload
        return await self._send(_SEND_UNICAST, params, tag, wait)

    def _next_tag(self):
        self._tag = (self._tag + 1) & 0xFF
        return self._tag

    async def _send(self, fid, params, tag, wait):
        if wait:
            self._sent[tag] = None
        try:
            p = await self.ezsp.cmd(fid, params)
            if p[0] != 0:
                self.tx_failed += 1
                raise HubError("radio_error", "send status 0x%02X" % p[0])
            self.tx += 1
            if not wait:
                return p[1]
            t0 = time.ticks_ms()
            while self._sent.get(tag) is None:
                if time.ticks_diff(time.ticks_ms(), t0) > _T_SENT_MS:
                    raise HubError("radio_timeout", "no messageSent for tag %d" % tag)
                self._sent_ev.clear()
                await self._sent_ev.wait()
            return self._sent[tag]
        finally:
            self._sent.pop(tag, None)

    # -- callbacks -------------------------------------------------------------

    def _callback(self, fid, p):
        if fid == _INCOMING:
            self._incoming(p)
        elif fid == _SENT:
            tag, st = p[14], p[15]
            if st:
                self.tx_failed += 1
            if tag in self._sent:
                self._sent[tag] = st if st else 0
                self._sent_ev.set()
        elif fid == _STACK_STATUS:
            if p[0] == _NETWORK_UP:
                self._net.set()
            elif p[0] == _NETWORK_DOWN and self.state == "up":
                self._down("network_down")
        elif fid == _TC_JOIN:
            node, = struct.unpack_from("<H", p)
            if self.joins:
                self.joins("tc", node, eui_hex(p[2:10]), (p[10], p[11]))
        elif fid == _CHILD_JOIN:
            node, = struct.unpack_from("<H", p, 2)
            if self.joins:
                self.joins("child" if p[1] else "child_left", node, eui_hex(p[4:12]), p[12])

    def _incoming(self, p):
        # type, apsFrame(11), lqi, rssi, sender, bindingIndex, addressIndex, LV contents
        profile, cluster, src_ep, dst_ep = struct.unpack_from("<HHBB", p, 1)
        node, = struct.unpack_from("<H", p, 14)
        n = p[18]
        payload = bytes(p[19:19 + n])
        if len(payload) != n:
            self.rx_dropped += 1
            return
        if profile == 0 and cluster == 0x0013 and self.joins and n >= 11:  # ZDO Device_annce
            self.joins("annce", node, eui_hex(payload[3:11]), None)
        eui = self.gate(node) if self.gate else None
        if eui is None:
            self.rx_dropped += 1
            return
        self.rx += 1
        if self.responses and self.responses(node, eui, (profile, cluster, src_ep, dst_ep, p[11]), payload):
            return
        fn = self.receivers.get((profile, cluster))
        if fn and fn(node, eui, (profile, cluster, src_ep, dst_ep, p[11]), payload) is not False:
            return  # a receiver returns False for a frame it leaves alone (the GPF: not a GSME's)
        if profile:  # no server here: show it to whoever drives the hub (not ZDO chatter)
            self.bus.emit("han.rx", {"eui64": eui, "node": node, "profile": profile, "cluster": cluster,
                                     "src_ep": src_ep, "dst_ep": dst_ep, "payload": hexlify(payload).decode()})
