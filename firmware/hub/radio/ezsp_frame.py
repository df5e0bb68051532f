"""EZSP frame headers (docs: protocol-facts.md, "EZSP"; bellows ezsp/v4, v8).

    legacy (v4 to v7, and the first `version` of every start-up):
        seq | fc | id8 | params
    extended (v8 and later):
        seq | fc_lo | fc_hi | id_lo | id_hi | params

fc (fc_lo): bit 7 response (NCP to host), bits 4..3 callback type (0 none,
1 synchronous, 2 asynchronous), bit 2 callback pending, bit 1 truncated,
bit 0 overflow. fc_hi carries the frame format version, 1.
"""

import struct

from hub.errors import HubError

# Key frame IDs.
VERSION = 0x0000
ADD_ENDPOINT = 0x0002
NETWORK_INIT = 0x0017
NETWORK_STATE = 0x0018
STACK_STATUS_HANDLER = 0x0019
FORM_NETWORK = 0x001E
JOIN_NETWORK = 0x001F
PERMIT_JOINING = 0x0022
TRUST_CENTER_JOIN_HANDLER = 0x0024
GET_EUI64 = 0x0026
GET_NODE_ID = 0x0027
GET_NETWORK_PARAMETERS = 0x0028
SEND_UNICAST = 0x0034
MESSAGE_SENT_HANDLER = 0x003F
INCOMING_MESSAGE_HANDLER = 0x0045
GET_CONFIGURATION_VALUE = 0x0052
SET_CONFIGURATION_VALUE = 0x0053
SET_POLICY = 0x0055
INVALID_COMMAND = 0x0058
SET_INITIAL_SECURITY_STATE = 0x0068
GET_VALUE = 0x00AA
SET_VALUE = 0x00AB

# Frame control bits.
FC_RESPONSE = 0x80
FC_CALLBACK_MASK = 0x18
FC_CALLBACK_PENDING = 0x04
FC_TRUNCATED = 0x02
FC_OVERFLOW = 0x01
FC_HI_FORMAT = 0x01

LEGACY_VERSION = 4  # the protocol version asked for in the first `version`
FIRST_EXTENDED = 8  # protocol versions from here on use the extended header


def header_size(legacy):
    return 3 if legacy else 5


def encode(seq, frame_id, params=b"", legacy=False):
    """A host-to-NCP command frame as bytes."""
    n = len(params)
    if legacy:
        if frame_id > 0xFF:
            raise HubError("bad_args", "legacy frame id is 8-bit")
        out = bytearray(3 + n)
        out[0] = seq & 0xFF
        out[2] = frame_id
        out[3:] = params
    else:
        out = bytearray(5 + n)
        struct.pack_into("<BBBH", out, 0, seq & 0xFF, 0, FC_HI_FORMAT, frame_id)
        out[5:] = params
    return bytes(out)


def decode(frame, legacy=False):
    """Split an NCP-to-host frame: (seq, is_callback, frame_id, params).

    params is a memoryview into frame. Raises HubError("bad_frame") if the
    frame is shorter than its header.
    """
    h = header_size(legacy)
    if len(frame) < h:
        raise HubError("bad_frame", "EZSP frame shorter than its header")
    fc = frame[1]
    if legacy:
        fid = frame[2]
    else:
        fid = frame[3] | (frame[4] << 8)
    return frame[0], (fc & FC_CALLBACK_MASK) != 0, fid, memoryview(frame)[h:]


def frame_control(frame):
    """The low frame-control byte (overflow, truncated, pending bits)."""
    return frame[1]


def encode_version(seq=0, desired=LEGACY_VERSION, legacy=True):
    """`version(desired)`; legacy seq 0, v4 gives 00 00 00 04."""
    return encode(seq, VERSION, bytes((desired,)), legacy)


def parse_version(params):
    """`version` response params: (protocol version, stack type, stack version)."""
    if len(params) < 4:
        raise HubError("bad_frame", "short version response")
    return params[0], params[1], params[2] | (params[3] << 8)


def stack_version_str(v):
    """Stack version nibbles as text: 0x6A10 -> "6.10.1.0"."""
    return "%d.%d.%d.%d" % (v >> 12, (v >> 8) & 15, (v >> 4) & 15, v & 15)
