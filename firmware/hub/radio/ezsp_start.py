"""Starting an EZSP host (hub.radio.ezsp): bring the ASH link up and negotiate
the protocol version with the NCP (protocol-facts.md, "EZSP"): `version(4)` in a
legacy frame first, then the NCP's own version (v8 to v13) in an extended frame.
Loaded only while the HAN starts (hub.services.han_up) and dropped after.
"""

from micropython import const

from hub.errors import HubError

_VERSION = const(0x0000)
_MIN_VERSION = const(8)
_MAX_VERSION = const(13)


async def start(e):
    """Connect ASH and negotiate the EZSP version; returns it."""
    e.up = False
    e.legacy = True
    await e.link.connect()
    e.up = True
    p = await e.cmd(_VERSION, b"\x04")
    v = p[0] if len(p) else 0
    if not _MIN_VERSION <= v <= _MAX_VERSION:
        e.up = False
        raise HubError("radio_unsupported", "NCP speaks EZSP v%d; this hub supports v%d..v%d"
                       % (v, _MIN_VERSION, _MAX_VERSION))
    e.legacy = False
    p = await e.cmd(_VERSION, bytes((v,)))
    if len(p) < 4:
        e.up = False
        raise HubError("bad_frame", "short version response")
    # protocol version, stack type, stack version (nibbles: 0x6A10 is 6.10.1.0)
    v2, sv = p[0], p[2] | (p[3] << 8)
    if v2 != v:
        e.up = False
        raise HubError("radio_error", "NCP changed its EZSP version (%d then %d)" % (v, v2))
    e.version = v
    e.stack = "%d.%d.%d.%d" % (sv >> 12, (sv >> 8) & 15, (sv >> 4) & 15, sv & 15)
    return v
