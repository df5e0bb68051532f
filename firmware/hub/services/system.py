"""System service: identity, heap accounting, boot count, reset cause, reboot.

The cause of the next reset is written before resetting on purpose (reboot,
crash); a boot that finds none was a power cycle (or a cut).
"""

import gc
import sys
import time

import asyncio

from hub import FW_VERSION
from hub.errors import bad_args
from micropython import const

_CAUSES = const(("power_on", "reboot", "crash"))
_SAMPLE_MS = const(250)  # at most one heap sample (and collection) per this many ms
_GC_SHARE = const(16)
_ROOMY = const(128 * 1024)  # a heap this large collects less often (sample_heap)


class System:
    def __init__(self, hal, store, clock, log, bus, hub_id):
        self.hal = hal
        self.store = store
        self.clock = clock
        self.log = log
        self.bus = bus
        self.hub_id = hub_id
        self.board = hal.board.get("name", "unknown")
        st = store.load("system", {})
        cause = st.get("next_cause")
        if cause not in _CAUSES:
            # No cause written before the reset: a power cycle, unless the
            # board saw the previous run die (the emulator's supervisor).
            cause = "crash" if hal.reset_hint() == "watchdog" else "power_on"
        self.reset_cause = cause
        n = st.get("boot_count")
        self.boot_count = (n if type(n) is int and n >= 0 else 0) + 1
        store.save("system", {"boot_count": self.boot_count})
        self.heap_peak = 0
        self._sampled = time.ticks_add(time.ticks_ms(), -_SAMPLE_MS)
        self.fw_version = FW_VERSION  # the running slot's version, once the image service knows it
        self.links = {}  # link name -> callable returning its status dict
        self.rebooting = False

    def sample_heap(self, force=False):
        """Collect, then record the live heap; returns it.

        Without a collection gc.mem_alloc() counts garbage and creeps up to the
        heap size, which says nothing about fitting the board. Collections are
        rate-limited (_SAMPLE_MS) so a busy command path does not pay for one
        every time; `force` always collects.

        It also sets when the next collections come: every heap/_GC_SHARE
        bytes allocated instead of only when the heap is full, so garbage never
        piles up between long-lived objects, which fragments a non-moving heap
        until a 1 KB command fails. A heap of _ROOMY or more waits until only
        heap/_GC_SHARE of what is free is left, if that is later: a collection
        marks the whole live heap, and one every heap/16 bytes was a third of
        the CPU of a fast download on the 160 KiB emulator board (at half of
        what is free, still a fifth). On the 100 KiB ESP32 a later collection
        left commands without heap (17 HIL tests failed in one run).
        """
        # Called after every command: its frame stays within the 11 words
        # MicroPython keeps on the C stack (a larger one is a heap allocation
        # per call).
        if not force and time.ticks_diff(time.ticks_ms(), self._sampled) < _SAMPLE_MS:
            return -1
        self._sampled = time.ticks_ms()
        gc.collect()
        used = gc.mem_alloc()
        free = gc.mem_free()
        keep = (used + free) // _GC_SHARE
        gc.threshold(max(keep, free - keep if used + free >= _ROOMY else 0))
        if used > self.heap_peak:
            self.heap_peak = used
        return used

    def info(self):
        """The `info` result: heap figures are live bytes after a collection."""
        used = self.sample_heap(True)
        free = gc.mem_free()
        v = sys.implementation.version
        return {
            "board": self.board,
            "hub_id": self.hub_id,
            "fw_version": self.fw_version,
            "micropython": "%d.%d.%d" % (v[0], v[1], v[2]),
            "platform": sys.platform,
            "uptime_ms": self.clock.uptime_ms(),
            "heap_free": free,
            "heap_used": used,
            "heap_peak": self.heap_peak,
            "heap_total": free + used,
        }

    def status(self):
        """The `status` result; each link reports its own part."""
        links = {}
        for name, fn in self.links.items():
            links[name] = fn()
        return {
            "state": "rebooting" if self.rebooting else "ready",
            "uptime_ms": self.clock.uptime_ms(),
            "utc": self.clock.utc(),
            "time_set": self.clock.is_set,
            "boot_count": self.boot_count,
            "reset_cause": self.reset_cause,
            "links": links,
        }

    def reboot(self, delay_ms=100):
        """Reset after `delay_ms` (0..10000), leaving time to send the response."""
        if type(delay_ms) is not int or not 0 <= delay_ms <= 10000:
            raise bad_args("delay_ms must be an int 0..10000")
        if not self.rebooting:
            self.rebooting = True
            self.bus.emit("rebooting", {"delay_ms": delay_ms})
            asyncio.create_task(self._reboot_later(delay_ms))
        return {"rebooting": True}

    async def _reboot_later(self, delay_ms):
        # At least a few ms so the links get to write the response and event.
        await asyncio.sleep_ms(max(delay_ms, 20))
        self.reset("reboot")

    def reset(self, cause):
        """Persist the cause and reset the board now (does not return)."""
        try:
            self.store.save("system", {"boot_count": self.boot_count, "next_cause": cause})
        except Exception as e:  # a full or broken flash must not stop the reset
            self.log.exc("system: cannot store reset cause", e)
        self.log.warn("system: reset (%s)" % cause)
        self.hal.reset()

    def crash(self, where, e):
        """An uncaught exception: log it, then reset with cause `crash`."""
        self.log.exc("crash in %s" % where, e)
        self.reset("crash")
