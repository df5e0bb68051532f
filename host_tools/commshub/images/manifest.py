"""The app manifest: what a slot holds (docs/IMAGES.md, section 2).

One piece of code makes it for both the factory flash image (slot A) and the
update images, so the hub checks both the same way.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from .. import paths

VERSION_RE = re.compile(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})$")
TEST_FAULTS = ("crash_at_start", "never_confirm", "boot_loop")


def source_version() -> str:
    """FW_VERSION as written in firmware/hub/__init__.py."""
    text = (paths.FIRMWARE / "hub" / "__init__.py").read_text()
    m = re.search(r'^FW_VERSION = "([^"]+)"', text, re.M)
    if not m:
        raise ValueError("firmware/hub/__init__.py has no FW_VERSION")
    return m.group(1)


def version_tuple(v: str) -> tuple[int, int, int]:
    m = VERSION_RE.match(v)
    if not m:
        raise ValueError(f"version must be MAJOR.MINOR.PATCH (0-255 each), got {v!r}")
    parts = tuple(int(x) for x in m.groups())
    if any(p > 255 for p in parts):
        raise ValueError(f"version parts must be 0-255, got {v!r}")
    return parts  # type: ignore[return-value]


def file_version(v: str) -> int:
    """The Zigbee OTA file version for `v`: major<<24 | minor<<16 | patch<<8."""
    a, b, c = version_tuple(v)
    return a << 24 | b << 16 | c << 8


def slot_files(app: Path) -> list[tuple[str, bytes]]:
    """(path relative to the slot root, bytes) of everything a slot holds, sorted."""
    lib = app / "lib"
    return [(p.relative_to(app).as_posix(), p.read_bytes()) for p in sorted(lib.rglob("*")) if p.is_file()]


def build_manifest(
    files: list[tuple[str, bytes]],
    *,
    version: str,
    boards: list[str],
    arch: str | None,
    min_version: str = "0.0.0",
    note: str = "",
    test_fault: str | None = None,
    built: str | None = None,
) -> dict[str, Any]:
    """The manifest for `files` (from slot_files); `built` (ISO UTC) only when given."""
    version_tuple(version)
    version_tuple(min_version)
    if test_fault is not None and test_fault not in TEST_FAULTS:
        raise ValueError(f"test fault must be one of {', '.join(TEST_FAULTS)}")
    m: dict[str, Any] = {
        "version": version,
        "min_version": min_version,
        "boards": sorted(boards),
        "arch": arch,
        "note": note,
        "files": [{"path": p, "size": len(b), "sha256": hashlib.sha256(b).hexdigest()} for p, b in files],
    }
    if test_fault:
        m["test_fault"] = test_fault
    if built is not None:
        m["built"] = built
    return m


def manifest_bytes(m: dict[str, Any]) -> bytes:
    """Canonical JSON: the same manifest always packs to the same bytes."""
    return json.dumps(m, sort_keys=True, separators=(",", ":")).encode()
