# The MicroPython VM's own MQTT ceiling, a benchmark reference: umqtt on the
# same VM and heap as the hub receives QoS 1 blocks into one preallocated
# buffer (as the hub's link does) and publishes a count every EVERY-th
# message (as the hub answers every 4th block), doing nothing else: no
# envelope, no checks, no flash. Runs on the MicroPython VM, never on CPython.
#
#   micropython -X heapsize=<heap> mqtt_sink.py <host> <port> <topic> <count> <every>
import sys
import time

from umqtt.simple import MQTTClient


class Sock:
    def __init__(self, s, buf):
        self.s = s
        self.buf = memoryview(buf)

    def read(self, n):
        if n <= 128:
            return self.s.read(n)
        d = self.buf[:n]
        k = 0
        while k < n:
            got = self.s.readinto(d[k:] if k else d)
            if not got:
                raise OSError("closed")
            k += got
        return d

    def write(self, *a):
        return self.s.write(*a)

    def setblocking(self, flag):
        self.s.setblocking(flag)

    def close(self):
        self.s.close()


def main():
    host, port, topic, count, every = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    c = MQTTClient("sink-" + topic.replace("/", "-"), host, port)
    c.connect()
    c.sock = Sock(c.sock, bytearray(4096))
    got = [0]
    ack = topic + "/ack"

    def on_msg(_t, _m):
        got[0] += 1
        if got[0] % every == 0 or got[0] == count:
            c.publish(ack, b"%d" % got[0])

    c.set_callback(on_msg)
    c.subscribe(topic, 1)
    print("sink ready")
    t0 = time.ticks_ms()
    while got[0] < count:
        c.wait_msg()
    print("sink done %d in %d ms" % (got[0], time.ticks_diff(time.ticks_ms(), t0)))
    c.disconnect()


main()
