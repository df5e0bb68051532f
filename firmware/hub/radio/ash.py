"""ASH, the UART framing of Silicon Labs NCPs (docs: protocol-facts.md, "ASH").

    wire = stuff(control + data + crc16_be) + 7E

The codec: CRC, LFSR randomisation, byte stuffing, one encoder per frame type
and an incremental, allocation-free Decoder. The host side of the link, as a
state machine, is hub.radio.ash_host.
"""

from hub.errors import HubError

FLAG = 0x7E
ESC = 0x7D
XON = 0x11
XOFF = 0x13
SUB = 0x18
CAN = 0x1A
VERSION = 2
MAX_DATA = 128  # bytes of EZSP frame in one DATA frame

# Frame kinds (Decoder.kind).
DATA = 0
ACK = 1
NAK = 2
RST = 3
RSTACK = 4
ERROR = 5

# Decoder.result after feed().
NONE = 0
FRAME = 1
FAULT = 2  # Decoder.error: "bad_crc", "bad_frame" or "too_large"


def crc16(data, start=0, end=None, crc=0xFFFF):
    """CRC-CCITT (poly 0x1021, no reflection) of data[start:end], no table."""
    if end is None:
        end = len(data)
    for i in range(start, end):
        crc = ((crc >> 8) | (crc << 8)) & 0xFFFF
        crc ^= data[i]
        crc ^= (crc & 0xFF) >> 4
        crc ^= (crc << 12) & 0xFFFF
        crc ^= (crc & 0xFF) << 5
    return crc


def randomise(buf, start=0, end=None):
    """XOR buf[start:end] in place with the LFSR sequence 42 21 A8 54 ...

    The same call undoes it.
    """
    if end is None:
        end = len(buf)
    r = 0x42
    for i in range(start, end):
        buf[i] ^= r
        r = (r >> 1) ^ 0xB8 if r & 1 else r >> 1


def _reserved(b):
    return b == FLAG or b == ESC or b == XON or b == XOFF or b == SUB or b == CAN


def stuff(raw):
    """Escape reserved bytes of raw (no flag added); returns a bytearray."""
    out = bytearray()
    for b in raw:
        if _reserved(b):
            out.append(ESC)
            out.append(b ^ 0x20)
        else:
            out.append(b)
    return out


def _frame(control, data=b"", rand=False):
    # control + data (+ randomised) + CRC, stuffed, + flag.
    n = len(data)
    raw = bytearray(n + 3)
    raw[0] = control
    raw[1:1 + n] = data
    if rand:
        randomise(raw, 1, 1 + n)
    crc = crc16(raw, 0, n + 1)
    raw[n + 1] = crc >> 8
    raw[n + 2] = crc & 0xFF
    out = stuff(raw)
    out.append(FLAG)
    return bytes(out)


def encode_data(frm, ack, payload, retx=False):
    """A DATA frame: control 0FFFRAAA, payload randomised."""
    if not 0 < len(payload) <= MAX_DATA:
        raise HubError("too_large", "ASH data is 1..%d bytes" % MAX_DATA)
    c = ((frm & 7) << 4) | (8 if retx else 0) | (ack & 7)
    return _frame(c, payload, True)


def encode_ack(ack, nrdy=False):
    """An ACK frame: control 100rNAAA."""
    return _frame(0x80 | (8 if nrdy else 0) | (ack & 7))


def encode_nak(ack, nrdy=False):
    """A NAK frame: control 101rNAAA."""
    return _frame(0xA0 | (8 if nrdy else 0) | (ack & 7))


def encode_rst():
    return _frame(0xC0)


def encode_rstack(code, version=VERSION):
    return _frame(0xC1, bytes((version, code)))


def encode_error(code, version=VERSION):
    return _frame(0xC2, bytes((version, code)))


class Decoder:
    """Incremental ASH decoder with resync.

    feed(data, start, end) stops after each complete frame or fault and
    returns the index of the next unread byte; read `result` and, for FRAME,
    kind, frm, ack, retx, nrdy, code, version and `data` (a memoryview into
    the decoder's buffer, valid until the next feed). XON/XOFF are skipped,
    CAN drops the frame in progress, SUB drops everything up to the next flag.
    """

    def __init__(self, max_data=MAX_DATA):
        self.buf = bytearray(max_data + 3)
        self._mv = memoryview(self.buf)
        self.pos = 0
        self.esc = False
        self.drop = False  # after SUB or an overflow: discard until FLAG
        self.over = False
        self.result = NONE
        self.error = None
        self.kind = 0
        self.frm = 0
        self.ack = 0
        self.retx = False
        self.nrdy = False
        self.version = 0
        self.code = 0
        self.data = None
        self.frames = 0
        self.faults = 0

    def reset(self):
        self.pos = 0
        self.esc = False
        self.drop = False
        self.over = False

    def feed(self, data, start=0, end=None):
        if end is None:
            end = len(data)
        self.result = NONE
        buf = self.buf
        cap = len(buf)
        i = start
        while i < end:
            b = data[i]
            i += 1
            if b == FLAG:
                if not self.drop and self.pos:
                    self._finish()
                elif self.over:
                    self._fault("too_large")
                self.reset()
                if self.result != NONE:
                    return i
            elif b == CAN:
                self.reset()
            elif b == SUB:
                self.drop = True
            elif b == XON or b == XOFF or self.drop:
                pass
            elif b == ESC:
                self.esc = True
            else:
                if self.esc:
                    b ^= 0x20
                    self.esc = False
                if self.pos == cap:
                    self.drop = self.over = True
                else:
                    buf[self.pos] = b
                    self.pos += 1
        return i

    def _finish(self):
        n = self.pos
        buf = self.buf
        if self.esc or n < 3:
            return self._fault("bad_frame")
        if crc16(buf, 0, n - 2) != (buf[n - 2] << 8) | buf[n - 1]:
            return self._fault("bad_crc")
        c = buf[0]
        n -= 3  # data bytes
        self.retx = self.nrdy = False
        self.frm = 0
        self.ack = c & 7
        if c & 0x80 == 0:
            if n == 0:
                return self._fault("bad_frame")
            self.kind = DATA
            self.frm = (c >> 4) & 7
            self.retx = bool(c & 8)
            randomise(buf, 1, 1 + n)
        elif c & 0xE0 == 0x80 or c & 0xE0 == 0xA0:
            if n:
                return self._fault("bad_frame")
            self.kind = ACK if c & 0x20 == 0 else NAK
            self.nrdy = bool(c & 8)
        elif c == 0xC0 and n == 0:
            self.kind = RST
        elif (c == 0xC1 or c == 0xC2) and n == 2:
            self.kind = RSTACK if c == 0xC1 else ERROR
            self.version = buf[1]
            self.code = buf[2]
        else:
            return self._fault("bad_frame")
        self.data = self._mv[1:1 + n]
        self.frames += 1
        self.result = FRAME

    def _fault(self, code):
        self.faults += 1
        self.error = code
        self.result = FAULT
