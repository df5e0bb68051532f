"""Board descriptions (`boards/<name>.json`), shared with the firmware."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from . import paths


class UnknownBoard(ValueError):
    pass


@dataclass(frozen=True)
class Board:
    """One board description; `raw` is the JSON exactly as the firmware reads it.

    `host` is the description's host-only part (flash layout, stock MicroPython
    pin, install paths): the host tools read it, the board never gets it, so it
    costs no heap there.
    """

    name: str
    raw: dict[str, Any]
    host: dict[str, Any] = field(default_factory=dict)

    def firmware_json(self) -> bytes:
        """The bytes of `/board.json` on the board: the description minus `host`."""
        return json.dumps(self.raw, separators=(",", ":")).encode()

    @property
    def heap_bytes(self) -> int:
        return int(self.raw["heap_bytes"])

    @property
    def block_size(self) -> int:
        return int(self.raw["fs"]["block_size"])

    @property
    def block_count(self) -> int:
        return int(self.raw["fs"]["block_count"])

    @property
    def prog_size(self) -> int:
        """littlefs program size the board's port mounts its filesystem with: 256 on rp2
        (its _boot.py), VfsLfs2's default 32 on ESP32. It sets littlefs' caches (4x, up to a
        block: heap on the board) and how a written file reaches the flash."""
        return int(self.raw["fs"].get("prog_size", 32))

    @property
    def read_size(self) -> int:
        """littlefs read size the filesystem is mounted with: VfsLfs2's default 32 on the MCU
        boards' ports; 256 on the emulator board and the Raspberry Pi, whose flash is a file
        (a read of the whole filesystem's metadata, as every allocation scan and statvfs make,
        is then a third of the reads)."""
        return int(self.raw["fs"].get("read_size", 32))

    @property
    def rom_fs_arg(self) -> str:
        """The filesystem geometry as rom.py takes it: `block_size:prog_size:read_size`."""
        return f"{self.block_size}:{self.prog_size}:{self.read_size}"

    @property
    def fs_bytes(self) -> int:
        return self.block_size * self.block_count

    @property
    def baud(self) -> int:
        return int(self.raw["control"]["baud"])

    @property
    def mpy_arch(self) -> str | None:
        return self.raw.get("mpy_arch")

    @property
    def mpy_opt(self) -> int:
        """mpy-cross -O level for this board (host-only `host.mpy_opt`, default 0).

        3 drops source line numbers from the bytecode (about 6 % of the code's
        heap; tracebacks then name the module and function, line 1): for boards
        whose heap is tight."""
        return int(self.host.get("mpy_opt", 0))

    @property
    def platform(self) -> str:
        return self.raw["platform"]


def names() -> list[str]:
    """Names of every described board."""
    return sorted(p.stem for p in paths.BOARDS.glob("*.json"))


def load(name: str) -> Board:
    """Load `boards/<name>.json`; the error lists the boards there are."""
    path = paths.BOARDS / f"{name}.json"
    if not path.exists():
        raise UnknownBoard(f"unknown board {name!r}; described boards: {', '.join(names())}")
    raw = json.loads(path.read_text())
    host = raw.pop("host", {})
    return Board(name=name, raw=raw, host=host)
