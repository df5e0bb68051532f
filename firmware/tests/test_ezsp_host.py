"""The EZSP host (hub.radio.ezsp, started by hub.radio.ezsp_start) over the radio link (hub.links.radio)
on a real socket: the NCP end is scripted here with the ASH codec (whose frames test_ash checks against
bellows' vectors)."""

import random
import socket

import asyncio

from hub.errors import HubError
from hub.links.radio import RadioLink
from hub.radio import ash
from hub.radio.ezsp import Ezsp
from hub.radio.ezsp_start import start
from hub.services.logbuf import log


def _pair():
    """Two connected stream sockets (the hub's UART end, the NCP's end)."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    for _ in range(20):  # a random port another test (or process) holds: try another
        port = 40000 + random.getrandbits(12)
        try:
            ls.bind(socket.getaddrinfo("127.0.0.1", port)[0][-1])
            break
        except OSError:
            pass
    ls.listen(1)
    a = socket.socket()
    a.connect(socket.getaddrinfo("127.0.0.1", port)[0][-1])
    b, _ = ls.accept()
    ls.close()
    a.setblocking(False)
    b.setblocking(False)
    return a, b


class Ncp:
    """A scripted NCP: decodes the host's ASH frames, answers EZSP commands with `answer(frame)`."""

    def __init__(self, sock, version=13, answer=None):
        self.s = sock
        self.version = version
        self.answer = answer
        self.dec = ash.Decoder(200)
        self.frm = 0
        self.rx_seq = 0
        self.got = []  # EZSP frames from the host
        self.rsts = 0

    def send_data(self, payload):
        self.s.write(ash.encode_data(self.frm, self.rx_seq, payload))
        self.frm = (self.frm + 1) & 7

    def rstack(self):
        self.frm = self.rx_seq = 0
        self.s.write(ash.encode_rstack(0x0B))

    async def run(self):
        while True:
            data = self.s.read(256)
            if not data:
                await asyncio.sleep_ms(5)
                continue
            i = 0
            while i < len(data):
                i = self.dec.feed(data, i, len(data))
                if self.dec.result != ash.FRAME:
                    continue
                k = self.dec.kind
                if k == ash.RST:
                    self.rsts += 1
                    self.rstack()
                elif k == ash.DATA and self.dec.frm == self.rx_seq:
                    self.rx_seq = (self.rx_seq + 1) & 7
                    frame = bytes(self.dec.data)
                    self.s.write(ash.encode_ack(self.rx_seq))
                    self.got.append(frame)
                    out = self.answer(self, frame) if self.answer else None
                    for f in out or ():
                        self.send_data(f)


def version_answer(ncp, frame):
    """Answer `version` as an EmberZNet NCP: legacy frame first, then the extended one."""
    v = ncp.version
    body = bytes((v, 2, 0x40, 0x74))  # stack 7.4.4.0
    if len(frame) == 4 and frame[2] == 0:  # legacy [seq, fc, id8, desired]
        return [bytes((frame[0], 0x80, 0x00)) + body]
    fid = frame[3] | (frame[4] << 8)
    if fid == 0:
        return [bytes((frame[0], 0x80, 0x01, 0, 0)) + body]
    return None


def _run(coro):
    return asyncio.run(coro)


async def _setup(version=13, answer=version_answer):
    a, b = _pair()
    link = RadioLink(asyncio.StreamReader(a), asyncio.StreamWriter(a, {}), log)
    ncp = Ncp(b, version, answer)
    tasks = [asyncio.create_task(t) for t in (link.rx_loop(), link.tick_loop(), ncp.run())]
    return Ezsp(link, log), ncp, tasks


def _stop(tasks):
    for t in tasks:
        t.cancel()


def test_start_negotiates_the_ncp_version():
    async def go():
        for v in (8, 13):
            e, ncp, tasks = await _setup(v)
            assert await start(e) == v
            assert e.stack == "7.4.4.0" and not e.legacy
            assert ncp.rsts == 1 and ncp.got[0] == b"\x01\x00\x00\x04"  # legacy version(4) first
            assert ncp.got[1] == bytes((2, 0, 1, 0, 0, v))  # then version(v), extended frame
            _stop(tasks)
    _run(go())


def test_start_reads_the_stack_version_and_refuses_a_short_version_answer():
    def answer(stack):
        def a(ncp, frame):
            if len(frame) == 4 and frame[2] == 0:
                return [bytes((frame[0], 0x80, 0x00, 8, 2, 0x40, 0x74))]
            return [bytes((frame[0], 0x80, 0x01, 0, 0, 8)) + stack]
        return a

    async def go():
        for stack, want in ((b"\x02\x13\x6a", "6.10.1.3"), (b"\x02\xa0\x70", "7.0.10.0"), (b"\x02\x70", None)):
            e, ncp, tasks = await _setup(8, answer(stack))
            try:
                assert await start(e) == 8 and e.stack == want
            except HubError as err:
                assert want is None and err.code == "bad_frame", err.code
            _stop(tasks)
    _run(go())


def test_unsupported_version_is_a_structured_error():
    async def go():
        e, ncp, tasks = await _setup(7)
        try:
            await start(e)
            raise AssertionError("v7 accepted")
        except HubError as err:
            assert err.code == "radio_unsupported", err.code
        _stop(tasks)
    _run(go())


def test_responses_match_by_sequence_and_callbacks_go_to_the_handler():
    def answer(ncp, frame):
        out = version_answer(ncp, frame)
        if out is not None:
            return out
        seq = frame[0]
        cb = bytes((0x77, 0x90, 0x01, 0x19, 0x00, 0x90))  # stackStatusHandler(NETWORK_UP)
        stale = bytes(((seq - 1) & 0xFF, 0x80, 0x01, 0x26, 0x00)) + b"old"  # a late answer: dropped
        return [cb, stale, bytes((seq, 0x80, 0x01, frame[3], frame[4])) + b"\x01\x02\x03\x04\x05\x06\x07\x08"]

    async def go():
        e, ncp, tasks = await _setup(8, answer)
        got = []
        e.on_callback = lambda fid, p: got.append((fid, bytes(p)))
        await start(e)
        p = await e.cmd(0x0026)  # getEui64
        assert p == b"\x01\x02\x03\x04\x05\x06\x07\x08"
        assert got == [(0x0019, b"\x90")] and e.dropped == 1
        _stop(tasks)
    _run(go())


def test_invalid_command_answer_is_a_radio_error():
    def answer(ncp, frame):
        out = version_answer(ncp, frame)
        return out if out is not None else [bytes((frame[0], 0x80, 0x01, 0x58, 0x00, 0x31))]

    async def go():
        e, ncp, tasks = await _setup(13, answer)
        await start(e)
        try:
            await e.cmd(0x0111, bytes(25))
            raise AssertionError("invalidCommand accepted")
        except HubError as err:
            assert err.code == "radio_error" and "0x0111" in err.message, err.message
        assert e.up  # the link stays up: only that command failed
        _stop(tasks)
    _run(go())


def test_ncp_reset_under_a_command_fails_it_and_reports_the_link_down():
    def answer(ncp, frame):
        out = version_answer(ncp, frame)
        if out is None:
            ncp.rstack()  # the NCP reboots instead of answering
        return out

    async def go():
        e, ncp, tasks = await _setup(8, answer)
        downs = []
        e.on_down = downs.append
        await start(e)
        try:
            await e.cmd(0x0017, b"\x00\x00")
            raise AssertionError("command survived an NCP reset")
        except HubError as err:
            assert err.code == "radio_reset", err.code
        assert downs == ["ncp_reset"] and not e.up
        try:
            await e.cmd(0x0018)
            raise AssertionError("command sent on a link that is down")
        except HubError as err:
            assert err.code == "radio_down"
        assert await start(e) == 8  # and it comes back
        _stop(tasks)
    _run(go())


def test_no_answer_times_out_with_a_structured_error():
    async def go():
        e, ncp, tasks = await _setup(13, lambda n, f: version_answer(n, f))  # answers nothing else
        downs = []
        e.on_down = downs.append
        await start(e)
        try:
            await e.cmd(0x0018)
            raise AssertionError("no timeout")
        except HubError as err:
            assert err.code == "radio_timeout", err.code
        assert e.timeouts == 1 and downs == ["ezsp_timeout"]
        _stop(tasks)
    _run(go())
