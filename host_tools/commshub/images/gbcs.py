"""GBCS firmware image files (docs/IMAGES.md, section 1).

    Zigbee OTA header | Manufacturer Image (MI) | force-replace | 0x40 | r || s

The header is built and read with zigpy's `OTAImageHeader`, so its layout is
zigpy's (and the Zigbee OTA spec's) by construction; a plain `struct` read of
the fixed fields cross-checks it. The signature is ECDSA P-256 / SHA-256 over
the MI alone, stored raw (32-byte r, 32-byte s). The MI's SHA-256 (the
Manufacturer Image Hash) names the image everywhere.

An *unsigned* image carries 64 zero bytes where the signature goes; `sign()`
fills them in (or replaces an existing signature).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from zigpy.ota.image import FieldControl, HeaderString, OTAImageHeader

OTA_FILE_ID = 0x0BEEF11E
HEADER_VERSION = 0x0100
# Zigbee PRO, as in the DCC sample image.
STACK_VERSION = 0x0002
SIG_LEN = 0x40
# force-replace flag + signature length + signature
TRAILER_LEN = 2 + SIG_LEN
UNSIGNED = bytes(SIG_LEN)
# The fixed part of the OTA header (before the optional fields).
_FIXED = struct.Struct("<IHHHHHIH32sI")


class ImageFormatError(ValueError):
    """The bytes are not a well-formed GBCS image; the message says what is wrong."""


@dataclass(frozen=True)
class GbcsImage:
    """A parsed GBCS image. `raw` is the whole file; every other field is a view of it."""

    raw: bytes
    header: OTAImageHeader
    mi: bytes
    force_replace: bool
    signature: bytes

    @property
    def header_length(self) -> int:
        return int(self.header.header_length)

    @property
    def manufacturer(self) -> int:
        return int(self.header.manufacturer_id)

    @property
    def image_type(self) -> int:
        return int(self.header.image_type)

    @property
    def file_version(self) -> int:
        return int(self.header.file_version)

    @property
    def stack_version(self) -> int:
        return int(self.header.stack_version)

    @property
    def header_string(self) -> str:
        """The header string without its NUL padding (undecodable bytes shown as U+FFFD)."""
        return bytes(self.header.header_string).rstrip(b"\0").decode("utf-8", "replace")

    @property
    def total_size(self) -> int:
        return int(self.header.image_size)

    @property
    def hw_versions(self) -> tuple[int, int] | None:
        """(min, max) hardware version when the header carries them."""
        if not self.header.hardware_versions_present:
            return None
        return int(self.header.minimum_hardware_version), int(self.header.maximum_hardware_version)

    @property
    def mi_hash(self) -> str:
        """The Manufacturer Image Hash: SHA-256 of the MI, 64 lowercase hex digits."""
        return hashlib.sha256(self.mi).hexdigest()

    @property
    def file_hash(self) -> str:
        """SHA-256 of the whole file (what `image.offer` carries)."""
        return hashlib.sha256(self.raw).hexdigest()

    @property
    def signed(self) -> bool:
        return self.signature != UNSIGNED

    @property
    def version_text(self) -> str:
        """The file version as MAJOR.MINOR.PATCH[.BUILD] (IMAGES.md's encoding)."""
        v = self.file_version
        parts = [v >> 24 & 0xFF, v >> 16 & 0xFF, v >> 8 & 0xFF]
        text = ".".join(str(p) for p in parts)
        return text if v & 0xFF == 0 else f"{text}.{v & 0xFF}"


def build_header(*, manufacturer: int, image_type: int, file_version: int, header_string: str | bytes,
                 mi_len: int, hw_versions: tuple[int, int] | None = None,
                 stack_version: int = STACK_VERSION) -> bytes:
    """The OTA header for an MI of `mi_len` bytes, serialised by zigpy."""
    for name, value, bits in (("manufacturer", manufacturer, 16), ("image_type", image_type, 16),
                              ("file_version", file_version, 32), ("stack_version", stack_version, 16)):
        if not 0 <= value < 1 << bits:
            raise ValueError(f"{name} must fit in {bits} bits, got {value!r}")
    text = header_string.encode("utf-8") if isinstance(header_string, str) else bytes(header_string)
    if len(text) > HeaderString._size:
        raise ValueError(f"header string is {len(text)} bytes; at most {HeaderString._size} fit")
    fields = dict(upgrade_file_id=OTA_FILE_ID, header_version=HEADER_VERSION, header_length=0,
                  field_control=FieldControl(0), manufacturer_id=manufacturer, image_type=image_type,
                  file_version=file_version, stack_version=stack_version,
                  header_string=HeaderString(text.ljust(HeaderString._size, b"\0")), image_size=0)
    if hw_versions is not None:
        lo, hi = hw_versions
        if not (0 <= lo <= hi < 1 << 16):
            raise ValueError(f"hardware versions must be 0 <= min <= max < 0x10000, got {hw_versions!r}")
        fields.update(field_control=FieldControl.HARDWARE_VERSIONS_PRESENT,
                      minimum_hardware_version=lo, maximum_hardware_version=hi)
    header_length = len(OTAImageHeader(**fields).serialize())
    fields.update(header_length=header_length, image_size=header_length + mi_len + TRAILER_LEN)
    return OTAImageHeader(**fields).serialize()


def build_image(mi: bytes, *, manufacturer: int, image_type: int, file_version: int,
                header_string: str | bytes, hw_versions: tuple[int, int] | None = None,
                force_replace: bool = False, key: ec.EllipticCurvePrivateKey | None = None) -> bytes:
    """A complete GBCS image around `mi`; signed with `key`, or unsigned (zero signature)."""
    if not mi:
        raise ValueError("the Manufacturer Image is empty")
    header = build_header(manufacturer=manufacturer, image_type=image_type, file_version=file_version,
                          header_string=header_string, mi_len=len(mi), hw_versions=hw_versions)
    signature = sign_mi(mi, key) if key is not None else UNSIGNED
    return header + mi + bytes([1 if force_replace else 0, SIG_LEN]) + signature


def parse_image(data: bytes) -> GbcsImage:
    """Parse and check a GBCS image; raises ImageFormatError saying what is wrong."""
    data = bytes(data)
    if len(data) < _FIXED.size:
        raise ImageFormatError(f"{len(data)} bytes is too short for an OTA header ({_FIXED.size} bytes)")
    try:
        header, _rest = OTAImageHeader.deserialize(data)
    except ValueError as e:
        raise ImageFormatError(f"not a Zigbee OTA file: {e}") from e
    _cross_check(data, header)
    hlen = int(header.header_length)
    if int(header.header_version) != HEADER_VERSION:
        raise ImageFormatError(f"header version {int(header.header_version):#06x}, expected {HEADER_VERSION:#06x}")
    if int(header.image_size) != len(data):
        raise ImageFormatError(f"header says the file is {int(header.image_size)} bytes, it is {len(data)} "
                               "(truncated or padded)")
    mi_len = len(data) - hlen - TRAILER_LEN
    if mi_len <= 0:
        raise ImageFormatError(f"no room for a Manufacturer Image: {len(data)} bytes = header {hlen} "
                               f"+ trailer {TRAILER_LEN} + {mi_len}")
    flag, sig_len = data[hlen + mi_len], data[hlen + mi_len + 1]
    if flag not in (0, 1):
        raise ImageFormatError(f"force-replace flag is {flag:#04x}, must be 0x00 or 0x01")
    if sig_len != SIG_LEN:
        raise ImageFormatError(f"signature length byte is {sig_len:#04x}, must be {SIG_LEN:#04x}")
    return GbcsImage(raw=data, header=header, mi=data[hlen:hlen + mi_len], force_replace=bool(flag),
                     signature=data[-SIG_LEN:])


def _cross_check(data: bytes, header: OTAImageHeader) -> None:
    """zigpy's reading must agree with a plain struct reading and re-serialise to the same bytes."""
    fixed = _FIXED.unpack_from(data)
    ours = (int(header.upgrade_file_id), int(header.header_version), int(header.header_length),
            int(header.field_control), int(header.manufacturer_id), int(header.image_type),
            int(header.file_version), int(header.stack_version), bytes(header.header_string),
            int(header.image_size))
    if fixed != ours:
        raise ImageFormatError("zigpy's OTA header reading disagrees with the raw bytes")
    again = header.serialize()
    if len(again) != int(header.header_length) or data[:len(again)] != again:
        raise ImageFormatError(f"header length field says {int(header.header_length)} bytes but the field "
                               f"control ({int(header.field_control):#06x}) implies {len(again)}")


def sign_mi(mi: bytes, key: ec.EllipticCurvePrivateKey) -> bytes:
    """Raw r || s (64 bytes): ECDSA P-256 / SHA-256 over `mi`."""
    _check_curve(key)
    return der_to_raw(key.sign(mi, ec.ECDSA(hashes.SHA256())))


def sign(data: bytes, key: ec.EllipticCurvePrivateKey) -> bytes:
    """The image `data` (signed or not) signed with `key`; everything else unchanged."""
    img = parse_image(data)
    return img.raw[:-SIG_LEN] + sign_mi(img.mi, key)


def verify(image: bytes | GbcsImage, public_key: ec.EllipticCurvePublicKey) -> bool:
    """True when the image's signature over its MI verifies with `public_key`."""
    img = image if isinstance(image, GbcsImage) else parse_image(image)
    if not img.signed:
        return False
    _check_curve(public_key)
    try:
        public_key.verify(raw_to_der(img.signature), img.mi, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def raw_to_der(sig: bytes) -> bytes:
    """64-byte r || s -> the DER form cryptography takes."""
    if len(sig) != SIG_LEN:
        raise ValueError(f"a raw P-256 signature is {SIG_LEN} bytes, got {len(sig)}")
    return encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))


def der_to_raw(der: bytes) -> bytes:
    """DER ECDSA signature -> 64-byte r || s."""
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _check_curve(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> None:
    if not isinstance(key.curve, ec.SECP256R1):
        raise ValueError(f"GBCS images are signed with P-256 keys, this one is {key.curve.name}")
