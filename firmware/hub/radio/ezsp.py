"""EZSP host over a RadioLink (protocol-facts.md, "EZSP"; bellows ezsp/v4, v8).

One command is outstanding at a time (an NCP answers in order and the UART
protocol expects the host to wait): `cmd()` sends a frame and returns the
response's parameters, matched by sequence number; callbacks go to
`on_callback(frame_id, params)` as they arrive. hub.radio.ezsp_start brings
the link up and negotiates the protocol version (v8 to v13); it is loaded only
while starting. A timeout, an NCP reset or an ASH failure fails the pending
command with a structured error and calls `on_down(reason)`; the owner then
starts it again.

Frame headers:
    legacy (v4 to v7, and the first `version` of every start-up):
        seq | fc | id8 | params
    extended (v8 and later):
        seq | fc_lo | fc_hi | id_lo | id_hi | params
fc (fc_lo): bit 7 response (NCP to host), bits 4..3 callback type (0 none,
1 synchronous, 2 asynchronous), bit 2 callback pending, bit 1 truncated,
bit 0 overflow. fc_hi carries the frame format version, 1. The frame ids
are constants where they are used (no table of them is resident).
"""

import struct
import time

import asyncio
from micropython import const

from hub.errors import HubError

_INVALID_COMMAND = const(0x0058)
_FC_CALLBACK_MASK = const(0x18)
_FC_HI_FORMAT = const(0x01)
_T_CMD_MS = const(5000)  # an NCP answers in milliseconds; past this the link is broken


def encode(seq, frame_id, params=b"", legacy=False):
    """A host-to-NCP command frame as bytes."""
    n = len(params)
    if legacy:
        if frame_id > 0xFF:
            raise HubError("bad_args", "legacy frame id is 8-bit")
        out = bytearray(3 + n)
        out[0] = seq & 0xFF
        out[2] = frame_id
        out[3:] = params
    else:
        out = bytearray(5 + n)
        struct.pack_into("<BBBH", out, 0, seq & 0xFF, 0, _FC_HI_FORMAT, frame_id)
        out[5:] = params
    return bytes(out)


def decode(frame, legacy=False):
    """Split an NCP-to-host frame: (seq, is_callback, frame_id, params).

    params is a memoryview into frame. Raises HubError("bad_frame") if the
    frame is shorter than its header.
    """
    h = 3 if legacy else 5
    if len(frame) < h:
        raise HubError("bad_frame", "EZSP frame shorter than its header")
    fid = frame[2] if legacy else frame[3] | (frame[4] << 8)
    return frame[0], (frame[1] & _FC_CALLBACK_MASK) != 0, fid, memoryview(frame)[h:]


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
            self.link.send(encode(seq, frame_id, params, self.legacy))
            self.commands += 1
            self._deadline = time.ticks_add(time.ticks_ms(), _T_CMD_MS)
            asyncio.create_task(self._watch(seq))
            await self._done.wait()
            if self._err is not None:
                raise self._err
            fid, p = self._rsp
            if fid == _INVALID_COMMAND and frame_id != _INVALID_COMMAND:
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
            seq, is_cb, fid, p = decode(data, self.legacy)
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
