"""Strict JSON: MicroPython's json.loads accepts truncated text; hub.codecs.loads must not."""

from hub.codecs import dumps, loads

MAX_DEPTH = 16  # the deepest nesting the hub takes (hub.codecs)
from hub.errors import HubError


def _bad(text):
    try:
        loads(text)
    except HubError as e:
        assert e.code == "bad_json", e.code
        return
    raise AssertionError("accepted %r" % (text,))


def test_complete_documents_parse():
    assert loads(b'{"a":1,"b":[1,{"c":"x"}]}') == {"a": 1, "b": [1, {"c": "x"}]}
    assert loads(b' {"v": "]}{[" } ') == {"v": "]}{["}
    assert loads(b'{"q": "a\\"}"}') == {"q": 'a"}'}
    assert loads(b"12") == 12
    assert loads(dumps({"s": "\u00e9"}).encode()) == {"s": "\u00e9"}


def test_truncated_commands_are_refused():
    whole = b'{"id":"a","cmd":"config.set","args":{"values":{"label":"x","notes":"y"}}}'
    for cut in range(1, len(whole)):
        part = whole[:cut]
        try:
            got = loads(part)
        except HubError:
            continue
        # Only a prefix that is itself a complete document may parse (none here but digits).
        raise AssertionError("prefix %r parsed as %r" % (part, got))


def test_mismatched_and_unclosed_brackets_are_refused():
    for t in (b'{"a":[1,2}', b"[1,2", b'{"a":{"b":1}', b"{", b'{"a":"x', b"]", b'{"a":1}}'):
        _bad(t)


def test_nesting_is_bounded():
    ok = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert loads(ok) is not None
    _bad(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1))


def test_invalid_utf8_and_garbage_are_refused():
    _bad(b"\xff\xfe")
    _bad(b"{nope}")
    _bad(b"")


def test_flat_objects_are_judged_like_nested_ones():
    # Flat objects take a shortcut (counted in C); each of these must still end as the scan says.
    assert loads(b'{"offset":4096,"ack":false}') == {"offset": 4096, "ack": False}
    assert loads(memoryview(b'{"offset":0}')) == {"offset": 0}
    # A long view is scanned in place, with the same verdicts.
    pad = "x" * 200
    assert loads(memoryview(('{"notes":"%s","n":1}' % pad).encode())) == {"notes": pad, "n": 1}
    for t in ('{"notes":"%s"' % pad, '{"notes":"%s"]' % pad, '{"notes":["%s"}' % pad):
        _bad(memoryview(t.encode()))
    assert loads(b'{"v":"}{"}') == {"v": "}{"}  # brackets in a string: not flat, scanned
    assert loads(b'{"q":"a\\"b"}') == {"q": 'a"b'}  # an escape: scanned
    for t in (b'{"a":"}', b'{"a":"x\\"}', b'{"a":"b}', b'{"a":1}}', b'{{"a":1}', b'{"a":[1}'):
        _bad(t)
    # Every cut of a flat command is refused, as for nested ones.
    whole = b'{"offset":131072,"ack":false}'
    for cut in range(1, len(whole)):
        try:
            got = loads(whole[:cut])
        except HubError:
            continue
        raise AssertionError("prefix %r parsed as %r" % (whole[:cut], got))


def test_is_hex():
    from hub.codecs import is_hex

    assert is_hex("0123456789abcdefABCDEF0123456789abcdef0123456789abcdef0123456789"[:64], 64)
    assert is_hex("02AFEED0E56F87ED", 16, b"0123456789ABCDEF")
    assert not is_hex("02afeed0e56f87ed", 16, b"0123456789ABCDEF")  # the digits given: uppercase only
    assert not is_hex("02AFEED0E56F87E", 16)  # length
    assert not is_hex("02AFEED0E56F87EG", 16)
    assert not is_hex(b"02AFEED0E56F87ED", 16)  # a str, not bytes
    assert not is_hex(None, 16)
    assert not is_hex("é" * 8, 16)  # 16 bytes of UTF-8, 8 characters
