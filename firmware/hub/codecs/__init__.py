"""Codecs: bytes <-> messages, no state beyond one decoder's buffers."""

import json


def dumps(obj):
    """Compact JSON (no spaces), as on the wire in PROTOCOL.md's vectors."""
    return json.dumps(obj, separators=(",", ":"))
