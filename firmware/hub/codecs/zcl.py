"""A minimal ZCL codec: the foundation header and the few global commands a
cluster server needs (read attributes and its response, report attributes,
default response). ZCL Specification (07-5123) section 2.4; checked against
zigpy's `zigpy.zcl.foundation` in the tests.

    header = frame control | [manufacturer code u16] | seq | command id
"""

import struct

from hub.errors import HubError

# Frame control bits.
FC_CLUSTER = 0x01  # frame type: cluster-specific (else global / profile-wide)
FC_MANUFACTURER = 0x04
FC_TO_CLIENT = 0x08  # direction: server to client
FC_NO_DEFAULT_RSP = 0x10

# Global commands.
READ_ATTRIBUTES = 0x00
READ_ATTRIBUTES_RSP = 0x01
REPORT_ATTRIBUTES = 0x0A
DEFAULT_RSP = 0x0B

# Statuses.
SUCCESS = 0x00
UNSUP_CLUSTER_COMMAND = 0x81
UNSUP_GENERAL_COMMAND = 0x82
UNSUPPORTED_ATTRIBUTE = 0x86
MALFORMED_COMMAND = 0x80

# Data types with fixed sizes: type id -> struct format.
_FIXED = {0x10: "B", 0x18: "B", 0x19: "<H", 0x1B: "<I", 0x20: "B", 0x21: "<H", 0x23: "<I",
          0x28: "b", 0x29: "<h", 0x2B: "<i", 0x30: "B", 0x31: "<H", 0xE2: "<I"}
T_BOOL, T_MAP8, T_U8, T_U16, T_U32, T_I32, T_ENUM8, T_STRING, T_UTC = 0x10, 0x18, 0x20, 0x21, 0x23, 0x2B, 0x30, 0x42, 0xE2
T_OCTETS = 0x41


def _int_size(dtype):
    """(size, signed) of the integer types struct has no format for (uint24..uint64, int24..int64,
    data/bitmap 8..64), or None. Metering's summations are uint48, its demand int24."""
    if 0x08 <= dtype <= 0x0F or 0x18 <= dtype <= 0x1F or 0x20 <= dtype <= 0x27:
        return (dtype & 7) + 1, False
    if 0x28 <= dtype <= 0x2F:
        return (dtype & 7) + 1, True
    return None


class Header:
    """A decoded foundation header; `size` is where the command's payload starts."""

    def __init__(self, fc, seq, cmd, manufacturer=None, size=3):
        self.fc = fc
        self.seq = seq
        self.cmd = cmd
        self.manufacturer = manufacturer
        self.size = size

    @property
    def is_global(self):
        return not self.fc & FC_CLUSTER

    @property
    def to_server(self):
        return not self.fc & FC_TO_CLIENT


def decode_header(data):
    """The Header of a ZCL frame; HubError("bad_frame") if it is too short."""
    if len(data) < 3:
        raise HubError("bad_frame", "ZCL frame shorter than its header")
    fc = data[0]
    if fc & FC_MANUFACTURER:
        if len(data) < 5:
            raise HubError("bad_frame", "ZCL frame shorter than its header")
        return Header(fc, data[3], data[4], data[1] | (data[2] << 8), 5)
    return Header(fc, data[1], data[2], None, 3)


def encode_header(fc, seq, cmd, manufacturer=None):
    if manufacturer is None:
        return bytes((fc & ~FC_MANUFACTURER, seq, cmd))
    return struct.pack("<BHBB", fc | FC_MANUFACTURER, manufacturer, seq, cmd)


def encode_value(dtype, value):
    """One attribute value of ZCL type `dtype` (the fixed types above, or a character string)."""
    if dtype == T_STRING:
        b = value.encode() if isinstance(value, str) else bytes(value)
        return bytes((len(b),)) + b
    fmt = _FIXED.get(dtype)
    if fmt is None:
        raise HubError("bad_args", "ZCL type 0x%02X not supported" % dtype)
    return struct.pack(fmt, value)


def decode_value(dtype, data, off):
    """(value, next offset) of a value of type `dtype` at data[off]."""
    fmt = sized = None
    if dtype == T_STRING or dtype == T_OCTETS:
        n = data[off] if off < len(data) else 0
        if n == 0xFF:
            return None, off + 1
        end = off + 1 + n
    else:
        fmt = _FIXED.get(dtype)
        if fmt is None:
            sized = _int_size(dtype)
            if sized is None:
                raise HubError("bad_frame", "ZCL type 0x%02X not supported" % dtype)
            end = off + sized[0]
        else:
            end = off + struct.calcsize(fmt)
    if end > len(data):
        raise HubError("bad_frame", "truncated ZCL value")
    if dtype == T_STRING:
        return bytes(data[off + 1:end]).decode(), end
    if dtype == T_OCTETS:
        return bytes(data[off + 1:end]), end
    if sized:
        v = int.from_bytes(bytes(data[off:end]), "little")
        if sized[1] and v >> (8 * sized[0] - 1):
            v -= 1 << (8 * sized[0])
        return v, end
    return struct.unpack_from(fmt, data, off)[0], end


def decode_read_attributes(data, off):
    """The attribute ids of a Read Attributes payload starting at data[off]."""
    if (len(data) - off) & 1:
        raise HubError("bad_frame", "odd Read Attributes payload")
    return [data[i] | (data[i + 1] << 8) for i in range(off, len(data), 2)]


def encode_read_attributes_rsp(records):
    """Read Attributes Response payload: records of (attr id, status, type, value)."""
    out = bytearray()
    for aid, status, dtype, value in records:
        out += struct.pack("<HB", aid, status)
        if status == SUCCESS:
            out.append(dtype)
            out += encode_value(dtype, value)
    return bytes(out)


def decode_attribute_records(data, off, with_status):
    """Records of a Read Attributes Response (with_status) or Report Attributes:
    a list of (attr id, status, type, value)."""
    out = []
    n = len(data)
    while off < n:
        if off + 3 > n:
            raise HubError("bad_frame", "truncated attribute record")
        aid = data[off] | (data[off + 1] << 8)
        off += 2
        status = SUCCESS
        if with_status:
            status = data[off]
            off += 1
            if status != SUCCESS:
                out.append((aid, status, None, None))
                continue
        if off >= n:
            raise HubError("bad_frame", "truncated attribute record")
        dtype = data[off]
        value, off = decode_value(dtype, data, off + 1)
        out.append((aid, status, dtype, value))
    return out


def encode_report_attributes(records):
    """Report Attributes payload: records of (attr id, type, value)."""
    out = bytearray()
    for aid, dtype, value in records:
        out += struct.pack("<HB", aid, dtype)
        out += encode_value(dtype, value)
    return bytes(out)


def encode_default_rsp(cmd, status):
    return bytes((cmd, status))
