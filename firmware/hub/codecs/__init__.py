"""Codecs: bytes <-> messages, no state beyond one decoder's buffers."""

# A slot stores the modules of every subpackage in one directory, hub/m (fewer littlefs
# directories: docs/IMAGES.md, section 3); in the source tree this is a normal package.
__path__ = globals().get("__path__") or __file__[:__file__.rfind("/")] + "/m"

import json

from hub.errors import HubError
from micropython import const

_MAX_DEPTH = const(16)
_SHORT = const(96)  # loads: args this short are copied to be judged by C counts


def is_hex(s, n, hexs=b"0123456789abcdefABCDEF"):
    """True when `s` is a str of `n` characters from `hexs` (hex digits).

    Checked on its bytes: iterating a str makes a str of each character, and
    MicroPython interns those for good (a hub ID alone made 16 names, on a
    100 KiB heap where the next piece of the name table takes 4.5 KB).
    """
    if not isinstance(s, str) or len(s) != n:
        return False
    for c in s.encode():
        if c not in hexs:
            return False
    return True


def dumps(obj):
    """Compact JSON (no spaces), as on the wire in PROTOCOL.md's vectors."""
    return json.dumps(obj, separators=(",", ":"))


def _complete(b):
    """True when every bracket outside strings is closed by its own kind.

    MicroPython's json.loads takes the end of the text as closing every open
    container (`{"a":1,` parses as {"a": 1}) and does not match bracket kinds,
    so a truncated command would run as a partial one. This scan refuses that.
    """
    stack = bytearray(_MAX_DEPTH)
    depth = 0
    in_str = False
    esc = False
    for c in b:
        if in_str:
            if esc:
                esc = False
            elif c == 92:  # backslash
                esc = True
            elif c == 34:  # quote
                in_str = False
        elif c == 34:
            in_str = True
        elif c == 123 or c == 91:  # { [
            if depth == _MAX_DEPTH:
                return False
            stack[depth] = c
            depth += 1
        elif c == 125 or c == 93:  # } ]
            if depth == 0 or stack[depth - 1] != c - 2:  # '{'+2 == '}', '['+2 == ']'
                return False
            depth -= 1
    return depth == 0 and not in_str


def _flat(b):
    # A flat object: its one "{" first, its one "}" last, no other bracket, no
    # escape, quotes in pairs, so the "}" closes it outside any string. Most
    # commands' args are (an image block's, every block): C counts them where
    # the scan runs bytecode per byte.
    n = len(b)
    if n < 2 or b[0] != 123 or b[n - 1] != 125:
        return False
    return b.count(b"{") == 1 and b.count(b"}") == 1 and b"[" not in b and b"]" not in b and \
        b"\\" not in b and not b.count(b'"') & 1


def loads(b):
    """Strict JSON from bytes: HubError bad_json when incomplete or invalid."""
    if len(b) <= _SHORT:
        # An image block's args, every block: a short copy lets C judge a flat
        # object (_flat needs bytes' count). A long view is scanned in place:
        # its copy would need as much heap again, in one piece.
        b = bytes(b)
        ok = _flat(b) or _complete(b)
    else:
        ok = _complete(b)
    if not ok:
        raise HubError("bad_json", "JSON is incomplete, unbalanced or nested over %d deep" % _MAX_DEPTH)
    try:
        return json.loads(b)
    except MemoryError:
        raise  # not the sender's fault: the caller answers no_memory
    except Exception:  # ValueError, or UnicodeError on bad UTF-8
        raise HubError("bad_json", "payload is not valid JSON")
