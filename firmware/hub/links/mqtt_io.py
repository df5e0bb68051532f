"""The socket side of the MQTT link: the few MQTT 3.1.1 packets it speaks.

`Sock` wraps the TCP socket so that reading never blocks the hub: "blocking"
means a timeout of IO_TIMEOUT_S, a payload being handled at once is read
into the link's preallocated buffer, and a message larger than MAX_MSG is
streamed away. On top of it: SUBSCRIBE (QoS 1), reading one packet (a
PUBLISH goes to the link's callback and is acknowledged), PINGREQ and
DISCONNECT; `connect_packet` makes the CONNECT (will retained at QoS 1,
persistent session) and the link writes its own PUBLISHes. A general MQTT
client (umqtt.simple) did this before: the hub used a third of it, and its
code and names took about 4 KB of a 100 KB heap for good.
`readable`/`writable` await the socket through asyncio's own poller.
"""

import errno
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

    `cb(topic, msg)` gets each PUBLISH (msg None: over MAX_MSG, discarded).
    """

    def __init__(self, s, link, cb):
        self.s = s
        self.link = link
        self.cb = cb
        self.pid = 0  # the last packet id used
        # Header bytes are read into views of one small buffer and PUBACKs
        # written from another: a message allocates nothing but its topic.
        b = memoryview(bytearray(4))
        self.hv = (None, b[:1], b[:2], b[:3], b)
        self.puback = bytearray(b"\x40\x02\0\0")
        self.rxv = None  # the last view of the link's buffer: the blocks of a download share a size

    def read(self, n):
        if n > MAX_MSG:
            return self._discard(n)
        link = self.link
        if link.direct and 128 < n <= 2304:  # handled at once: the buffer is free
            d = self.rxv
            if d is None or len(d) != n:
                d = self.rxv = link.rx[:n]
            self._fill(d)
        else:
            d = self.s.read(n)
        if d:
            link.last_rx = time.ticks_ms()
        return d

    def take(self, n):
        """The next n (1..4) bytes, in a view that the next call reuses."""
        return self._fill(self.hv[n])

    def _fill(self, mv):
        # Read exactly len(mv) bytes into mv; returns it.
        n = len(mv)
        k = 0
        while k < n:
            got = self.s.readinto(mv[k:] if k else mv)
            if not got:
                raise OSError(errno.ECONNRESET)
            k += got
        return mv

    def _discard(self, n):
        # A message larger than any command: stream it away in small pieces
        # rather than allocate it (which would fail, drop the session, and
        # loop forever on QoS 1 redelivery). None tells _on_msg it was too big.
        buf = bytearray(256)
        mv = memoryview(buf)
        while n:
            got = self.s.readinto(mv[:min(n, 256)])
            if not got:
                raise OSError(errno.ECONNRESET)
            n -= got
        self.link.last_rx = time.ticks_ms()
        return None

    def write(self, *a):
        self.link.last_tx = time.ticks_ms()
        return self.s.write(*a)

    def setblocking(self, flag):
        if flag:
            self.s.settimeout(IO_TIMEOUT_S)
        else:
            self.s.setblocking(False)

    def close(self):
        self.s.close()

    # -- MQTT packets ------------------------------------------------------

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
            if self.wait_msg() == 0x90:
                r = self.take(4)
                if r[1:3] != pkt[2:4]:
                    raise MqttError("bad SUBACK")
                if r[3] == 0x80:
                    raise MqttError("subscription refused")
                return

    def wait_msg(self):
        """Read one packet, waiting at most IO_TIMEOUT_S for it (the link
        calls it once the socket is readable): a PUBLISH goes to cb (QoS 1:
        acknowledged), a PINGRESP is taken; any other packet type is
        returned, its first byte read, for the caller to finish."""
        op = self.take(1)[0]
        self.link.last_rx = time.ticks_ms()
        if op == 0xD0:  # PINGRESP
            if self.take(1)[0]:
                raise MqttError("bad PINGRESP")
            return None
        if op & 0xF0 != 0x30:
            return op
        n = sh = 0
        while True:
            c = self.take(1)[0]
            n |= (c & 0x7F) << sh
            if not c & 0x80:
                break
            sh += 7
            if sh > 21:
                raise MqttError("bad remaining length")
        t = self.take(2)
        k = t[0] << 8 | t[1]
        topic = self.read(k)
        n -= k + 2
        pid = None
        if op & 6:
            t = self.take(2)
            pid = t[0] << 8 | t[1]
            n -= 2
        if n < 0 or op & 4:  # QoS 2 is never subscribed to
            raise MqttError("bad PUBLISH")
        self.cb(topic, self.read(n))
        if pid is not None:  # QoS 1: PUBACK
            a = self.puback
            a[2] = pid >> 8
            a[3] = pid & 0xFF
            self.write(a)
        return None

    def ping(self):
        self.write(b"\xc0\0")

    def disconnect(self):
        self.write(b"\xe0\0")
        self.close()


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
