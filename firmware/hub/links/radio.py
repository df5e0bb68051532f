"""The radio link: ASH over the HAL's radio UART to a Silicon Labs NCP.

Moves bytes only: the ASH state machine (hub.radio.ash_host) frames them,
this link feeds it what the UART delivers, runs its timers and writes what it
returns. EZSP frames go up through `on_frame`; a lost link (an NCP that reset
under us, or ASH giving up) goes up through `on_down(reason)`, after which
`connect()` starts the link again.
"""

import time

import asyncio
from micropython import const

from hub.errors import HubError
from hub.radio import ash_host as ah

_TICK_MS = const(50)  # ASH timers are 0.4 s and up: 50 ms resolution is plenty


class RadioLink:
    def __init__(self, reader, writer, log):
        self.r = reader
        self.w = writer
        self.log = log
        self.ash = ah.Host()
        self.rx = bytearray(64)
        self.on_frame = None  # fn(bytes): one EZSP frame from the NCP
        self.on_down = None  # fn(reason): the link is gone until connect()
        self._up = asyncio.Event()
        self.reset_code = None
        self.failure = None
        self.tx_frames = 0
        self.rx_frames = 0
        self.resets = 0
        self.failures = 0

    @property
    def connected(self):
        return self.ash.state == ah.CONNECTED

    async def connect(self):
        """RST until RSTACK; returns the NCP's reset code or raises HubError."""
        self._up.clear()
        self.failure = None
        self._do(self.ash.connect(time.ticks_ms()))
        await self._up.wait()
        if not self.connected:
            raise HubError("radio_down", "ASH link did not come up (%s)" % (self.failure,))
        return self.reset_code

    def send(self, payload):
        """Queue one EZSP frame to the NCP (HubError busy / too_large / radio_down)."""
        if not self.connected:
            raise HubError("radio_down", "radio link is down")
        self._do(self.ash.send(payload, time.ticks_ms()))

    def _do(self, res):
        tx, events = res
        if tx:
            self.w.write(tx)
        for ev, v in events:
            if ev == ah.EV_DATA:
                self.rx_frames += 1
                if self.on_frame:
                    self.on_frame(v)
            elif ev == ah.EV_SENT:
                self.tx_frames += 1
            elif ev == ah.EV_CONNECTED:
                self.reset_code = v
                self._up.set()
            elif ev == ah.EV_RESET:
                self.resets += 1
                self.lost("ncp_reset")
            elif ev == ah.EV_FAILED:
                self.failures += 1
                self.failure = v
                self._up.set()  # wakes connect(), which sees the failure
                self.lost(v)

    def lost(self, why):
        """Declare the link lost (also for the EZSP layer: a command that got no answer)."""
        # An unexpected RSTACK leaves ASH connected with zeroed counters, but
        # the NCP lost its EZSP state: the owner must start over either way.
        self.ash.state = ah.FAILED
        self.log.warn("radio: link lost (%s)" % (why,))
        if self.on_down:
            self.on_down(why)

    async def rx_loop(self):
        """Feed the UART's bytes to ASH forever."""
        rx = self.rx
        while True:
            n = await self.r.readinto(rx)
            if not n:
                await asyncio.sleep_ms(_TICK_MS)  # nobody on the line: do not spin
                continue
            self._do(self.ash.feed(memoryview(rx)[:n], time.ticks_ms()))

    async def tick_loop(self):
        """ASH timers (retransmission, RST retries) and output drain."""
        while True:
            await asyncio.sleep_ms(_TICK_MS)
            if self.ash.state != ah.IDLE:
                self._do(self.ash.poll(time.ticks_ms()))
            if self.w.out_buf:
                await self.w.drain()
