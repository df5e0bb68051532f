"""The host side of an ASH link (protocol-facts.md, "ASH") as an I/O-free
state machine: the caller passes in the time (ticks_ms) and writes out the
bytes it returns. The codec it drives is hub.radio.ash.
"""

from time import ticks_add, ticks_diff

from hub.errors import HubError
from hub.radio.ash import (ACK, CAN, DATA, ERROR, FAULT, FRAME, MAX_DATA, NAK, RST, RSTACK,
                           VERSION, Decoder, encode_ack, encode_data, encode_nak, encode_rst)

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
