# The MicroPython VM's own MQTT ceiling, a benchmark reference: a bare MQTT
# 3.1.1 client on the same VM and heap as the hub receives QoS 1 blocks into
# one preallocated buffer (as the hub's link does), acknowledges each, and
# publishes a count every EVERY-th message (as the hub answers every 4th
# block), doing nothing else: no envelope, no checks, no flash. Runs on the
# MicroPython VM, never on CPython.
#
#   micropython -X heapsize=<heap> mqtt_sink.py <host> <port> <topic> <count> <every>
import socket
import struct
import sys
import time


def _read(s, mv, n):
    k = 0
    while k < n:
        got = s.readinto(mv[k:n])
        if not got:
            raise OSError("closed")
        k += got


def _packet(s, hdr, mv):
    """(first byte, body length) of the next packet, its body in mv."""
    _read(s, hdr, 1)
    op = hdr[0]
    n = shift = 0
    while True:
        _read(s, hdr, 1)
        n |= (hdr[0] & 0x7F) << shift
        shift += 7
        if not hdr[0] & 0x80:
            break
    _read(s, mv, n)
    return op, n


def _send(s, op, body):
    n = len(body)
    head = bytearray((op,))
    while True:
        head.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            break
    s.write(head + body)


def _str(b):
    return struct.pack("!H", len(b)) + b


def main():
    host, port, topic, count, every = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode(), int(sys.argv[4]), \
        int(sys.argv[5])
    s = socket.socket()
    s.connect(socket.getaddrinfo(host, port)[0][-1])
    s.setsockopt(6, 1, 1)  # TCP_NODELAY, as the hub's link sets it
    buf = bytearray(4096)
    mv = memoryview(buf)
    hdr = memoryview(bytearray(1))  # a slice of a bytearray would be a copy
    _send(s, 0x10, b"\x00\x04MQTT\x04\x02\x00\x3c" + _str(b"sink-" + topic.replace(b"/", b"-")))
    if _packet(s, hdr, mv)[0] != 0x20 or buf[1] != 0:
        raise OSError("CONNECT refused")
    _send(s, 0x82, b"\x00\x01" + _str(topic) + b"\x01")
    ack = _str(topic + b"/ack")
    puback = bytearray(b"\x40\x02\x00\x00")
    nt = len(topic)
    got = 0
    subscribed = False
    t0 = time.ticks_ms()
    while got < count:
        op, n = _packet(s, hdr, mv)
        if op == 0x90:
            subscribed = True
            print("sink ready")
            t0 = time.ticks_ms()
            continue
        if op & 0xF0 != 0x30:
            continue
        tl = buf[0] << 8 | buf[1]
        if op & 6:  # QoS 1: acknowledge the packet id after the topic
            puback[2:4] = mv[2 + tl:4 + tl]
            s.write(puback)
        # amqtt has been seen to pass on other topics' retained messages: count ours only.
        if not subscribed or tl != nt or mv[2:2 + tl] != topic:
            continue
        got += 1
        if got % every == 0 or got == count:
            _send(s, 0x30, ack + b"%d" % got)
    print("sink done %d in %d ms" % (got, time.ticks_diff(time.ticks_ms(), t0)))
    _send(s, 0xE0, b"")
    s.close()


main()
