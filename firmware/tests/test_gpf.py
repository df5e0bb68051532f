"""The Gas Proxy Function: the GSME's reports mirrored and read back, commands queued and handed
over on Tunneling GET (real HAN service and wiring over the recording EZSP stand-in)."""

import asyncio
import struct

from hub.errors import HubError
from hub.services.gpf import Gpf
from hub.services.logbuf import Log
from test_han_reads import ESME, GSME, GSME_NODE, _hub, run
from util import raises

METERING, TUNNELING = 0x0702, 0x0704


def from_gsme(ncp, cluster, payload, settle=True):
    """`payload` from the GSME; the ZCL payloads the hub sent back."""
    async def main():
        n = len(ncp.sent)
        ncp.incoming(GSME_NODE, cluster, payload)
        for _ in range(20):
            await asyncio.sleep_ms(1)
        return [f[3] for f in ncp.frames()[n:]]
    return asyncio.run(main())


def read(reg, device, attrs):
    later, _ = reg.dispatch("han.read", {"device": device, "cluster": METERING, "attrs": attrs})
    return run(reg, later)[0]


def test_reads_of_the_gsme_come_from_its_last_report_and_nothing_goes_on_the_air():
    reg, ncp, app = _hub()
    e = raises(HubError, read, reg, GSME, [0])
    assert e.code == "not_found"  # nothing reported yet
    report = b"\x18\x05\x0a" + b"\x00\x00\x25" + (4321123).to_bytes(6, "little") + b"\x01\x02\x20\x63"
    assert from_gsme(ncp, METERING, report) == []
    r = read(reg, GSME, [0x0000, 0x0201, 0x0400])
    assert r["source"] == "mirror" and r["reported_utc"] == 1700000000 and r["node"] == GSME_NODE
    assert r["attrs"] == [{"id": 0, "status": 0, "type": 0x25, "value": 4321123},
                          {"id": 0x0201, "status": 0, "type": 0x20, "value": 0x63},
                          {"id": 0x0400, "status": 0x86}]
    assert ncp.sent == []
    # A newer report replaces the value.
    from_gsme(ncp, METERING, b"\x18\x06\x0a" + b"\x00\x00\x25" + (4321200).to_bytes(6, "little"))
    assert read(reg, GSME, [0])["attrs"][0]["value"] == 4321200


def test_queued_commands_wait_for_the_gets_and_responses_come_back_as_events():
    reg, ncp, app = _hub()
    for args, code in (({"device": ESME, "message": "dead"}, "not_found"),
                       ({"device": GSME, "message": "abc"}, "bad_args"),
                       ({"device": GSME, "message": "zz"}, "bad_args"),
                       ({"device": GSME, "message": "00" * 76}, "too_large"),
                       ({"device": GSME}, "bad_args")):
        assert raises(HubError, reg.dispatch, "han.gsme.queue", args).code == code
    assert reg.dispatch("han.gsme.queue", {"device": GSME, "message": "DF0901AA"})[0]["queued"] == 1
    assert reg.dispatch("han.gsme.queue", {"device": GSME.lower(), "message": "df0901bb"})[0]["queued"] == 2
    assert ncp.sent == []  # nothing before the GSME asks
    # The queue survives a reboot (a new GPF on the same store).
    assert Gpf(Ncp2(), None, app.store, app.clock, app.bus, Log(echo=False)).queues[GSME] == ["df0901aa", "df0901bb"]
    # RequestTunnel (GB-HGRP) -> tunnel 1.
    rsp = from_gsme(ncp, TUNNELING, b"\x01\x10\x00" + struct.pack("<BHBH", 6, 0x1234, 0, 1500))
    assert rsp == [b"\x19\x10\x00" + struct.pack("<HBH", 1, 0, 1500)]
    # GET, GET, GET: the count still waiting after each, one message each.
    get = lambda tsn: bytes((0x01, tsn, 0x02)) + b"\x01\x00" + b"\x01"  # noqa: E731
    assert from_gsme(ncp, TUNNELING, get(0x11)) == [b"\x19\x11\x01\x01\x00\x02\x01" + bytes.fromhex("df0901aa")]
    assert reg.dispatch("han.gsme.status", {"device": GSME})[0]["queued"] == 1
    assert from_gsme(ncp, TUNNELING, get(0x12)) == [b"\x19\x12\x01\x01\x00\x02\x00" + bytes.fromhex("df0901bb")]
    assert from_gsme(ncp, TUNNELING, get(0x13)) == [b"\x19\x13\x01\x01\x00\x02\x00"]
    delivered = [b for n, b in app.events if n == "han.gsme.delivered"]
    assert [d["remaining"] for d in delivered] == [1, 0]
    # The GSME's response (0x03) is an event.
    assert from_gsme(ncp, TUNNELING, b"\x01\x14\x02\x01\x00\x03" + bytes.fromhex("df0902aa")) == []
    assert [b for n, b in app.events if n == "han.gsme.response"] == [{"eui64": GSME, "response": "df0902aa"}]
    st = reg.dispatch("han.gsme.status", {"device": GSME})[0]
    assert st["queued"] == 0 and st["delivered"] == 2 and st["last_poll_utc"] == 1700000000


def test_a_message_not_delivered_waits_for_the_next_get():
    reg, ncp, app = _hub()
    reg.dispatch("han.gsme.queue", {"device": GSME, "message": "0102"})
    ncp.delivery = 0x66  # no APS ack: the GSME went back to sleep
    rsp = from_gsme(ncp, TUNNELING, b"\x01\x20\x02\x01\x00\x01")
    assert rsp == [b"\x19\x20\x01\x01\x00\x02\x00\x01\x02"]
    assert reg.dispatch("han.gsme.status", {"device": GSME})[0]["queued"] == 1
    ncp.delivery = 0
    assert from_gsme(ncp, TUNNELING, b"\x01\x21\x02\x01\x00\x01") == [b"\x19\x21\x01\x01\x00\x02\x00\x01\x02"]
    assert reg.dispatch("han.gsme.status", {"device": GSME})[0]["queued"] == 0


class Ncp2:
    """A HAN service's face for a GPF made only to look at its stored queue."""

    def __init__(self):
        self.receivers = {}


def test_frames_from_other_devices_are_left_to_the_han_service():
    reg, ncp, app = _hub()
    from test_han_reads import NODE
    report = b"\x18\x05\x0a" + b"\x00\x00\x25" + bytes(6)
    ncp.incoming(NODE, METERING, report)  # the ESME's report: not the GPF's
    ncp.incoming(NODE, TUNNELING, b"\x01\x10\x00" + struct.pack("<BHBH", 6, 0x1234, 0, 1500))
    rx = [b for n, b in app.events if n == "han.rx"]
    assert [(r["eui64"], r["cluster"]) for r in rx] == [(ESME, METERING), (ESME, TUNNELING)]
    assert ncp.sent == []
    assert raises(HubError, reg.dispatch, "han.gsme.status", {}).code == "bad_args"
