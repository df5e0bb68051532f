"""The host's frame codec against docs/PROTOCOL.md and hostile input."""

import random
import struct
import zlib

import pytest

from commshub.protocol import frame as fr

PING_REQ = bytes.fromhex("a55a0101000700 0f2f 0470696e67 0000 e78ad8ba".replace(" ", ""))
PING_RSP = bytes.fromhex(
    "a55a020100140 04d14 0470696e67 0d00 7b22706f6e67223a747275657d 4497c219".replace(" ", "")
)


def test_encoder_matches_the_protocol_vectors():
    assert fr.encode(fr.REQUEST, 1, "ping") == PING_REQ
    assert fr.encode(fr.RESPONSE, 1, "ping", {"pong": True}) == PING_RSP


def test_decoder_reads_the_vectors_in_any_chunking():
    stream = PING_REQ + PING_RSP
    for size in (1, 2, 3, 7, len(stream)):
        d = fr.Decoder()
        items = []
        for i in range(0, len(stream), size):
            items += d.feed(stream[i : i + size])
        frames = [x for x in items if isinstance(x, fr.Frame)]
        assert [(f.kind, f.seq, f.name, f.body) for f in frames] == [(1, 1, "ping", {}), (2, 1, "ping", {"pong": True})]


def test_console_text_between_frames_is_kept_apart():
    d = fr.Decoder()
    items = d.feed(b"boot: hello\n" + PING_RSP + b"more text\n")
    assert b"".join(x.text for x in items if isinstance(x, fr.Console)) == b"boot: hello\nmore text\n"
    assert sum(isinstance(x, fr.Frame) for x in items) == 1


def test_data_travels_raw():
    blob = bytes(range(256)) * 4
    d = fr.Decoder()
    (f,) = d.feed(fr.encode(fr.REQUEST, 9, "ping", {"a": 1}, blob))
    assert f.data == blob and f.body == {"a": 1}


def test_bad_crc_is_reported_with_its_seq_and_the_next_frame_survives():
    bad = bytearray(fr.encode(fr.REQUEST, 5, "ping", {"x": 1}))
    bad[-5] ^= 1
    items = fr.Decoder().feed(bytes(bad) + PING_REQ)
    assert isinstance(items[0], fr.Dropped) and items[0].reason == "bad_crc" and items[0].seq == 5
    assert isinstance(items[-1], fr.Frame) and items[-1].name == "ping"


def test_oversize_frame_is_skipped_without_buffering_it():
    hdr = struct.pack("<BHH", fr.REQUEST, 6, 9000)
    hdr += struct.pack("<H", zlib.crc32(hdr) & 0xFFFF)
    d = fr.Decoder()
    items = d.feed(fr.SYNC + hdr)
    assert items == [fr.Dropped("too_large", 6)]
    for _ in range(9):
        assert d.feed(b"\xa5\x5a" * 500) == [] and d.pending == 0
    items = d.feed(b"\x00" * 4 + PING_REQ)
    assert [x.name for x in items if isinstance(x, fr.Frame)] == ["ping"]


def test_garbage_never_hides_a_following_frame():
    rng = random.Random(7)
    for _ in range(300):
        junk = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 64)))
        d = fr.Decoder()
        items = d.feed(junk + PING_REQ)
        items += d.feed(PING_REQ)
        # A frame-shaped prefix may swallow the first copy; the second always decodes.
        assert any(isinstance(x, fr.Frame) and x.name == "ping" for x in items)


def test_payload_errors_are_named():
    with pytest.raises(ValueError):
        fr.decode_payload(b"\x09ping")
    d = fr.Decoder()
    (item,) = d.feed(fr.encode_raw(fr.REQUEST, 3, b"\x30ab"))
    assert item == fr.Dropped("bad_frame", 3)


def test_encoder_refuses_what_the_hub_would_refuse():
    with pytest.raises(ValueError):
        fr.encode(fr.REQUEST, 1, "ping", data=bytes(fr.MAX_PAYLOAD))


def test_a_frame_cut_short_does_not_swallow_the_next_one():
    cut = fr.encode(fr.RESPONSE, 40, "config.set", {"config": {"notes": "x" * 300}})[:57]
    d = fr.Decoder()
    items = d.feed(cut + PING_RSP + bytes(400))
    assert any(isinstance(x, fr.Frame) and x.seq == 1 for x in items)


def test_json_given_as_text_goes_as_it_is_and_a_prefix_leads():
    block = bytes(range(256)) * 8
    as_text = fr.encode_payload("image.block", b'{"offset":2048,"ack":false}', memoryview(block), b"\x02id")
    assert as_text == b"\x02id" + fr.encode_payload("image.block", {"offset": 2048, "ack": False}, block)
    assert fr.decode_payload(as_text[3:]) == ("image.block", {"offset": 2048, "ack": False}, block)
