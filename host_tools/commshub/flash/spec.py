"""What flashing needs to know about a board, read from `boards/<name>.json`.

The board description's `host` part holds the flash layout and the pinned
stock MicroPython firmware; the rest (UARTs, filesystem geometry) is shared
with the firmware. This module turns both into typed values and checks they
agree (the littlefs image must fill the `vfs` partition exactly), so a typo in
a board file fails here, not half-way through a flash.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .. import boards

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class BoardSpecError(ValueError):
    """A board description lacks, or contradicts itself on, something flashing needs."""


@dataclass(frozen=True)
class Uart:
    """One UART of the board: which one, its pins (GPIO numbers) and line settings."""

    uart: int | str
    baud: int
    tx: int | None = None
    rx: int | None = None
    rts: int | None = None
    cts: int | None = None
    flow: str = "none"


@dataclass(frozen=True)
class StockFirmware:
    """The pinned stock MicroPython release the user downloads and we check."""

    version: str
    build: str
    file: str
    url: str
    sha256: str | None  # None: not pinned yet; the file's structure is still checked
    offset: int | None = None  # ESP32: flash offset of the .bin
    board_name: str | None = None  # RP2: the name the firmware reports


@dataclass(frozen=True)
class EspLayout:
    """ESP32 flash layout of the stock firmware, and esptool's flash settings."""

    chip: str
    size: str
    mode: str
    freq: str
    baud: int
    bootloader: int
    partition_table: int
    app: int
    app_size: int
    fs_offset: int
    fs_size: int


@dataclass(frozen=True)
class BoardSpec:
    """Everything `commshub flash` needs about one board."""

    board: boards.Board
    kind: str  # "esp32", "rp2" or "linux"
    console: Uart
    ncp: Uart
    firmware: StockFirmware | None
    esp: EspLayout | None
    host: dict[str, Any]

    @property
    def name(self) -> str:
        return self.board.name


def _uart(raw: dict[str, Any], what: str, name: str) -> Uart:
    if not isinstance(raw, dict) or "uart" not in raw or "baud" not in raw:
        raise BoardSpecError(f"board {name}: '{what}' needs at least 'uart' and 'baud'")
    return Uart(uart=raw["uart"], baud=int(raw["baud"]), tx=raw.get("tx"), rx=raw.get("rx"),
                rts=raw.get("rts"), cts=raw.get("cts"), flow=raw.get("flow", "none"))


def _firmware(host: dict[str, Any], name: str) -> StockFirmware | None:
    mp = host.get("micropython")
    if mp is None:
        return None
    try:
        sha = mp.get("sha256")
        if sha is not None and not SHA256_RE.match(sha):
            raise BoardSpecError(f"board {name}: micropython.sha256 must be 64 lowercase hex digits or null")
        return StockFirmware(version=mp["version"], build=mp["build"], file=mp["file"], url=mp["url"],
                             sha256=sha, offset=mp.get("offset"), board_name=mp.get("board_name"))
    except KeyError as e:
        raise BoardSpecError(f"board {name}: host.micropython lacks {e}") from None


def _esp_layout(b: boards.Board, host: dict[str, Any]) -> EspLayout:
    f = host.get("flash") or {}
    fs = b.raw["fs"]
    try:
        layout = EspLayout(chip=f["chip"], size=f["size"], mode=f["mode"], freq=f["freq"], baud=int(f["baud"]),
                           bootloader=int(f["bootloader"]), partition_table=int(f["partition_table"]),
                           app=int(f["app"]), app_size=int(f["app_size"]),
                           fs_offset=int(fs["offset"]), fs_size=b.fs_bytes)
    except KeyError as e:
        raise BoardSpecError(f"board {b.name}: flashing an ESP32 needs host.flash {e} and fs.offset") from None
    size_bytes = int(layout.size.rstrip("MB")) * 1024 * 1024
    if layout.app + layout.app_size > layout.fs_offset or layout.fs_offset + layout.fs_size > size_bytes:
        raise BoardSpecError(f"board {b.name}: app {layout.app:#x}+{layout.app_size:#x} and filesystem "
                             f"{layout.fs_offset:#x}+{layout.fs_size:#x} overlap or leave the {layout.size} flash")
    if layout.fs_offset % b.block_size:
        raise BoardSpecError(f"board {b.name}: fs.offset {layout.fs_offset:#x} is not block aligned")
    return layout


def load(board: str | boards.Board) -> BoardSpec:
    """The flashing view of a board; raises BoardSpecError when its description cannot be flashed."""
    b = board if isinstance(board, boards.Board) else boards.load(board)
    host = b.host
    kind = b.platform
    if kind not in ("esp32", "rp2", "linux") or (kind == "linux" and "install" not in host):
        raise BoardSpecError(f"board {b.name} ({kind}) is not a real board that can be flashed; "
                             f"flashable boards: {', '.join(flashable())}")
    spec = BoardSpec(board=b, kind=kind, console=_uart(b.raw.get("control"), "control", b.name),
                     ncp=_uart(b.raw.get("radio"), "radio", b.name), firmware=_firmware(host, b.name),
                     esp=_esp_layout(b, host) if kind == "esp32" else None, host=host)
    if kind in ("esp32", "rp2") and spec.firmware is None:
        raise BoardSpecError(f"board {b.name}: host.micropython (the stock firmware pin) is missing")
    return spec


def flashable() -> list[str]:
    """Names of the boards `commshub flash` can flash (those with flashing data)."""
    out = []
    for n in boards.names():
        b = boards.load(n)
        if b.platform in ("esp32", "rp2") or (b.platform == "linux" and "install" in b.host):
            out.append(n)
    return out
