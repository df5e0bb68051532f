"""Hub firmware images: the app bundle wrapped in a signed GBCS image.

    data = build_hub_image("emulator", version="0.2.0")   # signed with the dev key
    img = gbcs.parse_image(data); img.mi_hash              # what image.activate takes
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from . import bundle, gbcs, keys
from .manifest import file_version, source_version

# The values a hub accepts unless provisioned otherwise (docs/IMAGES.md).
DEFAULT_MANUFACTURER = 0x1234
DEFAULT_IMAGE_TYPE = 0x0001


def header_string(version: str, board: str) -> str:
    """The 32-byte OTA header string of a hub image: `commshub <version> <board>`, cut to fit."""
    return f"commshub {version} {board}".encode()[:32].decode("utf-8", "ignore")


def build_hub_image(board: str, *, version: str | None = None, boards: Sequence[str] | None = None,
                    min_version: str = "0.0.0", note: str = "", test_fault: str | None = None,
                    key: keys.PrivateKey | None = None, signed: bool = True,
                    manufacturer: int = DEFAULT_MANUFACTURER, image_type: int = DEFAULT_IMAGE_TYPE,
                    force_replace: bool = False, built: str | None = None,
                    firmware: Path | None = None) -> bytes:
    """A complete hub image file for `board`.

    Signed with `key`, or with the development key when `key` is None;
    `signed=False` leaves the signature zero (sign it later with `gbcs.sign`).
    The other options are those of `bundle.build_bundle`.
    """
    version = version or source_version()
    mi = bundle.build_bundle(board, version=version, boards=boards, min_version=min_version, note=note,
                             test_fault=test_fault, built=built, firmware=firmware)
    signer = (key or keys.dev_key()) if signed else None
    return gbcs.build_image(mi, manufacturer=manufacturer, image_type=image_type,
                            file_version=file_version(version), header_string=header_string(version, board),
                            force_replace=force_replace, key=signer)


@dataclass(frozen=True)
class Inspection:
    """What `commshub image inspect` shows: the GBCS image and, for a hub image, its bundle."""

    image: gbcs.GbcsImage
    bundle: bundle.Bundle | None
    bundle_error: str | None

    @property
    def is_hub_image(self) -> bool:
        return self.bundle is not None


def inspect(data: bytes) -> Inspection:
    """Parse an image file; a malformed bundle inside is reported, not raised (the DCC sample has none)."""
    img = gbcs.parse_image(data)
    if not bundle.is_bundle(img.mi):
        return Inspection(img, None, None)
    try:
        return Inspection(img, bundle.unpack(img.mi), None)
    except bundle.BundleError as e:
        return Inspection(img, None, str(e))
