"""EZSP host over a RadioLink (protocol-facts.md, "EZSP").

One command is outstanding at a time (an NCP answers in order and the UART
protocol expects the host to wait): `cmd()` sends a frame and returns the
response's parameters, matched by sequence number; callbacks go to
`on_callback(frame_id, params)` as they arrive. `start()` brings the link up
and negotiates the protocol version (v8 to v13). A timeout, an NCP reset or
an ASH failure fails the pending command with a structured error and calls
`on_down(reason)`; the owner then calls `start()` again.
"""

import time

import asyncio
from micropython import const

from hub.errors import HubError
from hub.radio import ezsp_frame as ef

_MIN_VERSION = const(8)
_MAX_VERSION = const(13)
_T_CMD_MS = const(5000)  # an NCP answers in milliseconds; past this the link is broken


class Ezsp:
    def __init__(self, link, log):
        self.link = link
        self.log = log
        link.on_frame = self._frame
        link.on_down = self._down
        self.on_callback = None
        self.on_down = None
        self.version = 0
        self.stack = ""
        self.up = False
        self.legacy = True
        self.seq = 0
        self._want = -1
        self._rsp = None
        self._err = None
        self._deadline = 0
        self._done = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.commands = 0
        self.timeouts = 0
        self.callbacks = 0
        self.dropped = 0  # frames that match nothing (late responses, garbage)

    async def start(self):
        """Connect ASH and negotiate the EZSP version; returns it."""
        self.up = False
        self.legacy = True
        await self.link.connect()
        self.up = True
        p = await self.cmd(ef.VERSION, b"\x04")
        v = p[0] if len(p) else 0
        if not _MIN_VERSION <= v <= _MAX_VERSION:
            self.up = False
            raise HubError("radio_unsupported", "NCP speaks EZSP v%d; this hub supports v%d..v%d"
                           % (v, _MIN_VERSION, _MAX_VERSION))
        self.legacy = False
        p = await self.cmd(ef.VERSION, bytes((v,)))
        v2, _stype, sv = ef.parse_version(p)
        if v2 != v:
            self.up = False
            raise HubError("radio_error", "NCP changed its EZSP version (%d then %d)" % (v, v2))
        self.version = v
        self.stack = ef.stack_version_str(sv)
        return v

    async def cmd(self, frame_id, params=b""):
        """Send one command; the response's parameters (bytes) or HubError."""
        while not self._idle.is_set():
            await self._idle.wait()
        if not self.up:
            raise HubError("radio_down", "radio is not up")
        self._idle.clear()
        try:
            self.seq = seq = (self.seq + 1) & 0xFF
            self._want = seq
            self._rsp = self._err = None
            self._done.clear()
            self.link.send(ef.encode(seq, frame_id, params, self.legacy))
            self.commands += 1
            self._deadline = time.ticks_add(time.ticks_ms(), _T_CMD_MS)
            asyncio.create_task(self._watch(seq))
            await self._done.wait()
            if self._err is not None:
                raise self._err
            fid, p = self._rsp
            if fid == ef.INVALID_COMMAND and frame_id != ef.INVALID_COMMAND:
                raise HubError("radio_error", "NCP refused command 0x%04X (status %d)"
                               % (frame_id, p[0] if len(p) else -1))
            return p
        finally:
            self._want = -1
            self._rsp = None
            self._idle.set()

    async def _watch(self, seq):
        # The response deadline; no wait_for (its module costs heap).
        while self._want == seq and time.ticks_diff(self._deadline, time.ticks_ms()) > 0:
            await asyncio.sleep_ms(100)
        if self._want == seq and not self._done.is_set():
            self.timeouts += 1
            self._err = HubError("radio_timeout", "no EZSP response in %d ms" % _T_CMD_MS)
            self._done.set()
            self.link.lost("ezsp_timeout")

    def _frame(self, data):
        try:
            seq, is_cb, fid, p = ef.decode(data, self.legacy)
        except HubError:
            self.dropped += 1
            return
        if not is_cb and seq == self._want and self._rsp is None and not self._done.is_set():
            self._rsp = (fid, bytes(p))
            self._done.set()
        elif is_cb and self.on_callback:
            self.callbacks += 1
            try:
                self.on_callback(fid, p)
            except Exception as e:  # garbage from the NCP must not take the hub down
                self.dropped += 1
                self.log.warn("radio: callback 0x%04X dropped (%r)" % (fid, e))
        else:
            self.dropped += 1

    def _down(self, why):
        self.up = False
        if self._want >= 0 and not self._done.is_set():
            self._err = HubError("radio_reset", "radio link lost (%s)" % (why,))
            self._done.set()
        if self.on_down:
            self.on_down(why)
