"""ASH, the UART framing of Silicon Labs NCPs (docs: protocol-facts.md, "ASH").

    wire = stuff(control + data + crc16_be) + 7E

Part 1 is the codec: CRC, LFSR randomisation, byte stuffing, one encoder per
frame type and an incremental, allocation-free Decoder. Part 2 is Host, the
host side of the link as an I/O-free state machine: the caller passes in the
time (ticks_ms) and writes out the bytes it returns.
"""

from time import ticks_add, ticks_diff

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


# Host states.
IDLE = 0
CONNECTING = 1
CONNECTED = 2
FAILED = 3

# Events returned by Host methods, as (event, value) tuples.
EV_CONNECTED = 1  # value: the RSTACK reset code
EV_DATA = 2  # value: a received EZSP frame (bytes)
EV_SENT = 3  # value: the payload the NCP acknowledged
EV_RESET = 4  # value: reset code of an unexpected RSTACK (counters zeroed)
EV_FAILED = 5  # value: "rst_timeout", "bad_version", "ack_timeout" or ("ncp_error", code)

T_ACK_INIT = 1600
T_ACK_MIN = 400
T_ACK_MAX = 3200
T_RSTACK = 3200
TRIES = 5  # transmissions of one DATA frame (or RST) before failing
QUEUE = 4  # payloads waiting behind the one outstanding

_NO = ()


class Host:
    """Host end of an ASH link; no I/O, time passed in as ticks_ms.

    connect/send/feed/poll each return (tx, events): bytes to write to the
    NCP (b"" if none) and a list of (event, value) (possibly empty). One DATA
    frame is outstanding at a time; later sends wait in a short queue.
    """

    def __init__(self, max_data=MAX_DATA):
        self.dec = Decoder(max_data)
        self.state = IDLE
        self.t_ack = T_ACK_INIT
        self._tx = bytearray()
        self._ev = None
        self._clear()

    def _clear(self):
        self.tx_seq = 0  # frame number of the next new DATA frame
        self.rx_seq = 0  # ackNum: next frame number expected from the NCP
        self.rej = False  # reject condition: one NAK sent, more are muted
        self.out = None  # the outstanding payload
        self.out_frm = 0
        self.tries = 0
        self.sent_at = 0
        self.deadline = 0
        self.queue = []
        self.ncp_not_ready = False

    def _emit(self, ev, value):
        if self._ev is None:
            self._ev = []
        self._ev.append((ev, value))

    def _result(self):
        tx = bytes(self._tx) if self._tx else b""
        self._tx = bytearray()
        ev = self._ev or _NO
        self._ev = None
        return tx, ev

    def connect(self, now):
        """Start (or restart) the link: CAN + RST, then wait for RSTACK."""
        self.dec.reset()
        self._clear()
        self.state = CONNECTING
        self._send_rst(now)
        return self._result()

    def _send_rst(self, now):
        self.tries += 1
        self._tx.append(CAN)
        self._tx.extend(encode_rst())
        self.deadline = ticks_add(now, T_RSTACK)

    def send(self, payload, now):
        """Queue one EZSP frame; it goes out when the previous one is acked."""
        if self.state != CONNECTED:
            raise HubError("busy", "ASH link not connected")
        if not 0 < len(payload) <= MAX_DATA:
            raise HubError("too_large", "ASH data is 1..%d bytes" % MAX_DATA)
        if len(self.queue) >= QUEUE:
            raise HubError("busy", "ASH queue full")
        self.queue.append(bytes(payload))
        self._pump(now)
        return self._result()

    def _pump(self, now):
        if self.out is None and self.queue and self.state == CONNECTED:
            self.out = self.queue.pop(0)
            self.out_frm = self.tx_seq
            self.tx_seq = (self.tx_seq + 1) & 7
            self.tries = 0
            self._transmit(now, False)

    def _transmit(self, now, retx):
        self.tries += 1
        self.sent_at = now
        self.deadline = ticks_add(now, self.t_ack)
        self._tx.extend(encode_data(self.out_frm, self.rx_seq, self.out, retx))

    def _adapt(self, t):
        self.t_ack = max(T_ACK_MIN, min(T_ACK_MAX, t))

    def poll(self, now):
        """Run the timers: RST and DATA retransmissions, failure."""
        if ticks_diff(now, self.deadline) >= 0:
            if self.state == CONNECTING:
                if self.tries >= TRIES:
                    self._fail("rst_timeout")
                else:
                    self._send_rst(now)
            elif self.state == CONNECTED and self.out is not None:
                self._adapt(2 * self.t_ack)
                if self.tries >= TRIES:
                    self._fail("ack_timeout")
                else:
                    self._transmit(now, True)
        return self._result()

    def _fail(self, why):
        self.state = FAILED
        self.out = None
        self.queue = []
        self._emit(EV_FAILED, why)

    def feed(self, data, now):
        """Take bytes read from the NCP."""
        dec = self.dec
        i = 0
        n = len(data)
        while i < n:
            i = dec.feed(data, i, n)
            if dec.result == FRAME:
                self._frame(dec, now)
            elif dec.result == FAULT and self.state == CONNECTED:
                self._reject()
        self._pump(now)
        return self._result()

    def _reject(self):
        if not self.rej:
            self.rej = True
            self._tx.extend(encode_nak(self.rx_seq))

    def _frame(self, dec, now):
        k = dec.kind
        if k == RSTACK:
            return self._rstack(dec)
        if k == ERROR:
            if self.state != FAILED:
                self._fail(("ncp_error", dec.code))
            return
        if self.state != CONNECTED:
            return
        if k != RST:
            self.ncp_not_ready = dec.nrdy
            self._acked(dec.ack, now)
        if k == DATA:
            if dec.frm == self.rx_seq:
                self.rx_seq = (self.rx_seq + 1) & 7
                self.rej = False
                self._tx.extend(encode_ack(self.rx_seq))
                self._emit(EV_DATA, bytes(dec.data))
            elif dec.retx and dec.frm == (self.rx_seq - 1) & 7:
                self._tx.extend(encode_ack(self.rx_seq))  # a duplicate: re-ack
            else:
                self._reject()
        elif k == NAK and self.out is not None and dec.ack == self.out_frm:
            if self.tries >= TRIES:
                self._fail("ack_timeout")
            else:
                self._transmit(now, True)

    def _acked(self, ack, now):
        # ackNum is the next frame the NCP expects: out_frm + 1 acks ours.
        if self.out is not None and ack == (self.out_frm + 1) & 7:
            self._adapt(self.t_ack * 7 // 8 + ticks_diff(now, self.sent_at) // 2)
            self._emit(EV_SENT, self.out)
            self.out = None

    def _rstack(self, dec):
        if self.state == CONNECTING:
            if dec.version != VERSION:
                return self._fail("bad_version")
            self._clear()
            self.state = CONNECTED
            self._emit(EV_CONNECTED, dec.code)
        elif self.state == CONNECTED:
            # The NCP reset under us: both counters restart, in-flight is lost.
            self._clear()
            self._emit(EV_RESET, dec.code)
