"""GBCS image layout: the DCC sample, every optional header field, malformed headers."""

import struct

from hub.errors import HubError
from hub.images import gbcs
from util import dcc_sample as _sample, raises





def _header(fc=0, hlen=None, total=1000, fid=0x0BEEF11E, hver=0x0100, extra=None, string=b"hub"):
    if hlen is None:
        hlen = gbcs.header_length_for(fc)
    if extra is None:
        extra = b""
        if fc & 1:
            extra += b"\x02"
        if fc & 2:
            extra += b"\x01\x02\x03\x04\x05\x06\x07\x08"
        if fc & 4:
            extra += struct.pack("<HH", 0x0100, 0x02FF)
    s = string + bytes(32 - len(string))
    return struct.pack("<IHHHHHIH32sI", fid, hver, hlen, fc, 0x1234, 1, 0x01020300, 2, s, total) + extra


def _bad(fn, *args):
    e = raises(HubError, fn, *args)
    assert e.code == "bad_format", e.code
    assert e.message
    return e


def test_sample_header_fields():
    h = gbcs.parse_header(_sample()[:gbcs.HEADER_MAX])
    assert h.header_version == 0x0100
    assert h.header_length == 60
    assert h.field_control == 0x0004
    assert h.manufacturer == 0x121D
    assert h.image_type == 0x0000
    assert h.file_version == 0xACDCACDC
    assert h.stack_version == 2
    assert h.header_string == b"I am a GFI ESME[] firmware image"
    assert h.total_size == 361
    assert h.security_version is None and h.destination is None
    assert (h.hw_min, h.hw_max) == (0x1111, 0x1211)


def test_sample_layout_and_trailer():
    img = _sample()
    h = gbcs.parse_header(img)
    assert gbcs.layout(h) == (60, 235, 295)
    force, sig = gbcs.parse_trailer(img[295:361])
    assert force == 0
    assert sig == img[297:361] and len(sig) == 64
    assert gbcs.TRAILER == 66 and gbcs.HEADER_MIN == 56 and gbcs.HEADER_MAX == 69
    assert gbcs.FILE_ID == 0x0BEEF11E


def test_version_str_and_back():
    assert gbcs.version_str(0xACDCACDC) == "172.220.172"
    assert gbcs.version_str(0x01020300) == "1.2.3"
    assert gbcs.version_str(0x000A00FF) == "0.10.0"
    assert gbcs.file_version("1.2.3") == 0x01020300
    assert gbcs.file_version("255.0.10") == 0xFF000A00
    for bad in ("1.2", "1.2.3.4", "1.2.x", "256.0.0", "", "1..2", None):
        _bad(gbcs.file_version, bad)


def test_optional_fields():
    h = gbcs.parse_header(_header(fc=0))
    assert h.header_length == 56 and h.hw_min is None and h.header_string == b"hub"
    h = gbcs.parse_header(_header(fc=1))
    assert h.header_length == 57 and h.security_version == 2
    h = gbcs.parse_header(_header(fc=2))
    assert h.header_length == 64 and h.destination == b"\x01\x02\x03\x04\x05\x06\x07\x08"
    h = gbcs.parse_header(_header(fc=7))
    assert h.header_length == 69
    assert (h.security_version, h.destination, h.hw_min, h.hw_max) == (
        2, b"\x01\x02\x03\x04\x05\x06\x07\x08", 0x0100, 0x02FF)
    assert gbcs.layout(h) == (69, 1000 - 69 - 66, 1000 - 66)
    # A 32-character string keeps every byte; NUL padding goes.
    h = gbcs.parse_header(_header(string=b"x" * 32))
    assert h.header_string == b"x" * 32
    # Extra bytes after the header (the MI) are ignored.
    h = gbcs.parse_header(_header(fc=4) + b"\xff" * 20)
    assert h.hw_max == 0x02FF


def test_wrong_file_id():
    e = _bad(gbcs.parse_header, _header(fid=0x0BEEF11F))
    assert "file id" in e.message
    _bad(gbcs.parse_header, b"\x00" * 69)


def test_wrong_header_version():
    _bad(gbcs.parse_header, _header(hver=0x0200))


def test_truncated():
    full = _header(fc=4)
    _bad(gbcs.parse_header, full[:55])
    _bad(gbcs.parse_header, full[:59])  # fixed part there, hardware versions missing
    _bad(gbcs.parse_header, b"")
    _bad(gbcs.parse_header, _sample()[:59])


def test_header_length_must_match_field_control():
    _bad(gbcs.parse_header, _header(fc=4, hlen=56))
    _bad(gbcs.parse_header, _header(fc=0, hlen=60, extra=b"\x00" * 4))
    _bad(gbcs.parse_header, _header(fc=7, hlen=70, extra=b"\x00" * 14))
    _bad(gbcs.parse_header, _header(fc=0, hlen=55))
    _bad(gbcs.parse_header, _header(fc=8, hlen=56))  # reserved bit


def test_total_size_too_small():
    _bad(gbcs.parse_header, _header(fc=0, total=56 + 66))  # no MI at all
    _bad(gbcs.parse_header, _header(fc=0, total=10))
    _bad(gbcs.parse_header, _header(fc=0, total=0))
    h = gbcs.parse_header(_header(fc=0, total=56 + 66 + 1))
    assert gbcs.layout(h) == (56, 1, 57)
    h.total_size = 56 + 66  # layout checks on its own too
    _bad(gbcs.layout, h)


def test_trailer():
    sig = bytes(range(64))
    assert gbcs.parse_trailer(b"\x01\x40" + sig) == (1, sig)
    assert gbcs.parse_trailer(bytearray(b"\x00\x40" + sig)) == (0, sig)
    _bad(gbcs.parse_trailer, b"\x02\x40" + sig)  # force-replace not 0/1
    _bad(gbcs.parse_trailer, b"\x00\x41" + sig)  # signature length
    _bad(gbcs.parse_trailer, b"\x00\x48" + sig)
    _bad(gbcs.parse_trailer, b"\x00\x40" + sig[:63])
    _bad(gbcs.parse_trailer, b"\x00\x40" + sig + b"\x00")
