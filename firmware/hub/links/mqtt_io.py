"""The socket side of the MQTT link: what umqtt.simple reads and writes through.

`Sock` wraps the TCP socket so that umqtt never blocks the hub: "blocking"
means a timeout of IO_TIMEOUT_S, a payload being handled at once is read
into the link's preallocated buffer, and a message larger than MAX_MSG is
streamed away. `connect_packet` is the CONNECT umqtt cannot make (no will
retain at QoS 1 with a persistent session); `readable`/`writable` await the
socket through asyncio's own poller.
"""

import errno
import struct
import time

from asyncio import core

MAX_MSG = 4096 + 512  # the largest message payload taken in: a full frame payload plus envelope
IO_TIMEOUT_S = 5  # a blocking umqtt read/write may wait this long at most


async def readable(s):
    yield core._io_queue.queue_read(s)


async def writable(s):
    yield core._io_queue.queue_write(s)


class Sock:
    """The socket umqtt sees: blocking means a timeout; counts activity."""

    def __init__(self, s, link):
        self.s = s
        self.link = link

    def read(self, n):
        if n > MAX_MSG:
            return self._discard(n)
        link = self.link
        if link.direct and 128 < n <= 2304:  # handled at once: the buffer is free
            d = link.rx[:n]
            k = 0
            while k < n:
                got = self.s.readinto(d[k:] if k else d)
                if not got:
                    raise OSError(errno.ECONNRESET)
                k += got
        else:
            d = self.s.read(n)
        if d:
            link.last_rx = time.ticks_ms()
        return d

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
