"""Frame codec: PROTOCOL.md vectors, resync, errors, timeout, round trips."""

import os
from binascii import unhexlify

from hub.codecs import frame
from hub.errors import HubError
from util import raises

PING_REQ = unhexlify("a55a01010007000f2f0470696e670000e78ad8ba")
PING_RSP = unhexlify(
    "a55a020100140" "04d140470696e670d007b22706f6e67223a747275657d4497c219"
)


def _all(dec, data, now=0, chunk=None):
    """Feed `data` (optionally in chunks) and collect (result, kind, seq, payload|error)."""
    out = []
    step = chunk or len(data) or 1
    for a in range(0, len(data), step):
        end = min(a + step, len(data))
        i = a
        while i < end or dec.pending:
            i = dec.feed(data, i, end, now)
            if dec.result == frame.FRAME:
                out.append(("frame", dec.kind, dec.seq, bytes(dec.payload)))
            elif dec.result == frame.FAULT:
                out.append(("fault", dec.kind, dec.seq, dec.error))
    return out


def test_encode_vectors():
    assert bytes(frame.encode(frame.REQUEST, 1, b"ping")) == PING_REQ
    assert bytes(frame.encode(frame.RESPONSE, 1, b"ping", b'{"pong":true}')) == PING_RSP


def test_decode_vectors():
    d = frame.Decoder()
    got = _all(d, PING_REQ + PING_RSP)
    assert len(got) == 2, got
    assert got[0][:3] == ("frame", 1, 1)
    name, j, data = frame.decode_payload(got[0][3])
    assert name == "ping" and bytes(j) == b"" and bytes(data) == b""
    assert frame.parse_json(j) == {}
    name, j, data = frame.decode_payload(got[1][3])
    assert (name, frame.parse_json(j)) == ("ping", {"pong": True})


def test_byte_by_byte():
    d = frame.Decoder()
    got = _all(d, PING_RSP * 3, chunk=1)
    assert [g[:3] for g in got] == [("frame", 2, 1)] * 3


def test_resync_after_garbage():
    d = frame.Decoder()
    for trial in range(40):
        junk = bytearray(os.urandom(trial * 7 % 97))
        # Garbage must not contain a full valid frame; sprinkle sync bytes.
        for k in range(0, len(junk), 5):
            junk[k] = 0xA5
        seq = 100 + trial
        f = frame.encode(frame.REQUEST, seq, b"ping", b"", b"x" * trial)
        got = _all(d, bytes(junk) + f, now=trial * 1000, chunk=1 + trial % 9)
        frames = [g for g in got if g[0] == "frame"]
        assert frames and frames[-1][2] == seq, (trial, got)


def test_sync_inside_bad_header():
    # A5 5A then a header whose hcrc fails, whose bytes hold the real frame start.
    f = frame.encode(frame.REQUEST, 7, b"ping")
    data = b"\xa5\x5a\x01" + f
    d = frame.Decoder()
    got = _all(d, data, chunk=1)
    assert got == [("frame", 1, 7, bytes(f[9:-4]))], got
    assert d.bad_hcrc == 1


def test_bad_hcrc_dropped():
    f = bytearray(frame.encode(frame.REQUEST, 3, b"ping"))
    f[7] ^= 0xFF
    d = frame.Decoder()
    assert _all(d, f) == []
    assert d.bad_hcrc == 1
    # The decoder still works afterwards.
    assert _all(d, PING_REQ)[0][:3] == ("frame", 1, 1)


def test_bad_crc_error_with_seq():
    f = bytearray(frame.encode(frame.REQUEST, 0xBEEF, b"ping", b"{}"))
    f[-1] ^= 1
    d = frame.Decoder()
    assert _all(d, f + PING_REQ) == [("fault", 1, 0xBEEF, "bad_crc"),
                                     ("frame", 1, 1, bytes(PING_REQ[9:-4]))]


def test_oversize_skipped_without_buffering():
    import struct
    from binascii import crc32

    n = 5000
    hdr = bytearray(struct.pack("<BHH", 1, 42, n))
    hdr += struct.pack("<H", crc32(hdr) & 0xFFFF)
    body = b"\xa5\x5a" * ((n + 4) // 2)  # sync-looking bytes must be skipped too
    d = frame.Decoder()
    assert len(d.buf) == frame.MAX_PAYLOAD + 4
    got = _all(d, b"\xa5\x5a" + hdr + body + PING_REQ, chunk=700)
    assert got[0] == ("fault", 1, 42, "too_large"), got
    assert got[1][:3] == ("frame", 1, 1) and len(got) == 2, got


def test_truncated_then_timeout():
    d = frame.Decoder()
    part = PING_REQ[:12]
    assert _all(d, part, now=1000) == []
    # More than 200 ms later a fresh frame arrives: the partial one is dropped.
    got = _all(d, PING_REQ, now=1201)
    assert got == [("frame", 1, 1, bytes(PING_REQ[9:-4]))], got
    assert d.dropped == 1


def test_a_frame_right_after_a_truncated_one_is_not_lost():
    # The sender gave up on a frame after 12 bytes and sent a whole one within the
    # timeout: it sits in the first one's body. When the sender tries it again later
    # the partial frame is dropped and the first copy found in it.
    cut = frame.encode(frame.REQUEST, 7, b"config.set", b'{"key":"label","value":"a long enough value"}')[:12]
    for chunk in (None, 1, 5):
        d = frame.Decoder()
        assert _all(d, cut + PING_REQ, now=1000, chunk=chunk) == []
        got = _all(d, PING_REQ, now=2000, chunk=chunk)
        assert got == [("frame", 1, 1, bytes(PING_REQ[9:-4]))] * 2, (chunk, got)
        assert d.dropped == 1


def test_frames_inside_a_body_that_fails_its_crc_are_found():
    # Frames right behind a truncated one fill its body: the CRC fails, then every
    # frame in it and after it is read.
    cut = frame.encode(frame.REQUEST, 7, b"config.set", b'{"key":"label","value":"a long enough value"}')[:12]
    for chunk in (None, 1, 5, 17):
        d = frame.Decoder()
        got = _all(d, cut + PING_REQ * 5, chunk=chunk)
        assert got[0] == ("fault", 1, 7, "bad_crc"), (chunk, got)
        assert got[1:] == [("frame", 1, 1, bytes(PING_REQ[9:-4]))] * 5, (chunk, got)


def test_nested_truncations_are_all_recovered():
    # Two truncated frames in a row, then good ones: each failed body is read again.
    big = frame.encode(frame.REQUEST, 9, b"x", b'{"v":"' + b"y" * 80 + b'"}')
    for chunk in (None, 3):
        d = frame.Decoder()
        got = _all(d, big[:30] + big[:50] + PING_REQ * 6, chunk=chunk)
        frames = [g for g in got if g[0] == "frame"]
        assert frames == [("frame", 1, 1, bytes(PING_REQ[9:-4]))] * 6, (chunk, got)
        assert all(g[3] == "bad_crc" for g in got if g[0] == "fault"), got


def test_junk_full_of_sync_bytes_never_hides_the_frames_after_it():
    import random

    random.seed(7)
    rand = random.getrandbits
    for round_ in range(150):
        d = frame.Decoder()
        junk = bytearray(rand(8) for _ in range(rand(9)))
        for _ in range(rand(3)):  # sync pairs and real frame heads in the junk
            p = rand(8) % (len(junk) + 1)
            junk[p:p] = PING_REQ[:rand(5) % 20] if rand(1) else b"\xa5\x5a"
        _all(d, junk, now=0, chunk=1 + rand(4))
        got = _all(d, PING_REQ * 3, now=1000, chunk=1 + rand(4))
        assert got[-3:] == [("frame", 1, 1, bytes(PING_REQ[9:-4]))] * 3, (round_, bytes(junk), got)


def test_no_timeout_within_200ms():
    d = frame.Decoder()
    assert _all(d, PING_REQ[:12], now=1000) == []
    got = _all(d, PING_REQ[12:], now=1200)
    assert got and got[0][0] == "frame"
    assert d.dropped == 0


def test_round_trip_with_data():
    data = bytes(range(256)) * 4
    f = frame.encode(frame.EVENT, 65535, b"some.name", b'{"a":[1,2]}', data)
    d = frame.Decoder()
    (r,) = _all(d, f, chunk=13)
    assert r[:3] == ("frame", frame.EVENT, 65535)
    name, j, dd = frame.decode_payload(r[3])
    assert name == "some.name" and frame.parse_json(j) == {"a": [1, 2]} and bytes(dd) == data


def test_max_payload_exact():
    name = b"x"
    data = b"\x00" * (frame.MAX_PAYLOAD - 3 - len(name))
    f = frame.encode(frame.REQUEST, 9, name, b"", data)
    assert len(f) == frame.MAX_PAYLOAD + 13  # sync, kind, seq, len, hcrc; crc
    d = frame.Decoder()
    (r,) = _all(d, f)
    assert r[0] == "frame" and len(r[3]) == frame.MAX_PAYLOAD
    raises(ValueError, frame.encode, frame.REQUEST, 9, name, b"", data + b"!")


def test_bad_payloads():
    for p in (b"", b"\x00\x00", b"\x05ab", b"\x04ping\x05\x00{}", b"\x02a\x01\x00\x00"):
        assert type(frame.decode_payload(p)) is str, p  # the reason it is not a payload
    assert frame.decode_payload(b"\x00\x00\x00")[0] == ""
    raises(HubError, frame.parse_json, b"{nope")
    raises(HubError, frame.parse_json, b"\xff\xfe")


def test_write_frame_pieces_equal_encode():
    out = bytearray()
    n = frame.write_frame(out.extend, frame.RESPONSE, 1, "ping", '{"pong":true}')
    assert bytes(out) == PING_RSP and n == len(PING_RSP)
    out = bytearray()
    frame.write_frame(out.extend, frame.EVENT, 5, b"x", b"", b"\x01\x02")
    assert bytes(out) == bytes(frame.encode(frame.EVENT, 5, b"x", b"", b"\x01\x02"))
    raises(ValueError, frame.write_frame, out.extend, 1, 1, b"x", b"", b"\x00" * 5000)


def test_write_frame_sizes_a_non_ascii_str_in_bytes():
    # A str reply is written as a view of its UTF-8: the frame's lengths and CRC must count bytes.
    text = '{"label":"caf\u00e9 \u2603"}'
    out = bytearray()
    n = frame.write_frame(out.extend, frame.RESPONSE, 9, "config.get", text)
    assert bytes(out) == bytes(frame.encode(frame.RESPONSE, 9, b"config.get", text.encode()))
    assert n == len(out)
    dec = frame.Decoder()
    got = _all(dec, bytes(out))
    assert got[0][:3] == ("frame", frame.RESPONSE, 9)
    assert str(bytes(frame.decode_payload(got[0][3])[1]), "utf-8") == text
