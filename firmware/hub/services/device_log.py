"""HAN device log: the hub's whitelist (domain.md, "The HAN device log").

A device may join only while it is in the log and inside its join window,
with the link key derived from its install code: while a window is open the
NCP holds a transient key for that device and joining is permitted; when the
window closes (or the device is removed) its key goes. Messages from anyone
not in the log are dropped (the HAN service asks `gate`). Removing a device
moves it to the historic log (the last 15) and makes it leave.

Commands change the stored log at once (hub.services.device_log_edit, loaded
only with them); the radio side follows in `run()`, which also keeps keys and
permit-joining in step with the windows on the hub's UTC clock.

Alerts: 0x8F12 log changed (with a copy), 0x8F48 join failed, 0x8F49 join
succeeded, 0x8183 device joined.
"""

import time
from binascii import unhexlify

import asyncio
from micropython import const

from hub import forget
from hub.errors import bad_args
from hub.events import alert

_DENY_JOIN = const(2)
_DEVICE_LEFT = const(2)
# A stored entry: [eui, type, install code + CRC (hex), window end (UTC), node or -1, joined]
EUI, TYPE, CODE, UNTIL, NODE, JOINED = 0, 1, 2, 3, 4, 5


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

    def _idle(self):
        # Nothing for the radio: no window open, no key on the NCP, joining closed, nobody to make leave.
        now = self.clock.utc()
        if self.kicks or self.pending or self.keyed or self.rekey or self.permit_until > now:
            return False
        for e in self.devices:
            if e[UNTIL] > now:
                return False
        return True

    async def run(self):
        """Apply windows, keys, permit-joining and kicks whenever something changes (and every second).

        The work is in hub.services.han_keys, loaded while there is some and dropped when idle:
        a HAN whose devices have joined and whose windows are closed does not hold it."""
        while True:
            self.wake.clear()
            if self.han.state == "up" and not self._idle():
                try:
                    await self._step()
                except Exception as e:  # the radio went away mid-step: retried on the next one
                    self.log.warn("devlog: %r" % (e,))
            if self._idle():
                forget("hub.services.han_keys")
            await self._sleep_or_wake(1000)

    async def _step(self):
        from hub.services.han_keys import step  # a name that ends with this call (or the code stays)

        await step(self)

    async def _sleep_or_wake(self, ms):
        t0 = time.ticks_ms()
        while not self.wake.is_set() and time.ticks_diff(time.ticks_ms(), t0) < ms:
            await asyncio.sleep_ms(50)
