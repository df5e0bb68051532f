"""HAN device log: the hub's whitelist (domain.md, "The HAN device log").

A device may join only while it is in the log and inside its join window,
with the link key derived from its install code: while a window is open the
NCP holds a transient key for that device and joining is permitted; when the
window closes (or the device is removed) its key goes. Messages from anyone
not in the log are dropped (the HAN service asks `gate`). Removing a device
moves it to the historic log (the last 15) and makes it leave.

Commands change the stored log at once (atomically, all checks first); the
radio side follows in `run()`, which also keeps keys and permit-joining in
step with the windows on the hub's UTC clock.

Alerts: 0x8F12 log changed (with a copy), 0x8F48 join failed, 0x8F49 join
succeeded, 0x8183 device joined.
"""

import time
from binascii import hexlify, unhexlify

import asyncio
from micropython import const

from hub.errors import HubError, bad_args
from hub.events import alert

TYPES = ("GSME", "ESME", "CHF", "GPF", "HCALCS", "PPMID", "TYPE2")
_MAX_DEVICES = const(16)
_MAX_HISTORY = const(15)
_MAX_JOIN_S = const(7 * 86400)
_T_ANNCE_MS = const(10000)  # a join the NCP let through must announce itself within this
_PERMIT_MAX = const(254)  # permitJoining's longest finite duration
_DENY_JOIN = const(2)
_DEVICE_LEFT = const(2)
_REKEY_S = const(43200)
# A stored entry: [eui, type, install code + CRC (hex), window end (UTC), node or -1, joined]
EUI, TYPE, CODE, UNTIL, NODE, JOINED = 0, 1, 2, 3, 4, 5


def crc_x25(data):
    """CRC-16/X-25 (the install-code CRC, sent little-endian after the code)."""
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


def _hex(v, n, what):
    if not isinstance(v, str) or len(v) != 2 * n:
        raise bad_args("%s must be %d hex digits" % (what, 2 * n))
    try:
        return unhexlify(v)
    except ValueError:
        raise bad_args("%s must be hex" % what)


def parse_eui(v):
    """An EUI-64 argument (16 hex digits) as canonical uppercase text."""
    _hex(v, 8, "eui64")
    return v.upper()


def parse_install_code(v):
    """16-byte install code (32 hex digits), or 18 bytes with its CRC: code + CRC."""
    if isinstance(v, str) and len(v) == 36:
        b = _hex(v, 18, "install_code")
        if crc_x25(b[:16]) != b[16] | (b[17] << 8):
            raise bad_args("install_code CRC does not match")
        return b
    b = _hex(v, 16, "install_code")
    c = crc_x25(b)
    return b + bytes((c & 0xFF, c >> 8))


class DeviceLog:
    def __init__(self, han, store, clock, bus, log):
        self.han = han
        self.store = store
        self.clock = clock
        self.bus = bus
        self.log = log
        st = store.load("devlog", {})
        self.devices = [e for e in st.get("log", ()) if isinstance(e, list) and len(e) == 6]
        self.history = [e for e in st.get("hist", ()) if isinstance(e, list) and len(e) == 3]
        self.keyed = set()  # EUIs whose transient key the NCP holds
        self.permit_until = 0
        self.pending = {}  # eui -> (node, ticks) of joins the NCP allowed, awaiting Device_annce
        self.kicks = []  # (node, eui) to make leave
        self.refused = 0
        self.rekey = False
        self.sends = 0
        self.keyed_at = 0  # UTC of the last full key install
        self.wake = asyncio.Event()
        han.gate = self.gate
        han.joins = self._join
        han.on_up = self._on_up

    # -- the stored log ----------------------------------------------------------

    def _find(self, eui):
        for e in self.devices:
            if e[EUI] == eui:
                return e
        return None

    def _save(self):
        self.store.save("devlog", {"log": self.devices, "hist": self.history})

    def _view(self, e, now):
        return {"eui64": e[EUI], "type": e[TYPE], "type_name": TYPES[e[TYPE]], "join_until": e[UNTIL],
                "window_open": e[UNTIL] > now, "can_join": e[EUI] in self.keyed and self.permit_until > now,
                "joined": e[JOINED], "node": e[NODE] if e[NODE] >= 0 else None}

    def read(self):
        """The `han.log` result: the log and the historic log."""
        now = self.clock.utc()
        return {"log": [self._view(e, now) for e in self.devices],
                "history": [{"eui64": h[0], "type": h[1], "type_name": TYPES[h[1]], "removed": h[2]}
                            for h in self.history]}

    def joined(self):
        """The `han.devices` result: devices in the log that are on the network."""
        now = self.clock.utc()
        return {"devices": [self._view(e, now) for e in self.devices if e[JOINED]]}

    def _changed(self, what, eui):
        alert(self.bus, 0x8F12, "han_device_log_changed", {"change": what, "eui64": eui,
                                                             "log": self.read()["log"]})
        self.wake.set()

    def add(self, eui, dtype, code, join_s):
        """Add (or re-add) a device and open its join window for `join_s` seconds."""
        eui = parse_eui(eui)
        if type(dtype) is not int or not 0 <= dtype < len(TYPES):
            raise bad_args("type must be an int 0..6 (%s)" % ", ".join(TYPES))
        ic = parse_install_code(code)
        if type(join_s) is not int or not 0 <= join_s <= _MAX_JOIN_S:
            raise bad_args("join_s must be an int 0..%d" % _MAX_JOIN_S)
        if eui == self.han.hub_id:
            raise bad_args("eui64 is the hub's own")
        old = self._find(eui)
        if old is None and len(self.devices) >= _MAX_DEVICES:
            raise HubError("busy", "device log full (%d devices)" % _MAX_DEVICES)
        e = [eui, dtype, hexlify(ic).decode(), self.clock.utc() + join_s, -1, False]
        if old is not None:  # a new install code or window; keeps a device that is on the network
            e[NODE], e[JOINED] = old[NODE], old[JOINED]
        new = [x for x in self.devices if x[EUI] != eui]
        new.append(e)
        prev = self.devices
        self.devices = new
        try:
            self._save()
        except Exception:
            self.devices = prev
            raise
        if old is not None and old[CODE] != e[CODE]:
            self.rekey = True  # the NCP holds the old code's key: replace it
        self._changed("added", eui)
        return self._view(e, self.clock.utc())

    def remove(self, eui):
        """Remove a device: it goes to the historic log and is made to leave."""
        eui = parse_eui(eui)
        e = self._find(eui)
        if e is None:
            raise HubError("not_found", "%s is not in the device log" % eui)
        prev = (self.devices, self.history)
        self.devices = [x for x in self.devices if x[EUI] != eui]
        self.history = (self.history + [[eui, e[TYPE], self.clock.utc()]])[-_MAX_HISTORY:]
        try:
            self._save()
        except Exception:
            self.devices, self.history = prev
            raise
        self.pending.pop(eui, None)
        if e[NODE] >= 0:
            self.kicks.append((e[NODE], eui))
        self._changed("removed", eui)
        return {"removed": eui}

    def send(self, eui, cluster, payload, profile, src_ep, dst_ep):
        """APS unicast to a joined device; answered at once with a tag, the outcome comes as
        event `han.sent` {"tag", "eui64", "status"} (0: delivered, acked by the device)."""
        eui = parse_eui(eui)
        for k, v, hi in (("cluster", cluster, 0xFFFF), ("profile", profile, 0xFFFF), ("src_ep", src_ep, 240),
                         ("dst_ep", dst_ep, 255)):
            if type(v) is not int or not 0 <= v <= hi:
                raise bad_args("%s must be an int 0..%d" % (k, hi))
        if not isinstance(payload, (bytes, bytearray, memoryview)) or not 0 < len(payload) <= 82:
            raise bad_args("payload must be 1..82 bytes")
        e = self._find(eui)
        if e is None or not e[JOINED]:
            raise HubError("not_found", "%s is not a joined device in the log" % eui)
        self.han._need_up()
        self.sends += 1
        tag = self.sends
        asyncio.create_task(self._send(tag, eui, e[NODE], cluster, bytes(payload), profile, src_ep, dst_ep))
        return {"tag": tag, "node": e[NODE]}

    async def _send(self, tag, eui, node, cluster, payload, profile, src_ep, dst_ep):
        d = {"tag": tag, "eui64": eui}
        try:
            d["status"] = await self.han.unicast(node, cluster, payload, profile, src_ep, dst_ep, True)
        except HubError as e:
            d["status"] = -1
            d["error"] = e.code
        self.bus.emit("han.sent", d)

    # -- joins and the gate ----------------------------------------------------------

    def gate(self, node):
        """EUI of the logged, joined device at `node`, or None (drop its message)."""
        for e in self.devices:
            if e[NODE] == node and e[JOINED]:
                return e[EUI]
        for eui, (n, _t) in self.pending.items():
            if n == node:  # it talks, so it has the network key: its announce was lost on the air
                self._join("annce", node, eui, None)
                return eui
        return None

    def _refuse(self, eui, node, reason):
        self.refused += 1
        alert(self.bus, 0x8F48, "han_join_failed", {"eui64": eui, "node": node, "reason": reason})

    def _join(self, kind, node, eui, detail):
        # Called from the radio's callback path: no awaits, radio work is queued.
        e = self._find(eui)
        now = self.clock.utc()
        if kind == "tc":
            status, decision = detail
            if status == _DEVICE_LEFT:
                if e is not None and e[JOINED]:
                    e[JOINED] = False
                    self._save()
                return
            if decision == _DENY_JOIN:
                why = "not_in_log" if e is None else "window_closed" if e[UNTIL] <= now else "refused"
                self._refuse(eui, node, why)
            elif e is None or (e[UNTIL] <= now and not e[JOINED]):
                self._refuse(eui, node, "not_in_log" if e is None else "window_closed")
                self.kicks.append((node, eui))
                self.wake.set()
            elif not e[JOINED] or e[NODE] != node:
                self.pending[eui] = (node, time.ticks_ms())
        elif kind == "annce":
            if e is None:
                self._refuse(eui, node, "not_in_log")
                self.kicks.append((node, eui))
                self.wake.set()
                return
            seen = self.pending.pop(eui, None) is not None
            if e[JOINED]:
                if e[NODE] != node:  # a rejoin with a new short address
                    e[NODE] = node
                    self._save()
                return
            if not seen and e[UNTIL] <= now:
                self._refuse(eui, node, "window_closed")
                self.kicks.append((node, eui))
                self.wake.set()
                return
            e[NODE], e[JOINED] = node, True
            self._save()
            d = {"eui64": eui, "node": node, "type": e[TYPE]}
            alert(self.bus, 0x8F49, "han_join_succeeded", d)
            alert(self.bus, 0x8183, "han_device_joined", d)
        elif kind == "child_left" and e is not None and e[NODE] == node:
            e[JOINED] = False
            self._save()

    # -- keeping the radio in step ------------------------------------------------------

    async def _on_up(self):
        # An NCP that reset lost its transient keys and permit-joining.
        self.keyed = set()
        self.permit_until = 0
        self.wake.set()

    async def run(self):
        """Apply windows, keys, permit-joining and kicks whenever something changes (and every second)."""
        while True:
            self.wake.clear()
            if self.han.state == "up":
                try:
                    await self._step()
                except Exception as e:  # the radio went away mid-step: retried on the next one
                    self.log.warn("devlog: %r" % (e,))
            await self._sleep_or_wake(1000)

    async def _sleep_or_wake(self, ms):
        t0 = time.ticks_ms()
        while not self.wake.is_set() and time.ticks_diff(time.ticks_ms(), t0) < ms:
            await asyncio.sleep_ms(50)

    async def _step(self):
        han = self.han
        now = self.clock.utc()
        while self.kicks:
            node, eui = self.kicks[0]
            await han.remove_device(node, eui)
            self.kicks.pop(0)
        for eui, (node, t) in list(self.pending.items()):
            if time.ticks_diff(time.ticks_ms(), t) > _T_ANNCE_MS:
                del self.pending[eui]
                self._refuse(eui, node, "key_exchange_failed")
        want = {}
        for e in self.devices:
            if e[UNTIL] > now:
                want[e[EUI]] = e
        if self.keyed and now - self.keyed_at > _REKEY_S:
            self.rekey = True  # before the NCP's transient keys time out (18 h at most) in a long window
        if self.rekey or any(k not in want for k in self.keyed):
            await han.clear_keys()
            self.keyed = set()
            self.rekey = False
        if not self.keyed:
            self.keyed_at = now
        for eui, e in want.items():
            if eui not in self.keyed:
                await han.install_key(eui, unhexlify(e[CODE]))
                self.keyed.add(eui)
        if want:
            left = max(e[UNTIL] for e in want.values()) - now
            if self.permit_until - now < min(left, 30):
                n = min(_PERMIT_MAX, left)
                await han.permit_joining(n)
                self.permit_until = now + n
        elif self.permit_until > now:
            await han.permit_joining(0)
            self.permit_until = 0
