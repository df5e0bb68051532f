"""Serial control-plane frames (docs/PROTOCOL.md, "Serial frames").

    A5 5A | kind u8 | seq u16 | len u16 | hcrc u16 | payload[len] | crc u32

The decoder is incremental and allocation-free on the hot path: it owns one
preallocated payload buffer and stops after each complete frame or error so
the caller can use `payload` before the buffer is reused.
"""

import struct
from binascii import crc32
from time import ticks_diff

from hub.codecs import loads
from micropython import const

_SYNC1 = const(0xA5)
_SYNC2 = const(0x5A)
REQUEST = 1
RESPONSE = 2
ERROR = 3
EVENT = 4
MAX_PAYLOAD = 4096
_OVERHEAD = const(13)
_TIMEOUT_MS = const(200)

# Results of Decoder.feed (Decoder.result).
_NONE = const(0)
FRAME = 1
FAULT = 2

# Decoder states.
_S1 = const(0)  # scanning for A5
_S2 = const(1)  # saw A5, want 5A
_HDR = const(2)  # collecting the 7 header bytes after the sync
_BODY = const(3)  # collecting payload + crc into the buffer
_SKIP = const(4)  # discarding an oversize frame without buffering it


class Decoder:
    """Incremental frame decoder with resync (see PROTOCOL.md receiver rules)."""

    def __init__(self, max_payload=MAX_PAYLOAD, timeout_ms=_TIMEOUT_MS):
        self.max_payload = max_payload
        self.timeout_ms = timeout_ms
        self.hdr = bytearray(7)  # kind, seq, len, hcrc
        self._rep = bytearray(7)  # header bytes to rescan after a bad hcrc
        self.buf = bytearray(max_payload + 4)
        self._mv = memoryview(self.buf)
        self.state = _S1
        self.pos = 0
        self.need = 0
        self.last = 0
        self.result = _NONE
        self.kind = 0
        self.seq = 0
        self.length = 0
        self.error = None
        self.payload = None
        # Counters for status and tests.
        self.frames = 0
        self.faults = 0
        self.rp = 0  # bytes of a failed frame to read again: buf[rp:rn] (see _resync)
        self.rn = 0
        self.skipped = 0  # bytes outside frames (console text on a real board)
        self.dropped = 0  # partial frames dropped by the inter-byte timeout
        self.bad_hcrc = 0

    def reset(self):
        """Forget any partial frame."""
        self.state = _S1
        self.pos = 0
        self.rn = 0

    @property
    def pending(self):
        """True while bytes of a failed frame wait to be read again: feed more
        (even an empty range) until it is False."""
        return self.rn > 0

    def feed(self, data, start, end, now):
        """Consume data[start:end] received at ticks_ms `now`.

        Returns the index after the last byte consumed. It stops early after a
        frame (result FRAME: kind, seq, payload) or an error that must be
        answered (result FAULT: seq, error), so call again with the rest.
        """
        self.result = _NONE
        if start < end:
            if self.state != _S1 and ticks_diff(now, self.last) > self.timeout_ms:
                self.dropped += 1
                if self.state == _BODY:  # what came of it may hold a whole frame
                    self._resync(None, 0, 0, self.pos)
                self.state = _S1
            self.last = now
        if self.rn:  # they came before data[start:]
            n = self.rn
            self.rn = 0
            i = self._run(self.buf, self.rp, n)
            if not self.rn and i < n:  # stopped at a frame or fault: the rest later
                self.rp, self.rn = i, n
            if self.result != _NONE:
                return start
        return self._run(data, start, end)

    def _run(self, data, i, end):
        while i < end:
            st = self.state
            if st == _BODY:
                n = min(end - i, self.need - self.pos)
                self.buf[self.pos:self.pos + n] = data[i:i + n]
                self.pos += n
                i += n
                if self.pos == self.need:
                    self._finish()
                    if self.result == FAULT:
                        self._resync(data, i, end, self.need)
                    return i
            elif st == _SKIP:
                n = min(end - i, self.need)
                self.need -= n
                i += n
                if self.need == 0:
                    self.state = _S1
            else:
                i = self._scan(data, i, end)
                if self.result != _NONE:
                    return i
        return i

    def _scan(self, data, i, end):
        # Sync and header, byte by byte (at most 9 bytes per frame).
        hdr = self.hdr
        while i < end:
            b = data[i]
            i += 1
            st = self.state
            if st == _S1:
                if b == _SYNC1:
                    self.state = _S2
                else:
                    self.skipped += 1
            elif st == _S2:
                if b == _SYNC2:
                    self.state = _HDR
                    self.pos = 0
                elif b != _SYNC1:  # A5 A5 5A: the second A5 may start a frame
                    self.state = _S1
                    self.skipped += 2
                else:
                    self.skipped += 1
            else:
                hdr[self.pos] = b
                self.pos += 1
                if self.pos == 7:
                    self._header()
                    if self.result != _NONE or self.state != _S1:
                        return i
        return i

    def _header(self):
        hdr = self.hdr
        kind, seq, length, hcrc = struct.unpack_from("<BHHH", hdr, 0)
        if crc32(memoryview(hdr)[0:5]) & 0xFFFF != hcrc:
            # Drop it and rescan from the byte after the sync: the header
            # bytes themselves may hold the real start of a frame.
            self.bad_hcrc += 1
            self.skipped += 2
            self.state = _S1
            self._rep[:] = hdr
            self._scan(self._rep, 0, 7)
            return
        self.kind = kind
        self.seq = seq
        self.length = length
        if length > self.max_payload:
            self.state = _SKIP
            self.need = length + 4
            self._fault("too_large")
            return
        self.state = _BODY
        self.pos = 0
        self.need = length + 4

    def _resync(self, data, i, end, n):
        # The n body bytes of a frame that failed (bad CRC, or dropped by the
        # timeout) may hold the start of the next frame: the sender gave up on
        # one and began another. Read them again from their first sync byte,
        # moved to the front of buf; a frame found there is copied further to
        # the front as it is read, so nothing is overwritten before it is
        # read. When these bytes were themselves being read again (data is
        # buf), the rest of that replay follows them.
        k = self.buf.find(b"\xa5", 0, n)
        a = 0
        if k >= 0:
            a = n - k
            self.buf[0:a] = self._mv[k:n]
        if data is self.buf and i < end:
            self.buf[a:a + end - i] = self._mv[i:end]
            a += end - i
        self.rp, self.rn = 0, a

    def _finish(self):
        n = self.length
        mv = self._mv
        crc = crc32(mv[0:n], crc32(self.hdr))
        self.state = _S1
        if crc != struct.unpack_from("<I", self.buf, n)[0]:
            self._fault("bad_crc")
            return
        self.frames += 1
        self.result = FRAME
        self.payload = mv[0:n]

    def _fault(self, code):
        self.faults += 1
        self.error = code
        self.result = FAULT


def payload_size(name, jbytes, data=None):
    """Bytes a payload with this name, JSON and data takes."""
    return 3 + len(name) + len(jbytes) + (len(data) if data else 0)


def write_payload(buf, off, name, jbytes, data=None):
    """Write a payload (nlen, name, jlen, json, data) at buf[off]; return the end."""
    n = len(name)
    buf[off] = n
    off += 1
    buf[off:off + n] = name
    off += n
    n = len(jbytes)
    struct.pack_into("<H", buf, off, n)
    off += 2
    buf[off:off + n] = jbytes
    off += n
    if data:
        n = len(data)
        buf[off:off + n] = data
        off += n
    return off


def encode_into(buf, kind, seq, name, jbytes, data=None):
    """Encode one frame into `buf`; return its length. ValueError if too large.

    `name` and `jbytes` are bytes or str (an empty `jbytes` means `{}`).
    """
    if isinstance(name, str):
        name = name.encode()
    if isinstance(jbytes, str):
        jbytes = jbytes.encode()
    plen = payload_size(name, jbytes, data)
    if plen > MAX_PAYLOAD or plen + _OVERHEAD > len(buf) or len(name) > 255:
        raise ValueError("frame too large")
    buf[0] = _SYNC1
    buf[1] = _SYNC2
    struct.pack_into("<BHH", buf, 2, kind, seq & 0xFFFF, plen)
    mv = memoryview(buf)
    struct.pack_into("<H", buf, 7, crc32(mv[2:7]) & 0xFFFF)
    end = write_payload(buf, 9, name, jbytes, data)
    struct.pack_into("<I", buf, end, crc32(mv[2:end]))
    return end + 4


def encode(kind, seq, name, jbytes=b"", data=None):
    """Encode one frame and return it as a new bytearray (tests, rare paths)."""
    if isinstance(name, str):
        name = name.encode()
    if isinstance(jbytes, str):
        jbytes = jbytes.encode()
    buf = bytearray(payload_size(name, jbytes, data) + _OVERHEAD)
    encode_into(buf, kind, seq, name, jbytes, data)
    return buf


def write_frame(write, kind, seq, name, jbytes, data=None):
    """Write one frame through write(buf) in pieces, without a frame buffer.

    Saves a MAX_PAYLOAD-sized transmit buffer on a small heap; the pieces go
    out back to back (no await between them), so nothing interleaves. A str
    goes out through a view of its UTF-8 bytes (len() of the view counts
    bytes), not an encoded copy: a 2 KB reply would need 2 KB more heap in
    one piece, which a fragmented 100 KiB heap may not have.
    """
    if isinstance(name, str):
        name = name.encode()
    if isinstance(jbytes, str):
        jbytes = memoryview(jbytes)
    plen = payload_size(name, jbytes, data)
    if plen > MAX_PAYLOAD or len(name) > 255:
        raise ValueError("frame too large")
    h = bytearray(10)
    h[0] = _SYNC1
    h[1] = _SYNC2
    struct.pack_into("<BHH", h, 2, kind, seq & 0xFFFF, plen)
    mv = memoryview(h)
    struct.pack_into("<H", h, 7, crc32(mv[2:7]) & 0xFFFF)
    h[9] = len(name)
    jl = struct.pack("<H", len(jbytes))
    crc = crc32(jl, crc32(name, crc32(mv[2:10])))
    crc = crc32(jbytes, crc)
    if data:
        crc = crc32(data, crc)
    write(h)
    write(name)
    write(jl)
    write(jbytes)
    if data:
        write(data)
    write(struct.pack("<I", crc))
    return plen + _OVERHEAD


def decode_payload(payload, start=0):
    """payload[start:] as (name str, jbytes memoryview, data memoryview), or a
    str saying why it is not a payload (the lengths do not add up, or the name
    is not printable ASCII).

    The name may be empty (errors about frames whose name is unknown, such as
    bad_crc). The JSON is not parsed here (see parse_json). Every image block
    comes through here: it makes only the views it returns (a memoryview given
    is not wrapped again), the fault is returned, not raised, and its frame
    stays within the 11 words MicroPython keeps on the C stack (catching an
    exception, or a larger frame, is a heap allocation per call).
    """
    mv = payload if type(payload) is memoryview else memoryview(payload)
    if len(mv) - start < 3:
        return "payload too short"
    off = start + 1 + mv[start]  # the name's end (a length of 0 is allowed)
    if off + 2 > len(mv):
        return "bad name length"
    name = _str(mv[start + 1:off])
    if name is None:
        return "name not ASCII"
    start = off + 2 + (mv[off] | mv[off + 1] << 8)  # the JSON's end
    if start > len(mv):
        return "bad json length"
    return name, mv[off + 2:start], mv[start:]


def _str(b):
    # Printable ASCII as a str, else None (a loop: min()/max() would allocate iterators).
    for c in b:
        if c < 0x21 or c > 0x7E:
            return None
    return str(b, "ascii")


def parse_json(jbytes):
    """Parse JSON bytes (empty means {}); HubError bad_json if it is not JSON."""
    if not len(jbytes):
        return {}
    return loads(jbytes)  # json.loads reads a memoryview in place: no copy
