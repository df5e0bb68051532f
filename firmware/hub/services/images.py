"""Firmware image service (docs/IMAGES.md): the commands' entry points, the
start-up hand-over (confirm a pending slot, report boot events and the
outcome of a verification as alerts, announce an unfinished download) and
the scheduled-activation clock.

The pieces live beside it: slots (boot record, slot contents), transfer
(the download, loaded when there is one), activation (CS06, schedule,
rollback). Verification does not run here: the last block's answer says
`verify: reboot` and the hub reboots into verify mode (hub.app, verify.py).
"""

import gc
import time

import asyncio

from hub import FW_VERSION, forget
from hub.errors import bad_args
from hub.events import alert
from hub.services.slots import Slots
from hub.services.store import Store, join
from micropython import const

_SETTLE_MS = const(10000)  # a confirmed boot reports its events after MQTT is up, or this long


class Images:
    def __init__(self, root, hal, system, clock, bus, log, slots=None):
        self.system = system
        self.clock = clock
        self.bus = bus
        self.log = log
        self.slots = slots or Slots(root, log)
        self.store = Store(root, log, "data/image")
        self.board = hal.board.get("name", "unknown")
        self.ids = hal.image_ids()
        self.keys = hal.trusted_keys()
        # The download's code is loaded at start only for a transfer under
        # way: a staged or failed one is a small record until a command needs it.
        self.xfer = None
        r = self.store.load("transfer", {})
        st = r.get("state")
        if st in ("receiving", "received"):
            self._transfer()
        self.report_due = bool(st) and not self.xfer  # staged or failed: handover looks
        del r, st
        self.version = self.slots.version(self.slots.running) or FW_VERSION
        m = self.slots.meta(self.slots.running) or {}
        self.fault = m.get("test_fault")
        self.mqtt_up = False
        self._need_due = False
        bus.subscribe(self._on_event)

    def _on_event(self, name, seq, body):
        if name == "mqtt.connected":
            self.mqtt_up = True
            self._need_due = True

    def _transfer(self):
        if self.xfer is None:
            from hub.services.transfer import Transfer

            self.xfer = Transfer(self.store, self.bus, self.log)
        return self.xfer

    def transfer(self):
        """The Transfer, loaded if there is a record (else None)."""
        if self.xfer is None:
            try:
                open(join(self.store.dir, "transfer.json")).close()
            except OSError:
                return None
            self._transfer()
        return self.xfer

    def alert(self, code, name, hsh, **details):
        d = {"hash": hsh}
        d.update(details)
        alert(self.bus, code, name, d)

    # -- commands -----------------------------------------------------------

    def status(self):
        from hub.services import image_status

        forget("hub.services.image_status")
        return image_status.status(self)

    def offer(self, size, hsh, block_size=None, window=None):
        a = self._transfer().offer(size, hsh, block_size, window)
        if a["state"] == "received":
            self._complete()  # the answer to the last block got lost: reboot anyway
        return a

    def block(self, offset, data, reply=True):
        t = self.xfer
        if t is None:
            raise bad_args("no transfer in progress: offer first")
        a = t.block(offset, data, reply)
        if a and a["done"]:
            self._complete()
        return a

    def _complete(self):
        """Reboot into verify mode once the answer is sent (hub.app).

        During a trial the image waits: the inactive slot is the rollback
        target. run() reboots once the trial is over.
        """
        if self.slots.is_trial or self.system.rebooting:
            return
        self.log.info("image: %s received: rebooting to verify it" % self.xfer.rec["hash"][:16])
        self.system.reboot(200)  # after the answer is sent

    def _ops(self):
        # Activation, rollback: loaded for one command, then dropped.
        from hub.services import activation

        forget("hub.services.activation")
        forget("hub.services.image_status")
        return activation

    def abort(self):
        return self._ops().abort(self)

    def activate(self, hsh, at=None, confirm_s=None):
        return self._ops().activate(self, hsh, at, confirm_s)

    def cancel(self):
        return self._ops().cancel(self)

    def rollback(self):
        return self._ops().rollback(self)

    async def run(self, reg, config):
        """Confirm (when pending), report, resume; then watch the schedule."""
        s = self.slots
        if self.fault == "boot_loop":  # test images only: reset before it could confirm
            await asyncio.sleep_ms(100)
            self.system.reset("crash")
        t0 = time.ticks_ms()
        while config["mqtt.url"] and not self.mqtt_up:
            if not s.is_trial and time.ticks_diff(time.ticks_ms(), t0) > _SETTLE_MS:
                break
            await asyncio.sleep_ms(50)
        if s.is_trial or s.rec.get("event") or self.xfer or self.report_due:
            from hub.services import handover

            handover.run(self, reg)
            forget("hub.services.handover")
            gc.collect()
        t = self.xfer
        if t and t.state == "received":
            self._complete()  # it waited for the end of a trial
        self._need_due = True
        while True:
            if self._need_due:
                self._need_due = False
                t = self.xfer
                if t and t.unfinished:
                    r = t.rec
                    self.bus.emit("image.need", {"transfer": r["hash"], "offset": r["offset"],
                                                 "size": r["size"], "need": t.need()})
            sc = s.rec.get("scheduled")
            if sc and self.clock.utc() >= sc["at"]:
                self._ops().due(self)
            await asyncio.sleep_ms(1000)
