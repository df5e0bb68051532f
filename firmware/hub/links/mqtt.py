"""MQTT WAN link, driven from asyncio (PROTOCOL.md, "MQTT").

The packets are read and written by mqtt_io.Sock, which blocks on its
socket, so this link never lets it wait for anything that is not already
there: the TCP connect and the CONNECT/CONNACK exchange are done here
without blocking, incoming data is awaited through asyncio's own poller, and
packets are only parsed once bytes have arrived. "Blocking" is a short
timeout, so a broker that stops answering mid-publish ends the session
instead of freezing the hub. Every
failure ends up in run(), which reconnects with backoff; the serial link
never notices.

Receiving allocates no payload: packets are received into a buffer
allocated once, when the link starts (an image block would otherwise be a
2 KB allocation each time, which a fragmented heap may refuse), and a
payload is handled as a view into it; one that does not fit (up to MAX_MSG,
rare: large blocks, big commands) gets bytes of its own. A message is
handled as soon as it is read, so one buffer is enough: nothing reads the
socket while a message is handled.
Publishes are QoS 1 without waiting for the PUBACK inside the publish
(that would read, and pass on, every message that arrives before it: with a
pipelined image push that is most of them). PUBACKs are taken by the
receive loop; a session that leaves one unanswered for IO_TIMEOUT_S ends.
Only a message that arrives while waiting for a SUBACK (at connect) is
queued, in bytes of its own.
"""

import errno
import gc
import socket
import struct
import time

import asyncio

from hub.codecs import dumps, envelope
from hub.control.dedupe import Dedupe
from hub.control.registry import Later
from hub.errors import HubError
from hub.links.mqtt_io import IO_TIMEOUT_S, MAX_MSG, Backoff, MqttError, Sock, connect_packet, readable, writable
from hub.services.config import parse_mqtt_url
from micropython import const

_CONNECT_MS = const(10000)
_INBOX = const(16)
_EVENTS = const(8)
# The receive buffer takes 2304 bytes: an image block of the default 2048
# with its envelope and MQTT header, and the start of the next packet.
# (Literals, not names: every name is a qstr for good.)


class MqttLink:
    def __init__(self, hub_id, config, registry, bus, system, clock, log, rx=None):
        self.hub_id = hub_id
        self.config = config
        self.reg = registry
        self.bus = bus
        self.system = system
        self.clock = clock
        self.log = log
        self.prefix = "commshub/%s/" % hub_id
        self.topics = {}  # sub-topic -> its whole topic's bytes, made once
        self.hdr = bytearray(64)  # a PUBLISH's fixed header, topic and packet id
        self.dedupe = Dedupe()
        self.backoff = Backoff()
        self.wake = asyncio.Event()
        self.client = None
        self.state = "off"
        self.connects = 0
        self.rx_msgs = 0
        self.tx_msgs = 0
        self.dups = 0
        self.cid = None
        self.last_rx = self.last_tx = 0
        # The receive buffer (see the module doc): the app may allocate it early.
        self.rx = memoryview(rx if rx is not None and len(rx) >= 2304 else bytearray(2304))
        self.unacked = 0  # our QoS 1 publishes the broker has not acknowledged
        self.direct = False  # True while _rx reads: a message is handled at once
        self.inbox = []  # (bin, msg) read nested in subscribe()
        self.events = []
        self._rx_err = None
        self._status_due = False
        self._reconfig = False
        bus.subscribe(self._on_event)

    # -- front-end -------------------------------------------------------

    def status(self):
        """This link's part of the `status` result."""
        return {"state": self.state, "broker": self.config["mqtt.url"],
                "reconnects": max(self.connects - 1, 0), "rx": self.rx_msgs,
                "tx": self.tx_msgs, "duplicates": self.dups}

    def publish_status(self):
        """Ask for the retained status to be published (when connected)."""
        self._status_due = True
        self.wake.set()

    def _on_event(self, name, seq, body):
        if name == "mqtt.disconnected":
            return  # it could not be delivered anyway
        if name == "config.changed":
            keys = body.get("keys", ())
            if "mqtt.url" in keys or "mqtt.keepalive" in keys:
                self._reconfig = True
                self.wake.set()
        if len(self.events) >= _EVENTS:
            self.events.pop(0)
        self.events.append(envelope.evt(name, seq, self.clock.utc(), body))
        self.wake.set()

    def _on_msg(self, bin, msg):
        # Called by Sock right after reading the payload. Straight from
        # _rx's read: handle it now (its buffer is free again after).
        # Nested in subscribe (waiting for the SUBACK): only queue (Sock
        # copied it out of the buffer).
        if self.direct:
            self.direct = False
            self._handle(bin, msg)
        elif len(self.inbox) >= _INBOX:
            self.log.warn("mqtt: inbox full, dropping a message")
        else:
            self.inbox.append((bin, msg))

    def _status_msg(self):
        # The running slot's version, as `info` says (not the one this module was built with).
        return dumps({"state": "online", "hub_id": self.hub_id, "fw_version": self.system.fw_version,
                      "board": self.system.board, "uptime_ms": self.clock.uptime_ms(),
                      "utc": self.clock.utc()})

    def _pub(self, sub, msg, retain=False):
        # The packet is sized with len(msg): a str's len() counts characters,
        # so a str goes out through a view of its UTF-8 bytes (a view, not a
        # copy: encode() would double every reply on the heap).
        if isinstance(msg, str):
            msg = memoryview(msg)
        # PUBLISH at QoS 1, not waiting for the PUBACK (_rx reads that,
        # with the messages; see the module doc).
        c = self.client
        topic = self.topics.get(sub)
        if topic is None:
            topic = self.topics[sub] = (self.prefix + sub).encode()
        # Two writes: the header with the topic and packet id, then the body
        # (copying the body would double a large reply's heap; five small
        # writes were five TCP segments with TCP_NODELAY).
        nt = len(topic)
        sz = 2 + nt + 2 + len(msg)
        hdr = self.hdr if nt <= 55 else bytearray(9 + nt)
        hdr[0] = 0x32 | retain
        i = 1
        while sz > 0x7F:
            hdr[i] = (sz & 0x7F) | 0x80
            sz >>= 7
            i += 1
        hdr[i] = sz
        struct.pack_into("!H", hdr, i + 1, nt)
        hdr[i + 3:i + 3 + nt] = topic
        struct.pack_into("!H", hdr, i + 3 + nt, c.next_pid())
        w = c.write
        w(hdr, i + 5 + nt)
        w(msg)
        if not self.unacked:
            self.last_rx = time.ticks_ms()  # the PUBACK is due within IO_TIMEOUT_S from here
        self.unacked += 1
        self.tx_msgs += 1

    # Every message, image blocks included, goes through the next few
    # functions: each frame stays within the 11 words MicroPython keeps on the
    # C stack (a larger one, or one that catches with `as`, is a heap
    # allocation per call, and collections follow), so the work is split, the
    # parsers return their errors rather than raise them, and helpers answer.

    def _handle(self, bin, msg):
        self.rx_msgs += 1
        self.cid = None  # the command's id, once read: a no_memory answer names it
        try:
            self._handle_in(bin, msg)
        except MemoryError:
            # Not the sender's fault, and no reason to drop the session (its
            # PUBACKs, and then every message in flight, would come again).
            gc.collect()
            try:
                self._refuse("no_memory", "not enough heap for this command now", self.cid)
            except MemoryError:
                self.log.warn("mqtt: no heap even to answer no_memory")

    def _handle_in(self, bin, msg):
        if msg is None:
            self._refuse("too_large", "message over %d bytes discarded" % MAX_MSG)
            return
        m = envelope.parse_bin(msg) if bin else envelope.parse_cmd(msg)
        if isinstance(m, HubError):  # an EnvelopeError
            self._refuse(m.code, m.message, m.cid, m.cmd)
            return
        self.cid = m[0]
        if m[0] in self.dedupe.rsp:
            self._rsp(m[0], m[1])
        else:
            self._run(m)

    def _refuse(self, code, message, cid=None, cmd=None):
        self._pub("rsp", envelope.rsp_err(cid, cmd, code, message))

    def _rsp(self, cid, cmd):
        self.dups += 1
        r = self.dedupe.get(cid)
        if r == ():  # a quiet command: its duplicate is quiet too
            return
        if r is None:
            r = ("rsp", envelope.rsp_err(cid, cmd, "not_found",
                                        "duplicate id: stored response dropped, not run again"))
        self._pub(*r)

    def _run(self, m):
        # m: (id, command, args, data)
        r = self.reg.answer(m[1], m[2], m[3])
        if isinstance(r, HubError):
            r = ("rsp", envelope.rsp_err(m[0], m[1], r.code, r.message))
        elif isinstance(r[0], Later):  # answered when done (a radio round trip)
            asyncio.create_task(self._later(m[0], m[1], r[0]))
            return
        elif r[1] is False:  # SILENT: a quiet command that succeeded
            self.dedupe.put(m[0], (), 0)
            return
        else:
            r = self._response(m[0], m[1], r)
        self.dedupe.put(m[0], r, len(r[1]))
        self._pub(*r)

    def _response(self, cid, cmd, r):
        try:
            if r[1]:
                return "rsp/bin", envelope.rsp_bin(cid, cmd, r[0], r[1])
            return "rsp", envelope.rsp_ok(cid, cmd, r[0])
        except HubError as e:
            return "rsp", envelope.rsp_err(cid, cmd, e.code, e.message)

    async def _later(self, cid, cmd, later):
        try:
            result, out = await self.reg.finish(later)
            r = ("rsp/bin", envelope.rsp_bin(cid, cmd, result, out)) if out else \
                ("rsp", envelope.rsp_ok(cid, cmd, result))
        except HubError as e:
            r = ("rsp", envelope.rsp_err(cid, cmd, e.code, e.message))
        self.dedupe.put(cid, r, len(r[1]))
        if self.state == "connected":  # else the head-end's retry gets it from the dedupe cache
            try:
                self._pub(*r)
            except OSError:
                pass  # the session is going down: the same as above

    # -- connection ------------------------------------------------------

    async def run(self):
        """Connect, serve, and reconnect with backoff, forever."""
        while True:
            url = self.config["mqtt.url"]
            self._reconfig = False
            if not url:
                self.state = "off"
                await self._wait(None)
                continue
            up = False
            try:
                host, port = parse_mqtt_url(url)
                up = await self._session(host, port, url)
            except Exception as e:  # OSError, MqttError
                self.log.warn("mqtt: %s: %r" % (url, e))
            self._close()
            if up:
                self.bus.emit("mqtt.disconnected", {"broker": url, "reconnects": self.connects - 1})
            if self._reconfig:
                continue
            self.state = "backoff"
            await self._wait(self.backoff.next_ms())

    async def _wait(self, ms):
        # Sleep until woken (events, status, config) or `ms` passes.
        if ms is None:
            await self.wake.wait()
        else:
            try:
                await asyncio.wait_for_ms(self.wake.wait(), ms)
            except asyncio.TimeoutError:
                pass
        self.wake.clear()

    def _close(self):
        self.unacked = 0
        self.state = "down"
        c = self.client
        self.client = None
        if c:
            try:
                c.close()
            except OSError:
                pass

    async def _open(self, host, port, ka):
        self.state = "connecting"
        addr = socket.getaddrinfo(host, port)[0][-1]
        s = socket.socket()
        c = Sock(s, self, self._on_msg, self.rx)
        self.client = c  # so _close() always closes it
        s.setblocking(False)
        try:
            s.connect(addr)
        except OSError as e:
            if e.errno != errno.EINPROGRESS:
                raise
        await asyncio.wait_for_ms(writable(s), _CONNECT_MS)
        s.setsockopt(6, 1, 1)  # TCP_NODELAY: else each QoS 1 publish waits ~40 ms
        will = dumps({"state": "offline", "hub_id": self.hub_id}).encode()
        c.write(connect_packet(self.hub_id.encode(), ka, (self.prefix + "status").encode(), will))
        await asyncio.wait_for_ms(readable(s), _CONNECT_MS)
        if c.wait_msg() != 0x20 or c.n != 2:
            raise MqttError("bad CONNACK")
        ack = c.take(2)
        if ack[1]:
            raise MqttError(ack[1])
        c.subscribe((self.prefix + "cmd").encode())
        c.subscribe((self.prefix + "cmd/bin").encode())
        return c, s

    async def _session(self, host, port, url):
        ka = self.config["mqtt.keepalive"]
        c, s = await self._open(host, port, ka)
        self.connects += 1
        self.state = "connected"
        self.backoff.reset()
        self.log.info("mqtt: connected to %s" % url)
        self.bus.emit("mqtt.connected", {"broker": url, "reconnects": self.connects - 1})
        self._status_due = True
        self._rx_err = None
        rx = asyncio.create_task(self._rx(c, s))
        try:
            while True:
                await self._wait(1000)
                if self._rx_err:
                    raise self._rx_err
                self._serve(c, ka)
                if self._reconfig:
                    self._pub("status", dumps({"state": "offline", "hub_id": self.hub_id}), True)
                    c.disconnect()  # a clean goodbye: the broker drops the will
                    return True
        finally:
            rx.cancel()

    async def _rx(self, c, s):
        # Reads and handles messages as they arrive, in this task of its own:
        # a block is handled without waking the session loop (an Event and a
        # wait_for per wake-up cost more than the block). Batches of 8, then
        # other tasks run. A failure ends the session, through the loop.
        try:
            while self.inbox:  # read while subscribing
                self._handle(*self.inbox.pop(0))
            while True:
                if c.pending():
                    await asyncio.sleep_ms(0)  # a packet is buffered: only let others run
                else:
                    await readable(s)
                n = 0
                while n < 8 and c.ready():
                    self.direct = True
                    op = c.wait_msg()
                    self.direct = False
                    if op == 0x40:  # a PUBACK for one of ours
                        if self.unacked:
                            self.unacked -= 1
                    elif op is not None:
                        raise MqttError("unexpected packet 0x%02X" % op)
                    n += 1
                c.flush()  # the batch's PUBACKs, in one write
        except Exception as e:  # OSError, MqttError, MemoryError
            try:
                c.flush()  # the PUBACKs of what was handled, if the socket still takes them
            except Exception:
                pass
            self._rx_err = e
            self.wake.set()
        finally:
            self.direct = False

    def _serve(self, c, ka):
        if self._status_due:
            self._status_due = False
            self._pub("status", self._status_msg(), True)
        while self.events:
            self._pub("evt", self.events.pop(0))
        now = time.ticks_ms()
        if time.ticks_diff(now, self.last_rx) > ka * 1500:
            raise OSError(errno.ETIMEDOUT)
        if self.unacked and time.ticks_diff(now, self.last_rx) > IO_TIMEOUT_S * 1000:
            raise OSError(errno.ETIMEDOUT)  # the broker stopped acknowledging
        if time.ticks_diff(now, self.last_tx) > ka * 500:
            c.ping()

