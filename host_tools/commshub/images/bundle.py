"""The hub's Manufacturer Image: an app bundle (docs/IMAGES.md, section 2).

    b"CHAB" | format 1 (u8) | manifest length (u32 LE) | manifest JSON | file 1 .. file N

Streamable: the hub unpacks it reading once, front to back. The files are the
compiled slot tree `fsimage.build_app()` makes (the same tree the factory image
puts in slot A) and the manifest comes from `manifest.build_manifest`, so a
slot written from an image and a factory slot are checked the same way.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .. import boards as boards_mod
from .manifest import build_manifest, manifest_bytes, slot_files, source_version, version_tuple

MAGIC = b"CHAB"
FORMAT = 1
_HEAD = struct.Struct("<4sBI")


class BundleError(ValueError):
    """The bytes are not a well-formed app bundle; the message says what is wrong."""


@dataclass(frozen=True)
class Bundle:
    """An unpacked app bundle: its manifest and its files (slot-relative path, bytes), in order."""

    manifest: dict[str, Any]
    files: list[tuple[str, bytes]]

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def boards(self) -> list[str]:
        return list(self.manifest.get("boards", []))

    @property
    def size(self) -> int:
        """Bytes the files take in a slot (manifest.json aside)."""
        return sum(len(d) for _, d in self.files)


def is_bundle(data: bytes) -> bool:
    """True when `data` (an MI) starts like an app bundle."""
    return data[:4] == MAGIC


def pack(manifest: dict[str, Any], files: Sequence[tuple[str, bytes]]) -> bytes:
    """The bundle bytes for `manifest` and `files`; they must be what the manifest lists."""
    listed = [(f["path"], f["size"], f["sha256"]) for f in manifest["files"]]
    held = [(p, len(d), hashlib.sha256(d).hexdigest()) for p, d in files]
    if listed != held:
        raise BundleError("the files do not match the manifest's list (path, size, sha256, order)")
    body = manifest_bytes(manifest)
    return _HEAD.pack(MAGIC, FORMAT, len(body)) + body + b"".join(d for _, d in files)


def utc_now_iso() -> str:
    """Build time for the manifest: `SOURCE_DATE_EPOCH` when set (reproducible builds), else now."""
    t = int(os.environ.get("SOURCE_DATE_EPOCH") or time.time())
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def build_bundle(board: str, *, version: str | None = None, boards: Sequence[str] | None = None,
                 min_version: str = "0.0.0", note: str = "", test_fault: str | None = None,
                 built: str | None = None, firmware: Path | None = None) -> bytes:
    """Compile the firmware for `board` and pack it as an app bundle.

    `version` defaults to FW_VERSION in firmware/hub/__init__.py (the hub
    reports the version of the slot manifest it runs, so `version="0.2.0"` of
    the same code runs as 0.2.0). `boards` (default `[board]`) may name other
    boards only when the firmware compiles to identical bytes for them (no
    native code); then `arch` is null unless all share one. `test_fault` is for
    HIL test builds only.
    """
    from ..emulator.fsimage import build_app

    names = list(dict.fromkeys([board, *(boards or [])]))
    described = [boards_mod.load(n) for n in names]
    files = slot_files(build_app(described[0], firmware))
    for other in described[1:]:
        if slot_files(build_app(other, firmware)) != files:
            raise BundleError(f"the firmware compiles differently for {other.name} ({other.mpy_arch}, "
                              f"-O{other.mpy_opt}) than for {board} ({described[0].mpy_arch}, "
                              f"-O{described[0].mpy_opt}): build one image per board")
    arches = {b.mpy_arch for b in described}
    manifest = build_manifest(files, version=version or source_version(), boards=names,
                              arch=arches.pop() if len(arches) == 1 else None, min_version=min_version,
                              note=note, test_fault=test_fault, built=built or utc_now_iso())
    return pack(manifest, files)


def unpack(data: bytes) -> Bundle:
    """Parse and check a bundle: layout, manifest fields, paths, sizes and every file's hash."""
    data = bytes(data)
    if len(data) < _HEAD.size:
        raise BundleError(f"{len(data)} bytes is too short for a bundle header ({_HEAD.size} bytes)")
    magic, fmt, mlen = _HEAD.unpack_from(data)
    if magic != MAGIC:
        raise BundleError(f"magic is {magic!r}, expected {MAGIC!r}: not a commshub app bundle")
    if fmt != FORMAT:
        raise BundleError(f"bundle format {fmt}; this tool reads format {FORMAT}")
    end = _HEAD.size + mlen
    if end > len(data):
        raise BundleError(f"manifest length {mlen} runs past the end of the bundle ({len(data)} bytes)")
    try:
        manifest = json.loads(data[_HEAD.size:end].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise BundleError(f"manifest is not UTF-8 JSON: {e}") from e
    entries = check_manifest(manifest)
    files: list[tuple[str, bytes]] = []
    pos = end
    for entry in entries:
        blob = data[pos:pos + entry["size"]]
        if len(blob) != entry["size"]:
            raise BundleError(f"{entry['path']}: bundle ends {entry['size'] - len(blob)} bytes early")
        if hashlib.sha256(blob).hexdigest() != entry["sha256"]:
            raise BundleError(f"{entry['path']}: sha256 does not match the manifest")
        files.append((entry["path"], blob))
        pos += entry["size"]
    if pos != len(data):
        raise BundleError(f"{len(data) - pos} bytes after the last file listed in the manifest")
    return Bundle(manifest=manifest, files=files)


def check_manifest(manifest: Any) -> list[dict[str, Any]]:
    """Check a manifest's fields (IMAGES.md section 2); returns its file entries."""
    if not isinstance(manifest, dict):
        raise BundleError("manifest is not a JSON object")
    for key in ("version", "boards", "files"):
        if key not in manifest:
            raise BundleError(f"manifest has no {key!r}")
    try:
        version_tuple(str(manifest["version"]))
        version_tuple(str(manifest.get("min_version", "0.0.0")))
    except ValueError as e:
        raise BundleError(f"manifest: {e}") from e
    if not isinstance(manifest["boards"], list) or not all(isinstance(b, str) for b in manifest["boards"]):
        raise BundleError("manifest 'boards' must be a list of board names")
    entries = manifest["files"]
    if not isinstance(entries, list):
        raise BundleError("manifest 'files' must be a list")
    seen: set[str] = set()
    for e in entries:
        if not (isinstance(e, dict) and isinstance(e.get("path"), str) and isinstance(e.get("size"), int)
                and isinstance(e.get("sha256"), str)):
            raise BundleError(f"manifest file entry {e!r} needs path (str), size (int), sha256 (str)")
        p = e["path"]
        if not p or p.startswith("/") or ".." in p.split("/") or p in seen or e["size"] < 0:
            raise BundleError(f"manifest file path {p!r} is empty, absolute, has '..', repeats, or has a bad size")
        seen.add(p)
    return entries
