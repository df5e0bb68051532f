"""Wiring and the asyncio main: services, command set, links, status loop.

A download whose last block arrived is verified in a boot of its own
(verify mode, docs/IMAGES.md section 4): when a transfer record exists, the
module-level check below runs hub.boot.boot before any of the
app's code is loaded (main.py imports this module first); it resets when it
verifies, else the normal start goes on.

Any uncaught exception in a task is logged and resets the hub with cause
`crash`, so a fault never turns into a silent hang.
"""

import gc
import sys
import time

from hub.hal.base import ROOT, join

try:
    open(join(ROOT, "data/image/transfer.json")).close()
except OSError:
    pass
else:  # verify mode if it is due (it resets), else drop its code again
    from hub import boot

    boot.boot(ROOT)
    del boot
    from hub import forget

    forget("hub.boot")

import asyncio

import hub
from hub import hal as hal_mod
from hub.control import commands, image_commands
from hub.control.registry import Registry
from hub.events import Bus
from hub.links.serial import SerialLink
from hub.services.clock import Clock
from hub.services.config import Config
from hub.services.images import Images
from hub.services.logbuf import log
from hub.services.store import Store
from hub.services.system import System
from micropython import const


# What the radio's code and state take once up (docs/RADIO.md, "Heap"), with room to work.
_RADIO_HEAP = const(46 * 1024)


class App:
    def __init__(self, root, t0):
        self.t0 = t0
        hal = self.hal = hal_mod.load(root)
        self.store = Store(root, log)
        self.bus = bus = Bus()
        self.hub_id = hal.hub_id()
        self.clock = Clock(self.store, hal.rtc, bus)
        self.config = Config(self.store, {"mqtt.url": hal.mqtt_url()}, bus, log)
        log.set_level(self.config["log.level"])
        self._mqtt_cls = self._mqtt_rx = None
        if self.config["mqtt.url"]:
            try:
                self._mqtt_code()
            except MemoryError:
                pass  # _start_mqtt says so

        for p in hal.problems:
            log.warn("hal: " + p)
        self.system = System(hal, self.store, self.clock, log, bus, self.hub_id)
        self.images = Images(root, hal, self.system, self.clock, bus, log)
        # The running slot's manifest version is the firmware version everywhere
        # (info, boot event, MQTT status: all read system.fw_version).
        self.system.fw_version = hub.FW_VERSION = self.images.version
        self.reg = Registry(log, self.system.sample_heap)
        commands.install(self.reg, self.system, self.clock, self.config, log)
        image_commands.install(self.reg, self.images)
        bus.subscribe(self._on_event)
        self.serial = SerialLink(*hal.control_streams(), self.reg, bus, log)
        self.system.links["serial"] = self.serial.status
        self.mqtt = None
        self.system.links["mqtt"] = lambda: {"state": "off", "broker": self.config["mqtt.url"]}

    def _mqtt_code(self):
        # Loaded only when a broker is configured: it is a fifth of the heap.
        # At start it loads before any service or buffer exists, into a heap
        # with no holes yet: its code and names (one of them may grow the qstr
        # pool by a 4.5 KB piece) are the biggest pieces the hub ever asks for.
        gc.collect()
        try:
            from hub.links.mqtt import MqttLink
        except ImportError as e:  # a slot without the link's code: serial still works
            log.error("mqtt: unavailable (%s)" % e)
            return None
        self._mqtt_cls = MqttLink
        self._mqtt_rx = bytearray(2304)  # its receive buffer, for the same reason
        return MqttLink

    def _start_mqtt(self):
        if self.mqtt or not self.config["mqtt.url"]:
            return
        try:
            cls = self._mqtt_cls or self._mqtt_code()
            if cls is None:
                return
            self.mqtt = cls(self.hub_id, self.config, self.reg, self.bus, self.system, self.clock, log,
                            self._mqtt_rx)
        except MemoryError:
            # Better a hub on serial alone than one that crash-loops at every start.
            self.mqtt = self._mqtt_cls = self._mqtt_rx = None
            hub.forget("hub.links.mqtt")
            gc.collect()
            log.error("mqtt: not enough heap to start it (%d free): serial only" % gc.mem_free())
            return
        self._mqtt_rx = None
        self.system.links["mqtt"] = self.mqtt.status
        self._task("mqtt", self.mqtt.run())

    def _start_radio(self):
        # Loaded only on a board with a radio (hub.radio_app wires it all).
        try:
            streams = self.hal.radio_streams()
        except Exception as e:  # a missing dongle must not stop the rest of the hub
            log.exc("radio: cannot open its UART", e)
            return
        if streams is not None:
            gc.collect()
            if gc.mem_free() < _RADIO_HEAP:
                # A half-loaded radio would keep its names (qstrs) for good: do not try.
                log.error("radio: not enough heap (%d free, it needs about %d): HAN off"
                          % (gc.mem_free(), _RADIO_HEAP))
                return
            try:
                from hub import radio_app

                self.han = radio_app.start(self, streams)
            except MemoryError:
                # Better a hub without its HAN than one that crash-loops at start.
                for m in [m for m in sys.modules if m.startswith(("hub.radio", "hub.services.han",
                                                                   "hub.services.device_log", "hub.links.radio",
                                                                   "hub.control.han_", "hub.codecs.zcl",
                                                                   "hub.services.zcl_"))]:
                    sys.modules.pop(m)
                    pkg, _, name = m.rpartition(".")
                    if hasattr(sys.modules.get(pkg), name):  # the package keeps its submodule too
                        delattr(sys.modules[pkg], name)
                gc.collect()
                log.error("radio: not enough heap to start it (%d free): HAN off" % gc.mem_free())

    def _on_event(self, name, seq, body):
        if name != "config.changed":
            return
        keys = body.get("keys", ())
        if "log.level" in keys:
            log.set_level(self.config["log.level"])
        if "mqtt.url" in keys and not self.mqtt:
            asyncio.create_task(self._guard("mqtt.start", self._late_mqtt()))

    async def _late_mqtt(self):
        self._start_mqtt()

    def _task(self, name, coro):
        """Run `coro` guarded; `coro` may be a function making it, then a
        MemoryError restarts it a second later instead of resetting the hub
        (a reset would come back to the same state, and the same error)."""
        return asyncio.create_task(self._guard(name, coro))

    async def _guard(self, name, coro):
        make = coro if callable(coro) else None
        while True:
            try:
                await (make() if make else coro)
                return
            except MemoryError as e:
                if make is None:
                    self.system.crash(name, e)
                gc.collect()
                log.error("%s: out of heap (%d free): again in 1 s" % (name, gc.mem_free()))
                await asyncio.sleep_ms(1000)
            except Exception as e:  # BaseException (SystemExit = reset) passes
                self.system.crash(name, e)

    def _loop_exception(self, loop, context):
        # A task nobody awaits failed (not one of ours: those are guarded).
        self.system.crash("task", context.get("exception") or RuntimeError(context.get("message")))

    async def status_loop(self):
        """Sample the heap and publish the retained status periodically."""
        while True:
            await asyncio.sleep(self.config["status.interval_s"])
            self.system.sample_heap(True)
            if self.mqtt:
                self.mqtt.publish_status()

    async def run(self):
        asyncio.get_event_loop().set_exception_handler(self._loop_exception)
        s = self.system
        log.info("boot %d cause %s fw %s board %s slot %s" % (s.boot_count, s.reset_cause, s.fw_version,
                                                              s.board, self.images.slots.running))
        self.bus.emit("boot", {"reset_cause": s.reset_cause, "boot_count": s.boot_count,
                               "fw_version": s.fw_version})
        if self.images.fault == "crash_at_start":  # test images only
            raise RuntimeError("test fault crash_at_start")
        self._task("serial.rx", self.serial.rx_loop)
        self._task("serial.events", self.serial.event_loop)
        self._start_mqtt()
        self._start_radio()
        self._task("status", self.status_loop)
        s.sample_heap(True)  # and sets the collection threshold (System.sample_heap)
        boot_ms = time.ticks_diff(time.ticks_ms(), self.t0)
        print("commshub ready %s boot_ms=%d" % (self.hub_id, boot_ms))
        log.info("ready in %d ms, heap %d used" % (boot_ms, s.heap_peak))
        self.bus.emit("ready", {"boot_ms": boot_ms})
        # Confirms a pending slot once the links are up, reports boot events.
        self._task("images", lambda: self.images.run(self.reg, self.config))
        await asyncio.Event().wait()  # the tasks run forever


def main(t0=None, root=None):
    """Start the hub; returns only by a reset (SystemExit)."""
    if t0 is None:
        t0 = time.ticks_ms()
    if root is None:
        root = ROOT
    app = None
    try:
        app = App(root, t0)
        asyncio.run(app.run())
    except Exception as e:
        if app is None or not hasattr(app, "system"):
            # Failed before the system service existed: log and reset plainly.
            log.exc("crash during start", e)
            raise SystemExit(3)
        app.system.crash("main", e)
