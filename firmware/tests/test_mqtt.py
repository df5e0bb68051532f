"""MQTT payloads (JSON and binary envelopes), CONNECT packet, backoff bounds."""

import json

from hub.codecs import envelope, frame
from hub.links.mqtt_io import Backoff


def _code(fn, msg):
    e = fn(msg)  # the parsers return their error
    assert isinstance(e, envelope.EnvelopeError), e
    return e.code, e.cid


def test_parse_cmd_ok():
    assert envelope.parse_cmd(b'{"id":"a1","cmd":"ping","args":{"echo":1}}') == ("a1", "ping", {"echo": 1}, None)
    assert envelope.parse_cmd(b'{"id":"a1","cmd":"info"}') == ("a1", "info", {}, None)


def test_parse_cmd_errors():
    assert _code(envelope.parse_cmd, b"{not json") == ("bad_json", None)
    assert _code(envelope.parse_cmd, b"\xff\xfe") == ("bad_json", None)
    assert _code(envelope.parse_cmd, b"[1]") == ("bad_request", None)
    assert _code(envelope.parse_cmd, b'{"cmd":"ping"}') == ("bad_request", None)
    assert _code(envelope.parse_cmd, b'{"id":"","cmd":"ping"}') == ("bad_request", None)
    assert _code(envelope.parse_cmd, b'{"id":"' + b"x" * 33 + b'","cmd":"ping"}') == ("bad_request", None)
    assert _code(envelope.parse_cmd, b'{"id":7,"cmd":"ping"}') == ("bad_request", None)
    assert _code(envelope.parse_cmd, b'{"id":"q"}') == ("bad_request", "q")
    assert _code(envelope.parse_cmd, b'{"id":"q","cmd":5}') == ("bad_request", "q")


def _bin(cid, name, j=b"", data=b""):
    p = frame.encode(frame.REQUEST, 0, name, j, data)[9:-4]
    return bytes([len(cid)]) + cid + bytes(p)


def test_parse_bin_ok():
    cid, cmd, args, data = envelope.parse_bin(_bin(b"r1", b"ping", b'{"echo":2}', b"\x00\xff"))
    # The arguments stay JSON text: the registry parses them (test_control).
    assert (cid, cmd, bytes(args), bytes(data)) == ("r1", "ping", b'{"echo":2}', b"\x00\xff")
    m = envelope.parse_bin(_bin(b"r1", b"info"))
    assert (bytes(m[2]), m[3]) == (b"", None)


def test_parse_bin_garbage():
    assert _code(envelope.parse_bin, b"") == ("bad_request", None)
    assert _code(envelope.parse_bin, b"\x00ping") == ("bad_request", None)
    assert _code(envelope.parse_bin, b"\x21" + b"x" * 40) == ("bad_request", None)
    assert _code(envelope.parse_bin, b"\x09abc") == ("bad_request", None)
    assert _code(envelope.parse_bin, b"\x02id\x09ping") == ("bad_frame", "id")
    assert _code(envelope.parse_bin, b"\x02\xff\xfe\x04ping\x00\x00") == ("bad_request", None)  # id not UTF-8


def test_replies():
    r = json.loads(envelope.rsp_ok("a", "ping", {"pong": True}))
    assert r == {"id": "a", "cmd": "ping", "ok": True, "result": {"pong": True}}
    r = json.loads(envelope.rsp_err(None, None, "bad_json", "m"))
    assert r == {"id": None, "cmd": None, "ok": False, "error": {"code": "bad_json", "message": "m"}}
    b = envelope.rsp_bin("a", "ping", {"pong": True}, b"\x01\x02")
    assert b[0] == 1 and bytes(b[1:2]) == b"a"
    name, j, data = frame.decode_payload(b[2:])
    assert name == "ping" and frame.parse_json(j) == {"pong": True} and bytes(data) == b"\x01\x02"
    e = json.loads(envelope.evt("boot", 3, 1700000000, {"boot_count": 1}))
    assert e == {"event": "boot", "seq": 3, "utc": 1700000000, "boot_count": 1}


def test_backoff_bounds():
    b = Backoff()
    tops = []
    for i in range(12):
        top = b.ceiling_ms()
        tops.append(top)
        for _ in range(20):
            pass
        d = b.next_ms()
        assert 0 <= d <= top, (d, top)
    assert tops[:7] == [500, 1000, 2000, 4000, 8000, 16000, 30000] and tops[-1] == 30000
    b.reset()
    assert b.ceiling_ms() == 500
    # Full jitter: the delays spread over the whole range.
    ds = []
    for _ in range(200):
        b.attempt = 10
        ds.append(b.next_ms())
    assert min(ds) < 5000 and max(ds) > 25000


def test_connect_packet():
    from hub.links.mqtt_io import connect_packet as _connect_packet

    p = _connect_packet(b"ABCD", 60, b"t/status", b"{}")
    assert p[0] == 0x10 and p[1] == len(p) - 2
    assert p[2:9] == b"\x00\x04MQTT\x04" and p[9] == 0x2C  # will, QoS 1, retain; clean off
    assert p[10:12] == b"\x00\x3c" and p[12:18] == b"\x00\x04ABCD"
    big = _connect_packet(b"A", 5, b"t", b"x" * 200)
    assert big[1] & 0x80 and (big[1] & 0x7F) + (big[2] << 7) == len(big) - 3
