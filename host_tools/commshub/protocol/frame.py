"""Serial frames: encoder and an incremental decoder that resynchronises.

The layout is in docs/PROTOCOL.md. The decoder hands back frames, console text
(bytes outside frames: on a real board frames share the console UART) and
frame-level errors it can attribute to a sequence number.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any, Union

SYNC = b"\xa5\x5a"
REQUEST, RESPONSE, ERROR, EVENT = 1, 2, 3, 4
KINDS = {REQUEST: "request", RESPONSE: "response", ERROR: "error", EVENT: "event"}
MAX_PAYLOAD = 4096
HEADER = 9  # sync(2) kind(1) seq(2) len(2) hcrc(2)
OVERHEAD = HEADER + 4

_HDR = struct.Struct("<BHH")


@dataclass
class Frame:
    """One decoded frame; `body` is the parsed JSON part."""

    kind: int
    seq: int
    name: str
    body: Any = field(default_factory=dict)
    data: bytes = b""


@dataclass
class Dropped:
    """A frame the decoder rejected; `seq` is set when its header was trustworthy."""

    reason: str  # bad_hcrc, bad_crc, too_large, bad_frame
    seq: int | None = None


@dataclass
class Console:
    """Bytes that were not part of any frame."""

    text: bytes


Item = Union[Frame, Dropped, Console]


def encode_payload(name: str, body: Any = None, data: bytes = b"", prefix: bytes = b"") -> bytes:
    """Payload: nlen, name, jlen, JSON, data; after `prefix` (an MQTT envelope's id), in one copy.

    `body` given as bytes is JSON text already (an image push formats each block's own).
    """
    nb = name.encode()
    if len(nb) > 255:
        raise ValueError("name longer than 255 bytes")
    js = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
    return b"".join((prefix, bytes((len(nb),)), nb, struct.pack("<H", len(js)), js, data))


def decode_payload(payload: bytes) -> tuple[str, Any, bytes]:
    """Inverse of encode_payload; raises ValueError on a malformed payload."""
    if len(payload) < 3:
        raise ValueError("payload too short")
    nlen = payload[0]
    if 1 + nlen + 2 > len(payload):
        raise ValueError("name runs past the payload")
    name = payload[1 : 1 + nlen].decode()
    (jlen,) = struct.unpack_from("<H", payload, 1 + nlen)
    start = 3 + nlen
    if start + jlen > len(payload):
        raise ValueError("JSON runs past the payload")
    body = json.loads(payload[start : start + jlen]) if jlen else {}
    return name, body, bytes(payload[start + jlen :])


def encode_raw(kind: int, seq: int, payload: bytes) -> bytes:
    """A whole frame around an already-built payload."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    hdr = _HDR.pack(kind, seq & 0xFFFF, len(payload))
    hdr += struct.pack("<H", zlib.crc32(hdr) & 0xFFFF)
    body = hdr + payload
    return SYNC + body + struct.pack("<I", zlib.crc32(body))


def encode(kind: int, seq: int, name: str, body: Any = None, data: bytes = b"") -> bytes:
    """Encode one frame."""
    return encode_raw(kind, seq, encode_payload(name, body, data))


class Decoder:
    """Feed bytes in any chunking; get frames, console text and drops out."""

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self.max_payload = max_payload
        self._buf = bytearray()
        self._skip = 0  # bytes of an oversize frame still to discard

    def reset(self) -> None:
        """Forget a partial frame (the link went quiet mid-frame)."""
        self._buf.clear()

    @property
    def pending(self) -> int:
        return len(self._buf)

    def feed(self, chunk: bytes) -> list[Item]:
        out: list[Item] = []
        if self._skip:
            n = min(self._skip, len(chunk))
            self._skip -= n
            chunk = chunk[n:]
        self._buf += chunk
        buf = self._buf
        while buf:
            i = buf.find(SYNC)
            if i < 0:
                # Keep a trailing 0xA5: it may be the first half of a sync.
                keep = 1 if buf[-1] == SYNC[0] else 0
                if len(buf) > keep:
                    out.append(Console(bytes(buf[: len(buf) - keep])))
                    del buf[: len(buf) - keep]
                break
            if i:
                out.append(Console(bytes(buf[:i])))
                del buf[:i]
            if len(buf) < HEADER:
                break
            kind, seq, length = _HDR.unpack_from(buf, 2)
            (hcrc,) = struct.unpack_from("<H", buf, 7)
            if zlib.crc32(bytes(buf[2:7])) & 0xFFFF != hcrc:
                out.append(Dropped("bad_hcrc"))
                out.append(Console(bytes(buf[:1])))
                del buf[:1]
                continue
            if length > self.max_payload:
                out.append(Dropped("too_large", seq))
                rest = len(buf) - HEADER
                need = length + 4
                if rest >= need:
                    del buf[: HEADER + need]
                else:
                    self._skip = need - rest
                    buf.clear()
                continue
            total = HEADER + length + 4
            if len(buf) < total:
                break
            (crc,) = struct.unpack_from("<I", buf, HEADER + length)
            if zlib.crc32(bytes(buf[2 : HEADER + length])) != crc:
                # Often a frame cut short (the sender lost power) with the next
                # frame run into it: rescan from just past this sync, not past `len`.
                out.append(Dropped("bad_crc", seq))
                del buf[:1]
                continue
            payload = bytes(buf[HEADER : HEADER + length])
            del buf[:total]
            try:
                name, body, data = decode_payload(payload)
            except (ValueError, UnicodeDecodeError):
                out.append(Dropped("bad_frame", seq))
                continue
            out.append(Frame(kind, seq, name, body, data))
        return out
