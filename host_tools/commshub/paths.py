"""Where things live: the repository, its build cache and the tools setup installed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIRMWARE = REPO / "firmware"
BOARDS = REPO / "boards"
IMAGES = REPO / "images"
CACHE = REPO / ".cache"
# micropython-lib modules fetched at setup (umqtt/simple.py, ...): never committed.
MPLIB = CACHE / "mplib"
# Per-instance state of emulated boards (flash files, console logs, uart links).
EMULATORS = CACHE / "emulators"
BUILD = IMAGES / "build"


class ToolMissing(RuntimeError):
    """A tool that `make setup` provides is not there."""


def micropython() -> str:
    """Path of the MicroPython Unix-port binary the project runs firmware on.

    `COMMSHUB_MICROPYTHON` wins; otherwise the one `make setup` placed in
    `.cache/bin`. Setup decides between a user-given binary and a local build.
    """
    env = os.environ.get("COMMSHUB_MICROPYTHON")
    if env:
        return env
    local = CACHE / "bin" / "micropython"
    if local.exists():
        return str(local)
    found = shutil.which("micropython")
    if found:
        return found
    raise ToolMissing("no MicroPython binary: run `make setup` (it builds one into .cache/bin)")
