"""The socket side of the MQTT link: the few MQTT 3.1.1 packets it speaks, and
the reconnect delays (Backoff).

`Sock` wraps the TCP socket so that reading never blocks the hub: the
socket itself never blocks, and waiting for the rest of a packet (or for
room to write) polls it for at most IO_TIMEOUT_S. (A blocking MicroPython
socket reads until a buffer is full.) Bytes are received into the link's
preallocated buffer, as many as the socket has, and packets are parsed in
place: a block is one or two reads, where reading field by field took seven
reads and a poll; a payload being handled at once is a view into the buffer,
not a copy. A message larger than the buffer gets bytes of its own, and one
larger than MAX_MSG is streamed away. The PUBACKs of a batch of messages go
out in one write (`flush`), not one TCP segment each. On top of it:
SUBSCRIBE (QoS 1), reading one packet (a PUBLISH goes to the link's callback
and is acknowledged), PINGREQ and DISCONNECT; `connect_packet` makes the
CONNECT (will retained at QoS 1, persistent session) and the link writes its
own PUBLISHes. A general MQTT client (umqtt.simple) did this before: the hub
used a third of it, and its code and names took about 4 KB of a 100 KB heap
for good. `readable`/`writable` await the socket through asyncio's own poller.
"""

import errno
import random
import select
import struct
import time

from asyncio import core

MAX_MSG = 4096 + 512  # the largest message payload taken in: a full frame payload plus envelope
IO_TIMEOUT_S = 5  # a blocking read/write may wait this long at most


class MqttError(Exception):
    """The broker said no, or something that is not MQTT."""


async def readable(s):
    yield core._io_queue.queue_read(s)


async def writable(s):
    yield core._io_queue.queue_write(s)


class Sock:
    """The link's MQTT connection: blocking means a timeout; counts activity.

    `cb(bin, msg)` gets each PUBLISH: `bin` is True for the binary .../cmd/bin
    topic; msg is a view into the receive buffer, valid until the next read
    (the link handles it at once, or copies it), or None when it was over
    MAX_MSG and discarded.
    """

    def __init__(self, s, link, cb, buf):
        self.s = s
        self.link = link
        self.cb = cb
        self.buf = buf  # a memoryview: the bytes not parsed yet are buf[lo:hi]
        self.lo = self.hi = 0
        self.pid = 0  # the last packet id used
        self.out_buf = bytearray(64)  # PUBACKs not written yet (flush), 4 bytes each
        self.queued = 0
        self.n = 0  # the remaining length of a packet wait_msg() left to the caller
        self.p = select.poll()
        self.p.register(s, select.POLLIN)

    # -- receiving ----------------------------------------------------------

    def _wait(self, ev):
        # The socket is not ready: wait up to IO_TIMEOUT_S for it to be.
        p = self.p
        p.modify(self.s, ev)
        try:
            for _ in p.ipoll(IO_TIMEOUT_S * 1000):
                return
        finally:
            p.modify(self.s, select.POLLIN)
        raise OSError(errno.ETIMEDOUT)

    def _read(self, mv):
        # What the socket has, into mv (at least a byte: waits for one).
        while True:
            got = self.s.readinto(mv)
            if got:
                return got
            if got == 0:
                raise OSError(errno.ECONNRESET)
            self._wait(select.POLLIN)

    def ready(self):
        """True when a packet can be read now: whole in the buffer, or bytes at the socket."""
        return self.pending() or any(self.p.ipoll(0))

    def pending(self):
        """True when a whole packet waits in the buffer (no read needed)."""
        b = self.buf
        lo = self.lo
        k = lo + 1
        n = sh = 0
        while k < self.hi:
            c = b[k]
            n |= (c & 0x7F) << sh
            if not c & 0x80:
                return k + 1 + n <= self.hi
            sh += 7
            k += 1
        return False

    def _fill(self, n):
        # Make sure n unread bytes are in the buffer (n <= its size), reading
        # what the socket has, blocking up to IO_TIMEOUT_S when it has none.
        b = self.buf
        if self.lo == self.hi:  # all read: start over, for the longest read
            self.lo = self.hi = 0
        elif self.lo + n > len(b):  # move the unread bytes to the front
            k = self.hi - self.lo
            if k:
                b[:k] = b[self.lo:self.hi]
            self.lo = 0
            self.hi = k
        while self.hi - self.lo < n:
            self.hi += self._read(b[self.hi:])

    def take(self, n):
        """The next n bytes, as a view into the buffer (valid until the next read)."""
        self._fill(n)
        lo = self.lo
        self.lo = lo + n
        return self.buf[lo:lo + n]

    def _stream(self, n):
        # A payload that does not fit the buffer: bytes of its own, from what
        # is buffered and then straight from the socket.
        if n > MAX_MSG:
            return self._discard(n)
        out = bytearray(n)
        k = min(n, self.hi - self.lo)
        out[:k] = self.buf[self.lo:self.lo + k]
        self.lo += k
        mv = memoryview(out)
        while k < n:
            k += self._read(mv[k:])
        return out

    def _discard(self, n):
        # A message larger than any command: stream it away in pieces rather
        # than allocate it (which would fail, drop the session, and loop
        # forever on QoS 1 redelivery). None tells the link it was too big.
        while n:
            if self.lo == self.hi:
                self._fill(1)
            k = min(n, self.hi - self.lo)
            self.lo += k
            n -= k
        return None

    def wait_msg(self):
        """Read one packet, waiting at most IO_TIMEOUT_S for it (the link
        calls it once bytes are there): a PUBLISH goes to cb (QoS 1:
        acknowledged), a PINGRESP is taken (None); for any other packet its
        type is returned, a PUBACK's packet id read, another's remaining
        length left in `self.n` and its body unread, for the caller."""
        b = self.buf
        if self.hi - self.lo < 2:  # every packet has 2 bytes at least
            self._fill(2)
        op = b[self.lo]
        self.lo += 1
        n = sh = 0
        while True:  # the remaining length, 1 to 4 bytes
            if self.lo == self.hi:
                self._fill(1)
            c = b[self.lo]
            self.lo += 1
            n |= (c & 0x7F) << sh
            if not c & 0x80:
                break
            sh += 7
            if sh > 21:
                raise MqttError("bad remaining length")
        self.link.last_rx = time.ticks_ms()
        if op & 0xF0 == 0x30:
            self._incoming(op, n)
            return None
        if op == 0x40 or op == 0xD0:  # PUBACK (its packet id is not checked), PINGRESP
            if n != (2 if op == 0x40 else 0):
                raise MqttError("bad packet 0x%02X" % op)
            if n:
                self._fill(n)
                self.lo += n
            return None if op == 0xD0 else op
        self.n = n
        return op

    # A PUBLISH, in pieces: every image block comes through here, and a frame
    # of over 11 words would be a heap allocation per call (collections follow).

    def _incoming(self, kind, n):
        # The topic (and packet id) are read in place. Of the two topics the
        # link subscribes to, only .../cmd/bin ends with "n": the binary one.
        # The whole packet is buffered when it fits.
        self._fill(min(n, len(self.buf)))
        lo = self.lo
        self.lo = k = lo + 2 + (self.buf[lo] << 8 | self.buf[lo + 1])  # the topic's end
        if kind & 6:  # QoS 1: the packet id follows
            self.lo += 2
        if self.lo - lo > min(n, len(self.buf)) or kind & 4:  # QoS 2 is never subscribed to
            raise MqttError("bad PUBLISH")
        self._handle(n - (self.lo - lo), self.buf[k - 1] == 110, k if kind & 6 else -1)

    def _handle(self, n, bin, i):
        # The PUBACK of the packet id at i (QoS 1; i is -1 for QoS 0), then
        # the payload (n bytes from lo) to cb.
        if i >= 0:  # read before the payload may move the buffer
            self.puback(self.buf[i], self.buf[i + 1])
        if self.lo + n <= len(self.buf):  # whole in the buffer: a view
            msg = self.buf[self.lo:self.lo + n]
            self.lo += n
            if not self.link.direct:
                msg = bytes(msg)  # queued: the buffer moves on
        else:
            msg = self._stream(n)
        self.cb(bin, msg)

    def puback(self, hi, lo):
        # Held back to be written with the batch's others (flush).
        i = self.queued
        if i == 64:
            self.flush()
            i = 0
        a = self.out_buf
        a[i] = 0x40
        a[i + 1] = 2
        a[i + 2] = hi
        a[i + 3] = lo
        self.queued = i + 4

    def flush(self):
        """Write the PUBACKs held back (the link calls it after each batch)."""
        if self.queued:
            n = self.queued
            self.queued = 0
            self.write(self.out_buf, n)

    # -- sending --------------------------------------------------------------

    def write(self, buf, n=-1):
        """Write buf (its first n bytes), waiting up to IO_TIMEOUT_S at a time for room."""
        self.link.last_tx = time.ticks_ms()
        if n < 0:
            n = len(buf)
        k = self.s.write(buf, n) or 0
        while k < n:  # the send buffer is full
            self._wait(select.POLLOUT)
            k += self.s.write(memoryview(buf)[k:n]) or 0

    def close(self):
        self.s.close()

    def send_str(self, b):
        self.write(struct.pack("!H", len(b)))
        self.write(b)

    def next_pid(self):
        self.pid = self.pid % 0xFFFF + 1
        return self.pid

    def subscribe(self, topic):
        """SUBSCRIBE at QoS 1 and wait for its SUBACK (PUBLISHes before it go to cb)."""
        pkt = bytearray(b"\x82\0\0\0")
        struct.pack_into("!BH", pkt, 1, 5 + len(topic), self.next_pid())
        self.write(pkt)
        self.send_str(topic)
        self.write(b"\x01")
        while True:
            op = self.wait_msg()
            self.flush()
            if op == 0x90:
                r = self.take(self.n)
                if len(r) != 3 or r[0:2] != pkt[2:4]:
                    raise MqttError("bad SUBACK")
                if r[2] == 0x80:
                    raise MqttError("subscription refused")
                return
            if op is not None and op != 0x40:
                raise MqttError("unexpected packet 0x%02X" % op)

    def ping(self):
        self.write(b"\xc0\0")

    def disconnect(self):
        self.write(b"\xe0\0")
        self.close()


class Backoff:
    """Reconnect delays: exponential from 0.5 s doubling to 30 s, with full
    jitter. (Here rather than in a module of its own: each module loaded is
    two names in the qstr table for good, and the 100 KiB ESP32 is a few names
    short of the table's next 4.5 KB piece.)"""

    def __init__(self, base_ms=500, cap_ms=30000):
        self.base_ms = base_ms
        self.cap_ms = cap_ms
        self.attempt = 0

    def ceiling_ms(self):
        """The upper bound of the next delay."""
        return min(self.cap_ms, self.base_ms << min(self.attempt, 16))

    def next_ms(self):
        """A delay uniformly drawn from [0, ceiling] ("full jitter"); then double."""
        top = self.ceiling_ms()
        self.attempt += 1
        return random.getrandbits(20) * top >> 20

    def reset(self):
        """After a good connection the next failure starts from the base again."""
        self.attempt = 0


def connect_packet(client_id, keepalive, will_topic, will_msg):
    # MQTT 3.1.1 CONNECT: clean session off, will retained at QoS 1.
    def s(b):
        return struct.pack("!H", len(b)) + b

    body = b"\x00\x04MQTT\x04" + bytes((0x2C,)) + struct.pack("!H", keepalive)
    body += s(client_id) + s(will_topic) + s(will_msg)
    n = len(body)
    hdr = bytearray(b"\x10")
    while True:
        hdr.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            break
    return bytes(hdr) + body
