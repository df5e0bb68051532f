"""Serial control plane: frames on the HAL's control UART (PROTOCOL.md).

One task reads and answers requests in order; another writes events. A
frame is written in one go with no await in between, and StreamWriter queues
whole writes in order, so frames never interleave (no lock needed: it would
cost the heap another asyncio module).
"""

import gc
import time

import asyncio

from hub.codecs import dumps, frame
from hub.control.registry import Later
from hub.errors import HubError
from micropython import const

_EVENT_QUEUE = const(16)  # events waiting for the writer; the oldest go first when full


class SerialLink:
    def __init__(self, reader, writer, registry, bus, log):
        self.r = reader
        self.w = writer
        self.reg = registry
        self.log = log
        self.dec = frame.Decoder()
        self.rx = bytearray(256)
        self.events = []
        self.wake = asyncio.Event()
        self.tx_frames = 0
        self.events_dropped = 0
        bus.subscribe(self._on_event)

    def status(self):
        """This link's part of the `status` result."""
        d = self.dec
        return {
            "rx_frames": d.frames, "tx_frames": self.tx_frames, "faults": d.faults,
            "bad_hcrc": d.bad_hcrc, "skipped": d.skipped, "dropped": d.dropped,
            "events_dropped": self.events_dropped,
        }

    def _on_event(self, name, seq, body):
        if len(self.events) >= _EVENT_QUEUE:
            self.events.pop(0)
            self.events_dropped += 1
        self.events.append((name, seq, body))
        self.wake.set()

    async def _send(self, kind, seq, name, jbytes, data=None):
        try:
            frame.write_frame(self.w.write, kind, seq, name, jbytes, data)
        except ValueError:
            frame.write_frame(self.w.write, frame.ERROR, seq, name,
                              b'{"code":"too_large","message":"response too large"}')
        self.tx_frames += 1
        await self.w.drain()

    async def _error(self, seq, name, code, message):
        await self._send(frame.ERROR, seq, name, dumps({"code": code, "message": message}))

    async def _request(self, kind, seq, payload):
        try:
            await self._request_in(kind, seq, payload)
        except MemoryError:
            # One command too big for the heap right now: refuse it, keep serving.
            gc.collect()
            await self._error(seq, b"", "no_memory", "not enough heap for this command now")

    async def _request_in(self, kind, seq, payload):
        p = frame.decode_payload(payload)
        if type(p) is str:
            await self._error(seq, b"", "bad_frame", p)
            return
        name, jb, data = p
        if kind != frame.REQUEST:
            await self._error(seq, name, "bad_frame", "hub only takes requests")
            return
        r = self.reg.answer(name, jb, data if len(data) else None)  # the JSON is parsed there
        if isinstance(r, HubError):
            await self._error(seq, name, r.code, r.message)
            return
        result, out = r
        if isinstance(result, Later):  # answered when it is done; keep reading meanwhile
            asyncio.create_task(self._later(seq, name, result))
            return
        if out is not False:  # False: SILENT, a quiet command that succeeded
            await self._send(frame.RESPONSE, seq, name, dumps(result), out)

    async def _later(self, seq, name, later):
        try:
            result, out = await self.reg.finish(later)
        except HubError as e:
            await self._error(seq, name, e.code, e.message)
            return
        await self._send(frame.RESPONSE, seq, name, dumps(result), out)

    async def rx_loop(self):
        """Read, decode and answer requests forever."""
        dec = self.dec
        rx = self.rx
        while True:
            n = await self.r.readinto(rx)
            if not n:
                # Nobody on the other end (hangup): do not spin.
                await asyncio.sleep_ms(50)
                continue
            now = time.ticks_ms()
            i = 0
            while i < n or dec.pending:
                i = dec.feed(rx, i, n, now)
                if dec.result == frame.FRAME:
                    await self._request(dec.kind, dec.seq, dec.payload)
                elif dec.result == frame.FAULT:
                    await self._error(dec.seq, b"", dec.error,
                                      "frame too large" if dec.error == "too_large" else "frame crc mismatch")

    async def event_loop(self):
        """Write queued events forever."""
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.events:
                name, seq, body = self.events.pop(0)
                await self._send(frame.EVENT, seq, name, dumps(body))
