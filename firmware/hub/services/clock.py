"""The hub's UTC clock: settable over the control plane, offset persisted.

UTC = rtc() + offset, where rtc() is the board's clock in Unix seconds (the
HAL corrects ports whose epoch is 2000). Setting the time stores only the
offset, so it survives a reboot wherever the RTC keeps running. Uptime comes
from the monotonic ms ticks, accumulated so it never wraps.
"""

import time

from hub import forget
from hub.errors import bad_args
from micropython import const

_UTC_MIN = const(946684800)  # 2000-01-01T00:00:00Z
_UTC_MAX = const(4102444799)  # 2099-12-31T23:59:59Z


def rtc_unix():
    """The port's clock in Unix seconds (embedded ports may count from 2000)."""
    t = time.time()
    return t + 946684800 if time.gmtime(0)[0] == 2000 else t


class Clock:
    def __init__(self, store=None, rtc=rtc_unix, bus=None):
        self.store = store
        self.bus = bus
        self.rtc = rtc
        st = store.load("clock", {}) if store else {}
        self.offset = st.get("offset", 0) if isinstance(st.get("offset"), int) else 0
        self.is_set = st.get("set") is True
        self._last = time.ticks_ms()
        self._up = 0

    def uptime_ms(self):
        """Milliseconds since boot (monotonic; call at least every few days)."""
        now = time.ticks_ms()
        self._up += time.ticks_diff(now, self._last)
        self._last = now
        return self._up

    def utc(self):
        """Current UTC in Unix seconds (int)."""
        return int(self.rtc()) + self.offset

    def set(self, utc):
        """Set UTC (Unix seconds, 2000..2099); returns the previous UTC."""
        if type(utc) is not int or not _UTC_MIN <= utc <= _UTC_MAX:
            raise bad_args("utc must be an int between 2000 and 2099")
        prev = self.utc()
        self.offset = utc - int(self.rtc())
        self.is_set = True
        if self.store:
            self.store.save("clock", {"offset": self.offset, "set": True})
        if self.bus:
            self.bus.emit("time.set", {"utc": utc, "previous_utc": prev})
        return prev

    def get(self):
        """The time.get result."""
        u = self.utc()
        return {"utc": u, "iso": iso8601().iso(u), "set": self.is_set}

    def parse_iso(self, s):
        """UTC seconds of YYYY-MM-DDTHH:MM:SSZ; ValueError otherwise."""
        return iso8601().parse_iso(s)


def iso8601():
    """hub.codecs.iso8601, loaded for a command now and then and dropped: it
    is 2.5 KB of a 100 KiB board's heap otherwise."""
    from hub.codecs import iso8601 as m

    forget("hub.codecs.iso8601")
    return m
