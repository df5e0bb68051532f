"""ASH codec and host state machine: protocol-facts.md vectors (agree with bellows)."""

import random
from binascii import unhexlify

from hub.errors import HubError
from hub.radio import ash, ash_host
from util import raises

RST = unhexlify("c038bc7e")
RSTACK = unhexlify("c102029b7b7e")  # RSTACK(version 2, code 0x02 power-on)
DATA_VERSION = unhexlify("004221a850ed2c7e")  # DATA(0,0,0): version(4)
ACK1 = unhexlify("8160597e")
NAK0 = unhexlify("a0547d3a7e")
SILABS = unhexlify("254221a856a6097e")  # UG101 example: DATA(2,0,5) 00 00 00 02
# From bellows 1.2.1: NCP DATA(0, ack 1) with the version(8) response, and ERROR(2, 0x51).
DATA_VRSP = unhexlify("0142a1a8542217822d7d33f77e")
ERROR51 = unhexlify("c20251a8bd7e")
VRSP = unhexlify("0080000008023074")


def _all(data, chunk=None, dec=None):
    dec = dec or ash.Decoder()
    out = []
    step = chunk or len(data) or 1
    for a in range(0, len(data), step):
        end = min(a + step, len(data))
        i = a
        while i < end:
            i = dec.feed(data, i, end)
            if dec.result == ash.FRAME:
                out.append((dec.kind, dec.frm, dec.ack, dec.retx, dec.nrdy, bytes(dec.data)))
            elif dec.result == ash.FAULT:
                out.append(("fault", dec.error))
    return out


def test_lfsr_sequence():
    buf = bytearray(8)
    ash.randomise(buf)
    assert bytes(buf) == unhexlify("4221a8542a15b259")
    ash.randomise(buf)
    assert bytes(buf) == bytes(8)


def test_crc():
    assert ash.crc16(b"123456789") == 0x29B1  # CRC-16/CCITT-FALSE check value
    assert ash.crc16(bytes(range(256))) == 0x3FBD  # CPython binascii.crc_hqx
    assert ash.crc16(b"\xc0") == 0x38BC
    assert ash.crc16(b"x\xc0y", 1, 2) == 0x38BC


def test_encode_vectors():
    assert ash.encode_rst() == RST
    assert ash.encode_rstack(0x02) == RSTACK
    assert ash.encode_data(0, 0, b"\x00\x00\x00\x04") == DATA_VERSION
    assert ash.encode_ack(1) == ACK1
    assert ash.encode_nak(0) == NAK0
    assert ash.encode_data(2, 5, b"\x00\x00\x00\x02") == SILABS
    assert ash.encode_data(0, 1, VRSP) == DATA_VRSP
    assert ash.encode_error(0x51) == ERROR51


def test_encode_flags():
    assert ash.encode_data(3, 6, b"\x01", retx=True)[0] == 0x3E
    assert ash.encode_ack(7, nrdy=True)[0] == 0x8F
    assert ash.encode_nak(2, nrdy=True)[0] == 0xAA
    e = raises(HubError, ash.encode_data, 0, 0, b"")
    assert e.code == "too_large"
    raises(HubError, ash.encode_data, 0, 0, bytes(ash.MAX_DATA + 1))
    assert len(ash.encode_data(0, 0, bytes(ash.MAX_DATA))) >= ash.MAX_DATA + 4


def test_decode_vectors():
    got = _all(RST + RSTACK + DATA_VERSION + ACK1 + NAK0 + SILABS + DATA_VRSP + ERROR51)
    assert got == [
        (ash.RST, 0, 0, False, False, b""),
        (ash.RSTACK, 0, 1, False, False, b"\x02\x02"),
        (ash.DATA, 0, 0, False, False, b"\x00\x00\x00\x04"),
        (ash.ACK, 0, 1, False, False, b""),
        (ash.NAK, 0, 0, False, False, b""),
        (ash.DATA, 2, 5, False, False, b"\x00\x00\x00\x02"),
        (ash.DATA, 0, 1, False, False, VRSP),
        (ash.ERROR, 0, 2, False, False, b"\x02\x51"),
    ], got
    d = ash.Decoder()
    _all(RSTACK, dec=d)
    assert (d.version, d.code) == (2, 2)
    _all(ERROR51, dec=d)
    assert (d.kind, d.version, d.code) == (ash.ERROR, 2, 0x51)


def test_decode_flags_and_byte_by_byte():
    wire = ash.encode_data(5, 3, b"abc", retx=True) + ash.encode_ack(4, nrdy=True)
    want = [(ash.DATA, 5, 3, True, False, b"abc"), (ash.ACK, 0, 4, False, True, b"")]
    assert _all(wire * 3, chunk=1) == want * 3


def test_stuffing_round_trip_every_reserved_byte():
    for b in (0x7E, 0x7D, 0x11, 0x13, 0x18, 0x1A):
        assert ash.stuff(bytes((b,))) == bytes((0x7D, b ^ 0x20))
        # Control bytes are not randomised: an ACK/NAK whose CRC or control
        # needs escaping, and DATA whose randomised payload hits each value.
        payload = bytes((b ^ 0x42, b ^ 0x42, b))
        wire = ash.encode_data(1, 2, payload)
        body = wire[:-1]
        assert 0x7E not in body and 0x11 not in body and 0x13 not in body
        assert 0x18 not in body and 0x1A not in body
        assert body.count(b"\x7d") >= 1
        assert _all(wire) == [(ash.DATA, 1, 2, False, False, payload)]
    all_bytes = bytes(range(256))
    for a in range(0, 256, ash.MAX_DATA):
        p = all_bytes[a:a + ash.MAX_DATA]
        assert _all(ash.encode_data(7, 7, p), chunk=5) == [(ash.DATA, 7, 7, False, False, p)]


def test_resync_after_garbage():
    junk = b"\x00\xff\x7d\x42\x01\x02\x03\x7e\x99\x98\x7e\x7e"
    got = _all(junk + DATA_VERSION + b"\x7e\x7e" + ACK1)
    frames = [g for g in got if g[0] != "fault"]
    assert frames == [
        (ash.DATA, 0, 0, False, False, b"\x00\x00\x00\x04"),
        (ash.ACK, 0, 1, False, False, b""),
    ], got
    assert all(g[0] == "fault" for g in got if g not in frames)


def test_cancel_drops_buffered_frame():
    # Half a frame, cancel, then a whole frame: only the whole one comes out.
    got = _all(NAK0[:3] + b"\x1a" + ACK1)
    assert got == [(ash.ACK, 0, 1, False, False, b"")], got
    # Cancel also clears a pending escape.
    assert _all(b"\x01\x7d\x1a" + RST) == [(ash.RST, 0, 0, False, False, b"")]


def test_substitute_drops_until_flag():
    got = _all(ACK1[:2] + b"\x18" + ACK1[2:] + NAK0)
    assert got == [(ash.NAK, 0, 0, False, False, b"")], got
    # Bytes after SUB, even a whole frame's body, are dropped up to the flag.
    got = _all(b"\x18" + RST + RST + ACK1)
    assert got == [(ash.RST, 0, 0, False, False, b""), (ash.ACK, 0, 1, False, False, b"")], got


def test_xon_xoff_ignored():
    wire = b"\x11" + DATA_VERSION[:3] + b"\x13\x11" + DATA_VERSION[3:]
    assert _all(wire) == [(ash.DATA, 0, 0, False, False, b"\x00\x00\x00\x04")]


def test_bad_crc_rejected():
    bad = bytearray(DATA_VERSION)
    bad[2] ^= 0x01
    got = _all(bytes(bad) + ACK1)
    assert got == [("fault", "bad_crc"), (ash.ACK, 0, 1, False, False, b"")], got
    bad = bytearray(RSTACK)
    bad[3] ^= 0x80
    assert _all(bytes(bad)) == [("fault", "bad_crc")]


def test_malformed_frames():
    assert _all(b"\x81\x60\x7e") == [("fault", "bad_frame")]  # too short
    assert _all(ACK1[:3] + b"\x7d\x7e") == [("fault", "bad_frame")]  # escape at flag
    # Valid CRC but the length does not fit the control byte.
    for raw in (b"\x81\x00", b"\xc0\x00", b"\xc1\x02", b"\xc3", b"\x00"):
        crc = ash.crc16(raw)
        wire = ash.stuff(raw + bytes((crc >> 8, crc & 0xFF))) + b"\x7e"
        assert _all(wire) == [("fault", "bad_frame")], raw
    big = b"\x20" * 400
    got = _all(big + b"\x7e" + ACK1)
    assert got == [("fault", "too_large"), (ash.ACK, 0, 1, False, False, b"")], got


def test_fuzz_decoder_seeded():
    random.seed(12345)
    d = ash.Decoder()
    h = ash_host.Host()
    h.connect(0)
    h.feed(RSTACK, 0)
    pieces = (RST, RSTACK, DATA_VERSION, ACK1, NAK0, SILABS, DATA_VRSP, ERROR51,
              b"\x7e", b"\x7d", b"\x1a", b"\x18", b"\x11")
    counts = [0, 0, 0]
    buf = bytearray(24)
    for n in range(10000):
        if n % 4 == 0:
            chunk = b"\x7e" + random.choice(pieces)
        elif n % 4 == 1:
            chunk = random.choice(pieces)
            chunk = chunk[: random.randint(1, len(chunk))]
        else:
            k = random.randint(0, len(buf))
            for j in range(k):
                buf[j] = random.getrandbits(8)
            chunk = bytes(buf[:k])
        i = 0
        while i < len(chunk):
            j = d.feed(chunk, i, len(chunk))
            assert i < j <= len(chunk)
            assert d.result in (ash.NONE, ash.FRAME, ash.FAULT)
            counts[d.result] += 1
            if d.result == ash.FAULT:
                assert d.error in ("bad_crc", "bad_frame", "too_large")
            i = j
        tx, ev = h.feed(chunk, n)
        h.poll(n)
    assert counts[ash.FRAME] > 100 and counts[ash.FAULT] > 100, counts


# --- Host state machine ---------------------------------------------------


class Ncp:
    """Just enough of the NCP side to script scenarios."""

    def __init__(self):
        self.dec = ash.Decoder()

    def frames(self, wire):
        return _all(wire, dec=self.dec)


def _up(code=0x02):
    h = ash_host.Host()
    tx, ev = h.connect(0)
    assert tx == b"\x1a" + RST and ev == ()
    tx, ev = h.feed(ash.encode_rstack(code), 10)
    assert tx == b"" and ev == [(ash_host.EV_CONNECTED, code)]
    assert h.state == ash_host.CONNECTED
    return h


def test_reset_handshake():
    h = _up()
    assert (h.tx_seq, h.rx_seq) == (0, 0)
    tx, ev = h.send(b"\x00\x00\x00\x04", 20)
    assert tx == DATA_VERSION and ev == ()


def test_rst_retried_then_fails_and_bad_version():
    h = ash_host.Host()
    tx, _ = h.connect(0)
    assert h.poll(3199) == (b"", ())
    for t in (3200, 6400, 9600, 12800):
        tx, ev = h.poll(t)
        assert tx == b"\x1a" + RST and ev == ()
    tx, ev = h.poll(16000)
    assert tx == b"" and ev == [(ash_host.EV_FAILED, "rst_timeout")]
    assert h.state == ash_host.FAILED
    h = ash_host.Host()
    h.connect(0)
    tx, ev = h.feed(ash.encode_rstack(2, version=3), 5)
    assert ev == [(ash_host.EV_FAILED, "bad_version")] and h.state == ash_host.FAILED


def test_send_requires_connection():
    h = ash_host.Host()
    assert raises(HubError, h.send, b"\x00", 0).code == "busy"


def test_data_and_ack_both_ways():
    h = _up()
    ncp = Ncp()
    tx, _ = h.send(b"\x00\x00\x00\x04", 100)
    assert ncp.frames(tx) == [(ash.DATA, 0, 0, False, False, b"\x00\x00\x00\x04")]
    # A second send waits until the first is acknowledged.
    tx, ev = h.send(b"\x01\x00\x00", 110)
    assert tx == b"" and ev == ()
    # The NCP answers with DATA(0, ack 1): it acks ours and carries a response.
    tx, ev = h.feed(DATA_VRSP, 150)
    assert ev == [(ash_host.EV_SENT, b"\x00\x00\x00\x04"), (ash_host.EV_DATA, VRSP)], ev
    got = ncp.frames(tx)
    assert got == [
        (ash.ACK, 0, 1, False, False, b""),
        (ash.DATA, 1, 1, False, False, b"\x01\x00\x00"),
    ], got
    assert (h.tx_seq, h.rx_seq) == (2, 1)
    tx, ev = h.feed(ash.encode_ack(2), 160)
    assert tx == b"" and ev == [(ash_host.EV_SENT, b"\x01\x00\x00")]
    assert h.out is None
    # A stale ACK changes nothing.
    assert h.feed(ash.encode_ack(2), 170) == (b"", ())


def test_sequence_numbers_wrap():
    h = _up()
    for n in range(20):
        tx, _ = h.send(b"\x07", n * 10)
        assert tx == ash.encode_data(n & 7, 0, b"\x07")
        tx, ev = h.feed(ash.encode_ack((n + 1) & 7), n * 10 + 5)
        assert ev == [(ash_host.EV_SENT, b"\x07")]
    for n in range(20):
        tx, ev = h.feed(ash.encode_data(n & 7, 4, b"r"), 300 + n)
        assert tx == ash.encode_ack((n + 1) & 7) and ev == [(ash_host.EV_DATA, b"r")]


def test_lost_ack_retransmits_with_retx():
    h = _up()
    ncp = Ncp()
    tx0, _ = h.send(b"\x00\x00\x00\x04", 1000)
    assert h.poll(1000 + 1599) == (b"", ())
    tx, ev = h.poll(1000 + 1600)
    assert ev == ()
    assert ncp.frames(tx) == [(ash.DATA, 0, 0, True, False, b"\x00\x00\x00\x04")]
    assert tx != tx0 and tx[0] == 0x08
    assert h.t_ack == 3200  # doubled after a timeout
    tx, ev = h.feed(ash.encode_ack(1), 2700)
    assert ev == [(ash_host.EV_SENT, b"\x00\x00\x00\x04")]
    assert h.state == ash_host.CONNECTED
    # Adaptive: 7/8 of 3200 + half of the 100 ms measured.
    assert h.t_ack == 2800 + 50


def test_fails_after_five_tries():
    h = _up()
    h.send(b"\x00\x00\x00\x04", 0)
    sent = 1
    t = 0
    while True:
        t += 3200
        tx, ev = h.poll(t)
        if ev:
            break
        assert tx[0] & 0x08  # every retransmission has reTx set
        sent += 1
    assert sent == 5
    assert ev == [(ash_host.EV_FAILED, "ack_timeout")] and tx == b""
    assert h.state == ash_host.FAILED
    assert raises(HubError, h.send, b"\x00", t).code == "busy"


def test_nak_triggers_immediate_retransmission():
    h = _up()
    ncp = Ncp()
    h.send(b"abc", 0)
    tx, ev = h.feed(ash.encode_nak(0), 50)
    assert ncp.frames(tx) == [(ash.DATA, 0, 0, True, False, b"abc")] and ev == ()
    assert h.tries == 2


def test_out_of_sequence_nak_once_then_recover():
    h = _up()
    tx, ev = h.feed(ash.encode_data(1, 0, b"x"), 10)  # expected frame 0
    assert tx == ash.encode_nak(0) and ev == ()
    tx, ev = h.feed(ash.encode_data(2, 0, b"y"), 11)  # reject condition: no second NAK
    assert tx == b"" and ev == ()
    tx, ev = h.feed(ash.encode_data(0, 0, b"z", retx=True), 12)
    assert tx == ash.encode_ack(1) and ev == [(ash_host.EV_DATA, b"z")]
    # The same frame again (a retransmission): re-acked, not delivered twice.
    tx, ev = h.feed(ash.encode_data(0, 0, b"z", retx=True), 13)
    assert tx == ash.encode_ack(1) and ev == ()
    # Corrupt DATA is NAKed too.
    bad = bytearray(ash.encode_data(1, 0, b"w"))
    bad[1] ^= 0x04
    tx, ev = h.feed(bytes(bad), 14)
    assert tx == ash.encode_nak(1) and ev == ()


def test_rstack_resets_counters():
    h = _up()
    h.send(b"a", 0)
    h.feed(ash.encode_ack(1), 5)
    h.feed(ash.encode_data(0, 1, b"b"), 6)
    h.send(b"c", 7)
    assert (h.tx_seq, h.rx_seq) == (2, 1) and h.out == b"c"
    tx, ev = h.feed(ash.encode_rstack(0x0B), 8)  # NCP reset (software)
    assert ev == [(ash_host.EV_RESET, 0x0B)] and tx == b""
    assert (h.tx_seq, h.rx_seq) == (0, 0) and h.out is None
    tx, _ = h.send(b"d", 9)
    assert tx == ash.encode_data(0, 0, b"d")
    # And a fresh connect() zeroes them too.
    h.feed(ash.encode_ack(1), 10)
    h.connect(11)
    h.feed(RSTACK, 12)
    assert (h.tx_seq, h.rx_seq) == (0, 0)


def test_ncp_error_frame_fails_link():
    h = _up()
    tx, ev = h.feed(ERROR51, 5)
    assert ev == [(ash_host.EV_FAILED, ("ncp_error", 0x51))] and h.state == ash_host.FAILED


def test_send_queue_bounded():
    h = _up()
    for n in range(1 + ash_host.QUEUE):
        h.send(b"q", n)
    assert raises(HubError, h.send, b"q", 9).code == "busy"
    assert raises(HubError, h.send, b"", 9).code == "too_large"
