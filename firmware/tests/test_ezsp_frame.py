"""EZSP frame headers (hub.radio.ezsp.encode / decode): legacy v4 and extended v8+, as bellows builds
and parses them."""

from binascii import unhexlify

from hub.errors import HubError
from hub.radio import ash
from hub.radio import ezsp as ez
from util import raises

# Frame ids (bellows.types names).
VERSION, NETWORK_INIT, SET_POLICY, GET_VALUE = 0x0000, 0x0017, 0x0055, 0x00AA
STACK_STATUS_HANDLER, MESSAGE_SENT_HANDLER, INVALID_COMMAND = 0x0019, 0x003F, 0x0058


def test_version_command_legacy():
    assert ez.encode(0, VERSION, b"\x04", legacy=True) == unhexlify("00000004")
    # Carried in the first DATA frame this gives the protocol-facts vector.
    assert ash.encode_data(0, 0, ez.encode(0, VERSION, b"\x04", True)) == unhexlify("004221a850ed2c7e")
    # After the NCP answers 8, bellows asks again in the extended frame.
    assert ez.encode(1, VERSION, b"\x08") == unhexlify("010001000008")


def test_encode_extended_and_legacy():
    # bellows v8: [seq, 0x00, 0x01] + uint16 LE frame id + params.
    assert ez.encode(0x12, SET_POLICY, b"\x00\x03") == unhexlify("1200015500" "0003")
    assert ez.encode(0xFF, GET_VALUE) == unhexlify("ff0001aa00")
    assert ez.encode(0x101, 0x1234) == unhexlify("0100013412")  # seq wraps to 8 bits
    # bellows v4: [seq, 0x00, id8] + params.
    assert ez.encode(7, NETWORK_INIT, b"", legacy=True) == unhexlify("070017")
    assert raises(HubError, ez.encode, 0, 0x100, b"", True).code == "bad_args"


def test_decode_version_response():
    # Legacy response to version(4) from an EZSP v8 NCP: fc 0x80 (response).
    seq, cb, fid, params = ez.decode(unhexlify("008000" "08023074"), legacy=True)
    assert (seq, cb, fid, bytes(params)) == (0, False, VERSION, unhexlify("08023074"))
    # Extended response.
    seq, cb, fid, params = ez.decode(unhexlify("01800100000d02a070"))
    assert (seq, cb, fid, bytes(params)) == (1, False, VERSION, unhexlify("0d02a070"))


def test_decode_callbacks():
    # stackStatusHandler(NETWORK_UP 0x90) as an asynchronous callback (fc 0x90).
    seq, cb, fid, params = ez.decode(unhexlify("05900119009" "0"))
    assert (seq, cb, fid, bytes(params)) == (5, True, STACK_STATUS_HANDLER, b"\x90")
    # Synchronous callback (fc 0x88) in a legacy frame.
    seq, cb, fid, params = ez.decode(unhexlify("03883f00"), legacy=True)
    assert (seq, cb, fid, bytes(params)) == (3, True, MESSAGE_SENT_HANDLER, b"\x00")
    # A plain response with the callback-pending bit (0x04) is not itself a callback.
    seq, cb, fid, params = ez.decode(unhexlify("0984015800"))
    assert (cb, fid, bytes(params)) == (False, INVALID_COMMAND, b"")
    assert ez.decode(unhexlify("0a80012301ff"))[2:3] == (0x0123,)


def test_decode_short_frames():
    for f in (b"", b"\x00\x80", b"\x00\x80\x01\x00"):
        assert raises(HubError, ez.decode, f).code == "bad_frame"
    assert raises(HubError, ez.decode, b"\x00\x80", True).code == "bad_frame"
    seq, cb, fid, params = ez.decode(b"\x00\x80\x00", legacy=True)
    assert len(params) == 0


def test_round_trip_ids():
    ids = (0x00, 0x02, 0x17, 0x18, 0x19, 0x1E, 0x1F, 0x22, 0x24, 0x26, 0x27, 0x28,
           0x34, 0x3F, 0x45, 0x52, 0x53, 0x55, 0x58, 0x68, 0xAA, 0xAB, 0x0111)
    for n, fid in enumerate(ids):
        for legacy in (False, True) if fid <= 0xFF else (False,):
            f = ez.encode(n, fid, b"p", legacy)
            assert ez.decode(f, legacy)[0] == n
            assert ez.decode(f, legacy)[2] == fid
            assert bytes(ez.decode(f, legacy)[3]) == b"p"
