"""The PPMID's Prepayment frames pass through the hub to the ESME and its answers back (real HAN
service, device log and wiring over the recording EZSP stand-in of test_han_reads)."""

import asyncio
import struct

from hub import han_devices
from hub.services.device_log import DeviceLog
from hub.services.han import Han
from hub.services.logbuf import Log
from test_han_reads import ESME, NODE, App, Ncp

PPMID = "000D6F000ABCDE05"
PPMID_NODE = 0x6C01
PREPAYMENT = 0x0705
# Consumer Top Up from the PPMID: TSN 0x21, originating device 2 (IHD), a 20-digit UTRN.
UTRN = b"00050000000112345678"
TOP_UP = b"\x01\x21\x03\x02" + bytes((len(UTRN),)) + UTRN


def _hub(esme_joined=True):
    app = App()
    ncp = Ncp()
    han = Han(ncp, app.store, None, app.bus, Log(echo=False), "0011223344556677")
    han.state = "up"
    devlog = DeviceLog(han, app.store, app.clock, app.bus, Log(echo=False))
    devlog.devices = [[ESME, 1, "00" * 18, 0, NODE if esme_joined else -1, esme_joined],
                      [PPMID, 5, "00" * 18, 0, PPMID_NODE, True]]
    han_devices.start(app, han, devlog)
    return ncp, app


def hear(ncp, node, payload):
    """`payload` on Prepayment from `node`; the frames the hub sent because of it."""
    async def main():
        n = len(ncp.sent)
        ncp.incoming(node, PREPAYMENT, payload)
        for _ in range(20):
            await asyncio.sleep_ms(1)
        return ncp.frames()[n:]
    return asyncio.run(main())


def test_a_top_up_goes_to_the_esme_and_its_answer_back_to_the_ppmid_with_an_event():
    ncp, app = _hub()
    out = hear(ncp, PPMID_NODE, TOP_UP)
    assert len(out) == 1
    node, cluster, ep, fwd = out[0]
    assert (node, cluster, ep) == (NODE, PREPAYMENT, 1)
    tsn = fwd[1]
    assert fwd[:1] + fwd[2:] == TOP_UP[:1] + TOP_UP[2:]  # the same frame, under the hub's TSN
    assert [n for n, _b in app.events if n == "han.top_up"] == []  # nothing applied yet
    # The meter refuses it (2: duplicate), credit 734p: the PPMID gets it under its own TSN.
    rsp = bytes((0x19, tsn, 0x03)) + struct.pack("<BiBi", 2, 0, 2, 734)
    back = hear(ncp, NODE, rsp)
    assert back == [(PPMID_NODE, PREPAYMENT, 1, b"\x19\x21\x03" + rsp[3:])]
    ev = [b for n, b in app.events if n == "han.top_up"]
    assert ev == [{"ppmid": PPMID, "meter": ESME, "accepted": False, "result": 2, "value": 0,
                   "credit_remaining": 734}]
    # The same answer again is nobody's: shown as han.rx, not passed on.
    assert hear(ncp, NODE, rsp) == []
    assert [b["eui64"] for n, b in app.events if n == "han.rx"] == [ESME]


def test_a_credit_read_passes_through_and_an_accepted_top_up_is_told():
    ncp, app = _hub()
    (_n, _c, _e, fwd), = hear(ncp, PPMID_NODE, b"\x00\x07\x00\x01\x00\x02\x00\x03\x00")
    assert fwd[0] == 0x00 and fwd[2:] == b"\x00\x01\x00\x02\x00\x03\x00"
    rsp = bytes((0x18, fwd[1], 0x01)) + b"\x01\x00\x00\x2b" + struct.pack("<i", 1234)
    assert hear(ncp, NODE, rsp) == [(PPMID_NODE, PREPAYMENT, 1, b"\x18\x07\x01" + rsp[3:])]
    (_n, _c, _e, fwd), = hear(ncp, PPMID_NODE, TOP_UP)
    hear(ncp, NODE, bytes((0x19, fwd[1], 0x03)) + struct.pack("<BiBi", 0, 500, 2, 1734))
    ev = [b for n, b in app.events if n == "han.top_up"]
    assert [(e["accepted"], e["value"], e["credit_remaining"]) for e in ev] == [(True, 500, 1734)]


def test_without_a_joined_esme_the_ppmid_is_told_not_found_and_others_are_not_passed():
    ncp, app = _hub(esme_joined=False)
    assert hear(ncp, PPMID_NODE, TOP_UP) == [(PPMID_NODE, PREPAYMENT, 1, b"\x18\x21\x0b\x03\x8b")]
    assert [b for n, b in app.events if n == "han.top_up"] == [{"ppmid": PPMID, "meter": None,
                                                                  "accepted": False, "error": "no_meter"}]
    # Asked for no default response: none.
    assert hear(ncp, PPMID_NODE, b"\x11\x22\x03" + TOP_UP[3:]) == []
    ncp, app = _hub()
    # Prepayment requests from the ESME itself, and junk, are not passed anywhere.
    assert hear(ncp, NODE, TOP_UP) == []
    assert hear(ncp, PPMID_NODE, b"\x01") == []
    assert [b["eui64"] for n, b in app.events if n == "han.rx"] == [ESME, PPMID]
