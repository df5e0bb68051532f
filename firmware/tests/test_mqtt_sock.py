"""The MQTT link's packet reader (hub.links.mqtt_io.Sock) over a real loopback TCP connection:
packets split across its buffer, several in one read, payloads too big for it, PUBACKs held
back to one write per batch, and the packets it refuses."""

import errno
import socket
import struct
import time

from hub.links import mqtt_io
from hub.links.mqtt_io import MAX_MSG, MqttError, Sock
from util import raises

_PORT = [18960]


class _Link:
    # What Sock reads and sets on its link.
    def __init__(self):
        self.direct = True
        self.last_rx = self.last_tx = 0


def _pair(bufsize):
    # A connected (Sock, peer socket); the Sock's socket never blocks, as in the link.
    _PORT[0] += 1
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(socket.getaddrinfo("127.0.0.1", _PORT[0])[0][-1])
    srv.listen(1)
    s = socket.socket()
    s.connect(socket.getaddrinfo("127.0.0.1", _PORT[0])[0][-1])
    peer, _ = srv.accept()
    srv.close()
    s.setblocking(False)
    got = []

    def cb(binary, msg):
        # A view is only valid until the next read: keep a copy, and what it was.
        got.append((binary, bytes(msg) if msg is not None else None, type(msg).__name__))

    return Sock(s, _Link(), cb, memoryview(bytearray(bufsize))), peer, got


def _varint(n):
    # MQTT's remaining length: 7 bits a byte, low first, the top bit says more follow.
    out = bytearray()
    while n > 0x7F:
        out.append(0x80 | n & 0x7F)
        n >>= 7
    out.append(n)
    return bytes(out)


def _publish(topic, payload, pid=None):
    body = struct.pack("!H", len(topic)) + topic + (struct.pack("!H", pid) if pid else b"") + payload
    return bytes([0x32 if pid else 0x30]) + _varint(len(body)) + body


def _read_all(c, count):
    ops = []
    for _ in range(count):
        ops.append(c.wait_msg())
    return ops


def _peer_now(peer):
    # What the peer has received by now (the hub's writes are not held anywhere else).
    time.sleep_ms(50)
    peer.setblocking(False)
    try:
        return peer.recv(1024) or b""
    except OSError:
        return b""


def _peer_read(peer, n):
    peer.settimeout(2)
    out = b""
    while len(out) < n:
        out += peer.recv(n - len(out))
    return out


def test_packets_across_a_small_buffer_in_order_with_batched_pubacks():
    c, peer, got = _pair(64)
    a = bytes(range(40))
    big = bytes(range(256)) * 2  # larger than the 64-byte buffer: bytes of its own
    stream = (_publish(b"commshub/x/cmd", b"{}", 1) + _publish(b"commshub/x/cmd/bin", a, 2)
              + b"\x40\x02\x00\x07"  # a PUBACK for one of ours
              + _publish(b"commshub/x/cmd/bin", big, 3) + b"\xd0\x00"  # PINGRESP
              + _publish(b"commshub/x/cmd", b"q0"))  # QoS 0: no PUBACK
    peer.write(stream)
    assert _read_all(c, 6) == [None, None, 0x40, None, None, None]
    assert got == [(False, b"{}", "memoryview"), (True, a, "memoryview"), (True, big, "bytearray"),
                   (False, b"q0", "memoryview")]
    assert _peer_now(peer) == b""  # held back until the batch ends
    c.flush()  # the three QoS 1 messages' PUBACKs, in one write
    assert _peer_read(peer, 12) == b"\x40\x02\x00\x01\x40\x02\x00\x02\x40\x02\x00\x03"
    assert not c.pending() and not c.ready()


def test_whole_packets_are_pending_without_a_read():
    c, peer, got = _pair(256)
    peer.write(_publish(b"t/bin", b"x" * 20, 1) + _publish(b"t", b"y" * 20, 2))
    time.sleep_ms(50)
    assert c.ready()
    c.wait_msg()  # one read takes both
    assert c.pending()
    c.wait_msg()
    assert not c.pending()
    assert [g[:2] for g in got] == [(True, b"x" * 20), (False, b"y" * 20)]


def test_ready_with_the_buffer_full_of_a_large_packet_s_start():
    c, peer, got = _pair(64)
    assert not c.ready()  # nothing there: no wait
    big = bytes(range(200))
    peer.write(_publish(b"t/bin", big, 4))
    time.sleep_ms(50)
    assert c.ready()  # the packet came: only its start fits the buffer
    assert not c.pending()
    assert c.ready()  # wait_msg streams the rest
    assert c.wait_msg() is None
    assert got == [(True, big, "bytearray")]


def test_queued_message_is_a_copy():
    # Outside the link's read loop (a message arriving while it subscribes) the payload is
    # queued: it must not be a view of the buffer the next packet overwrites.
    c, peer, got = _pair(128)
    c.link.direct = False
    peer.write(_publish(b"t", b"abc", 1))
    c.wait_msg()
    assert got == [(False, b"abc", "bytes")]


def test_message_over_max_is_streamed_away_and_the_next_one_read():
    c, peer, got = _pair(256)
    huge = _publish(b"t/bin", bytes(MAX_MSG + 1), 9)
    # The peer writes it in pieces as the reader takes them (the socket buffer is finite).
    peer.setblocking(False)
    rest = memoryview(huge + _publish(b"t", b"after", 10))
    while len(rest):
        try:
            k = peer.write(rest)
        except OSError:
            k = 0
        rest = rest[k or 0:]
        if c.ready():
            c.wait_msg()
    while len(got) < 2:
        c.wait_msg()
    assert got == [(True, None, "NoneType"), (False, b"after", "memoryview")]
    c.flush()
    assert _peer_read(peer, 8) == b"\x40\x02\x00\x09\x40\x02\x00\x0a"


def test_pubacks_of_more_than_sixteen_messages_go_out_as_they_fill_the_batch():
    c, peer, got = _pair(2304)
    peer.write(b"".join(_publish(b"t", b"m", i) for i in range(1, 21)))
    _read_all(c, 20)
    # The 17th message's PUBACK made room by writing the first sixteen; the last four wait.
    assert _peer_now(peer) == b"".join(struct.pack("!BBH", 0x40, 2, i) for i in range(1, 17))
    c.flush()
    assert _peer_read(peer, 16) == b"".join(struct.pack("!BBH", 0x40, 2, i) for i in range(17, 21))


def test_refused_packets():
    c, peer, _ = _pair(64)
    peer.write(b"\x34\x05\x00\x01t\x00\x01")  # QoS 2 is never subscribed to
    raises(MqttError, c.wait_msg)
    c, peer, _ = _pair(64)
    peer.write(b"\x30\xff\xff\xff\xff\x01")  # a remaining length of five bytes
    raises(MqttError, c.wait_msg)
    c, peer, _ = _pair(64)
    peer.write(b"\x30\x03\x00\x09t")  # the topic runs past the packet
    raises(MqttError, c.wait_msg)


def test_a_packet_cut_short_times_out():
    saved = mqtt_io.IO_TIMEOUT_S
    mqtt_io.IO_TIMEOUT_S = 1
    try:
        c, peer, _ = _pair(64)
        peer.write(_publish(b"t", b"0123456789", 1)[:8])
        e = raises(OSError, c.wait_msg)
        assert e.errno == errno.ETIMEDOUT, e
    finally:
        mqtt_io.IO_TIMEOUT_S = saved
