"""The GBCS firmware image file: Zigbee OTA header, MI, signature trailer.

docs/IMAGES.md, section 1. Pure parsing, no I/O: the caller reads the bytes.

    h = parse_header(first_69_bytes)
    mi_offset, mi_length, trailer_offset = layout(h)
    force_replace, sig = parse_trailer(last_66_bytes)
"""

import struct

from hub.errors import HubError

FILE_ID = 0x0BEEF11E
HEADER_VERSION = 0x0100
HEADER_MIN = 56  # without optional fields
HEADER_MAX = 69  # with all three: 56 + 1 + 8 + 4
TRAILER = 66  # force-replace 1 + signature length 1 + signature 64
SIG_LEN = 64

FC_SECURITY = 0x0001  # 1-byte security credential version
FC_DESTINATION = 0x0002  # 8-byte upgrade file destination (device specific)
FC_HW_VERSIONS = 0x0004  # 2-byte min + 2-byte max hardware version
_FC_KNOWN = FC_SECURITY | FC_DESTINATION | FC_HW_VERSIONS

_FIXED = "<IHHHHHIH32sI"  # the 56 bytes every header has


def _bad(what):
    return HubError("bad_format", what)


class Header:
    """The fields of a Zigbee OTA upgrade-file header."""

    def __init__(self):
        self.header_version = 0
        self.header_length = 0
        self.field_control = 0
        self.manufacturer = 0
        self.image_type = 0
        self.file_version = 0
        self.stack_version = 0
        self.header_string = b""
        self.total_size = 0
        self.security_version = None
        self.destination = None
        self.hw_min = None
        self.hw_max = None


def header_length_for(field_control):
    """The header length the field control announces."""
    n = HEADER_MIN
    if field_control & FC_SECURITY:
        n += 1
    if field_control & FC_DESTINATION:
        n += 8
    if field_control & FC_HW_VERSIONS:
        n += 4
    return n


def parse_header(buf):
    """Header from the first min(file size, HEADER_MAX) bytes of an image.

    HubError bad_format on a wrong file id or header version, reserved field
    control bits, a header length that does not match the field control, a
    buffer shorter than the header, or a total size too small to hold the
    header, a Manufacturer Image of at least one byte and the trailer.
    """
    if len(buf) < HEADER_MIN:
        raise _bad("image shorter than the %d-byte OTA header" % HEADER_MIN)
    (fid, hver, hlen, fc, manuf, itype, fver, stack, hstr, total) = struct.unpack_from(_FIXED, buf, 0)
    if fid != FILE_ID:
        raise _bad("not an OTA upgrade file (file id 0x%08X)" % fid)
    if hver != HEADER_VERSION:
        raise _bad("unsupported OTA header version 0x%04X" % hver)
    if fc & ~_FC_KNOWN:
        raise _bad("reserved field control bits set (0x%04X)" % fc)
    if hlen != header_length_for(fc):
        raise _bad("header length %d does not match field control 0x%04X" % (hlen, fc))
    if len(buf) < hlen:
        raise _bad("image shorter than its %d-byte header" % hlen)
    if total < hlen + TRAILER + 1:
        raise _bad("total size %d too small for header %d, image and %d-byte trailer" % (total, hlen, TRAILER))
    h = Header()
    h.header_version = hver
    h.header_length = hlen
    h.field_control = fc
    h.manufacturer = manuf
    h.image_type = itype
    h.file_version = fver
    h.stack_version = stack
    end = len(hstr)
    while end and hstr[end - 1] == 0:
        end -= 1
    h.header_string = bytes(hstr[:end])
    h.total_size = total
    off = HEADER_MIN
    if fc & FC_SECURITY:
        h.security_version = buf[off]
        off += 1
    if fc & FC_DESTINATION:
        h.destination = bytes(buf[off:off + 8])
        off += 8
    if fc & FC_HW_VERSIONS:
        h.hw_min, h.hw_max = struct.unpack_from("<HH", buf, off)
    return h


def layout(header):
    """(mi_offset, mi_length, trailer_offset) of the image `header` describes."""
    mi_offset = header.header_length
    trailer_offset = header.total_size - TRAILER
    mi_length = trailer_offset - mi_offset
    if mi_length <= 0:
        raise _bad("no room for a Manufacturer Image")
    return mi_offset, mi_length, trailer_offset


def parse_trailer(buf):
    """(force_replace, signature) from the last TRAILER bytes of an image."""
    if len(buf) != TRAILER:
        raise _bad("trailer is %d bytes, not %d" % (len(buf), TRAILER))
    if buf[1] != SIG_LEN:
        raise _bad("signature length %d, not %d" % (buf[1], SIG_LEN))
    if buf[0] not in (0, 1):
        raise _bad("force-replace flag 0x%02X is not 0 or 1" % buf[0])
    return buf[0], bytes(buf[2:])


def version_str(file_version):
    """"major.minor.patch" of a file version (major<<24 | minor<<16 | patch<<8 | build)."""
    return "%d.%d.%d" % ((file_version >> 24) & 0xFF, (file_version >> 16) & 0xFF, (file_version >> 8) & 0xFF)


def file_version(version):
    """The file version of "major.minor.patch" (build 0); bad_format if malformed."""
    parts = version.split(".") if isinstance(version, str) else ()
    if len(parts) != 3:
        raise _bad("version %r is not MAJOR.MINOR.PATCH" % (version,))
    v = 0
    for p in parts:
        if not (1 <= len(p) <= 3) or not p.isdigit() or int(p) > 255:
            raise _bad("version %r is not MAJOR.MINOR.PATCH (0-255 each)" % (version,))
        v = v << 8 | int(p)
    return v << 8
