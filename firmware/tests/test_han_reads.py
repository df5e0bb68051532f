"""han.read: the real HAN service, device log, Reads service and command, over an EZSP
stand-in that records what the hub sends and lets the test play the device's answer."""

import asyncio
import struct

from hub.codecs import zcl
from hub import han_devices
from hub.control.registry import Later, Registry
from hub.errors import HubError
from hub.events import Bus
from hub.services.clock import Clock
from hub.services.device_log import DeviceLog
from hub.services.han import Han
from hub.services.logbuf import Log
from hub.services.store import Store
from util import fresh_fs, raises

ESME = "000D6F000ABCDE01"
NODE = 0x4A21
_SEND_UNICAST = 0x0034
_INCOMING = 0x0045
_SENT = 0x003F
GSME = "000D6F000ABCDE03"
GSME_NODE = 0x5B00


class Ncp:
    """The EZSP host's face as the HAN service uses it: commands recorded, all succeed."""

    def __init__(self):
        self.sent = []
        self.delivery = 0  # the status messageSentHandler reports (0: the APS ack came)
        self.on_callback = self.on_down = None

    async def cmd(self, fid, params=b""):
        if fid == _SEND_UNICAST:
            self.sent.append(bytes(params))
            self.on_callback(_SENT, bytes(14) + bytes((params[14], self.delivery)))
        return b"\x00\x01"

    def frames(self):
        """(node, cluster, dst endpoint, ZCL payload) of each unicast sent."""
        out = []
        for p in self.sent:
            node, = struct.unpack_from("<H", p, 1)
            cluster, = struct.unpack_from("<H", p, 5)
            out.append((node, cluster, p[8], p[16:16 + p[15]]))
        return out

    def incoming(self, node, cluster, payload):
        """An incomingMessageHandler callback: `payload` from `node` on `cluster`, SE profile."""
        p = b"\x00" + struct.pack("<HHBBHHB", 0x0109, cluster, 1, 1, 0, 0, 9) + b"\xff\xc0" + \
            struct.pack("<H", node) + b"\xff\xff" + bytes((len(payload),)) + payload
        self.on_callback(_INCOMING, p)


class App:
    """What hub.han_devices takes of hub.app.App."""

    def __init__(self):
        self.store = Store(fresh_fs())
        self.bus = Bus()
        self.clock = Clock(self.store, rtc=lambda: 1700000000, bus=self.bus)
        self.reg = Registry(Log(echo=False))
        self.events = []
        self.bus.subscribe(lambda n, s, b: self.events.append((n, b)))


def _hub(joined=True):
    """(registry, NCP, app) of a hub with its HAN up and in its log a joined ESME, a GSME not joined
    and a joined GSME."""
    app = App()
    ncp = Ncp()
    han = Han(ncp, app.store, None, app.bus, Log(echo=False), "0011223344556677")
    han.state = "up"
    devlog = DeviceLog(han, app.store, app.clock, app.bus, Log(echo=False))
    devlog.devices = [[ESME, 1, "00" * 18, 0, NODE if joined else -1, joined],
                      ["000D6F000ABCDE02", 0, "00" * 18, 0, -1, False],
                      [GSME, 0, "00" * 18, 0, GSME_NODE, True]]
    han_devices.start(app, han, devlog)
    return app.reg, ncp, app


def run(reg, later, answer=None):
    """Finish `later`; `answer(ncp)` plays the device once the request is out."""
    async def main():
        t = asyncio.create_task(reg.finish(later))
        for _ in range(100):
            await asyncio.sleep_ms(1)
            if answer and answer():
                break
        return await t
    return asyncio.run(main())


def test_bad_input_is_refused_and_nothing_is_sent():
    reg, ncp, _app = _hub()
    for args, code in (({"cluster": 0x0702, "attrs": [0]}, "bad_args"),
                       ({"device": "xyz", "cluster": 0x0702, "attrs": [0]}, "bad_args"),
                       ({"device": ESME, "cluster": 0x10000, "attrs": [0]}, "bad_args"),
                       ({"device": ESME, "cluster": 0x0702, "attrs": []}, "bad_args"),
                       ({"device": ESME, "cluster": 0x0702, "attrs": list(range(17))}, "bad_args"),
                       ({"device": ESME, "cluster": 0x0702, "attrs": ["0"]}, "bad_args"),
                       ({"device": ESME, "cluster": 0x0702, "attrs": [0], "endpoint": 0}, "bad_args"),
                       ({"device": ESME, "cluster": 0x0702, "attrs": [0], "x": 1}, "bad_args"),
                       ({"device": "000D6F000ABCDE99", "cluster": 0x0702, "attrs": [0]}, "not_found"),
                       ({"device": "000D6F000ABCDE02", "cluster": 0x0702, "attrs": [0]}, "not_joined")):
        e = raises(HubError, reg.dispatch, "han.read", args)
        assert e.code == code, (args, e.code)
    assert ncp.sent == []


def test_read_goes_to_the_device_and_its_answer_comes_back_decoded():
    reg, ncp, _app = _hub()
    later, _ = reg.dispatch("han.read", {"device": ESME.lower(), "cluster": 0x0702, "attrs": [0x0000, 0x0400, 0x0999]})
    assert isinstance(later, Later)

    def answer():
        if not ncp.sent:
            return False
        node, cluster, ep, req = ncp.frames()[0]
        assert (node, cluster, ep) == (NODE, 0x0702, 1)
        h = zcl.decode_header(req)
        assert h.is_global and h.to_server and h.cmd == zcl.READ_ATTRIBUTES
        assert zcl.decode_read_attributes(req, h.size) == [0x0000, 0x0400, 0x0999]
        # Another node answering with the same TSN is not the device.
        rsp = bytes((0x18, h.seq, 0x01))
        ncp.incoming(NODE + 1, 0x0702, rsp + b"\x00\x00\x00\x25" + bytes(6))
        rsp += b"\x00\x00\x00\x25" + (12345678901).to_bytes(6, "little")  # uint48
        rsp += b"\x00\x04\x00\x2a" + b"\xfe\xff\xff"  # int24 -2
        rsp += b"\x99\x09\x86"  # UNSUPPORTED_ATTRIBUTE
        ncp.incoming(NODE, 0x0702, rsp)
        return True

    r, _ = run(reg, later, answer)
    assert r["device"] == ESME and r["node"] == NODE and r["source"] == "device"
    assert r["attrs"] == [{"id": 0, "status": 0, "type": 0x25, "value": 12345678901},
                          {"id": 0x0400, "status": 0, "type": 0x2A, "value": -2},
                          {"id": 0x0999, "status": 0x86}]


def test_a_refused_read_and_no_answer_are_structured_errors():
    reg, ncp, _app = _hub()
    later, _ = reg.dispatch("han.read", {"device": ESME, "cluster": 0x0B05, "attrs": [1], "endpoint": 2})

    def refuse():
        if not ncp.sent:
            return False
        h = zcl.decode_header(ncp.frames()[0][3])
        assert ncp.frames()[0][2] == 2
        ncp.incoming(NODE, 0x0B05, bytes((0x18, h.seq, 0x0B, 0x00, 0xC3)))  # UNSUPPORTED_CLUSTER
        return True

    e = raises(HubError, run, reg, later, refuse)
    assert e.code == "zcl_status" and "0xC3" in e.message
    later, _ = reg.dispatch("han.read", {"device": ESME, "cluster": 0x0702, "attrs": [0], "timeout_s": 1})
    e = raises(HubError, run, reg, later)
    assert e.code == "timeout"
    assert len(ncp.sent) == 2


def test_a_read_dispatched_before_another_ends_gets_its_answer_and_the_reads_code_goes_after_the_last():
    import sys

    reg, ncp, _app = _hub()
    # Both accepted at once; the second only starts after the first has ended.
    first, _ = reg.dispatch("han.read", {"device": ESME, "cluster": 0x0702, "attrs": [0]})
    second, _ = reg.dispatch("han.read", {"device": ESME, "cluster": 0x0702, "attrs": [0x0400]})

    def answer(n):
        def play():
            if len(ncp.sent) < n:
                return False
            req = ncp.frames()[n - 1][3]
            h = zcl.decode_header(req)
            aid = zcl.decode_read_attributes(req, h.size)[0]
            ncp.incoming(NODE, 0x0702, bytes((0x18, h.seq, 0x01)) + struct.pack("<HBBH", aid, 0, 0x21, aid + 1))
            return True
        return play

    r1, _ = run(reg, first, answer(1))
    assert r1["attrs"] == [{"id": 0, "status": 0, "type": 0x21, "value": 1}]
    assert "hub.services.han_reads" in sys.modules  # the second read is still to come
    r2, _ = run(reg, second, answer(2))
    assert r2["attrs"] == [{"id": 0x0400, "status": 0, "type": 0x21, "value": 0x0401}]
    assert "hub.services.han_reads" not in sys.modules  # dropped once no read is under way
    later, _ = reg.dispatch("han.read", {"device": ESME, "cluster": 0x0702, "attrs": [0], "timeout_s": 1})
    assert "hub.services.han_reads" in sys.modules  # and back with the next read
    assert raises(HubError, run, reg, later).code == "timeout"
    assert "hub.services.han_reads" not in sys.modules
