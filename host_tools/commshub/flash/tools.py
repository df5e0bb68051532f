"""The exact esptool and mpremote command lines for a board, from its description.

Pure functions: argument lists only, nothing runs here. `commshub flash
--dry-run` prints them, the runner executes them unchanged, and the tests
check them against the board descriptions.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from .spec import BoardSpec, EspLayout

# Files a development deploy replaces: the code, never the unit's identity or state.
DEPLOY_ROOT_FILES = ("boot.py", "main.py", "board.json")


def esptool() -> list[str]:
    """How to start esptool: the venv's console script, else `python -m esptool`."""
    script = Path(sys.executable).with_name("esptool")
    return [str(script)] if script.exists() else [sys.executable, "-m", "esptool"]


def mpremote() -> list[str]:
    """How to start mpremote: the venv's console script, else `python -m mpremote`."""
    script = Path(sys.executable).with_name("mpremote")
    if script.exists():
        return [str(script)]
    found = shutil.which("mpremote")
    return [found] if found else [sys.executable, "-m", "mpremote"]


def _layout(spec: BoardSpec) -> EspLayout:
    if spec.esp is None:
        raise ValueError(f"board {spec.name} is not an ESP32 board")
    return spec.esp


def esp_base(spec: BoardSpec, port: str, baud: int | None = None) -> list[str]:
    """esptool's global options for this board: chip, port, flashing baud."""
    lay = _layout(spec)
    return esptool() + ["--chip", lay.chip, "--port", port, "--baud", str(baud or lay.baud)]


def esp_erase(spec: BoardSpec, port: str, baud: int | None = None) -> list[str]:
    return esp_base(spec, port, baud) + ["--after", "no-reset", "erase-flash"]


def esp_write_firmware(spec: BoardSpec, port: str, firmware: Path, baud: int | None = None) -> list[str]:
    """Write the stock MicroPython .bin at its offset (bootloader, partition table and app in one file)."""
    assert spec.firmware is not None and spec.firmware.offset is not None
    return esp_base(spec, port, baud) + ["--after", "no-reset", "write-flash",
                                         hex(spec.firmware.offset), str(firmware)]


def esp_write_fs(spec: BoardSpec, port: str, image: Path, baud: int | None = None) -> list[str]:
    """Write the hub's littlefs image over the `vfs` partition, then reset the board into it."""
    lay = _layout(spec)
    return esp_base(spec, port, baud) + ["--after", "hard-reset", "write-flash", hex(lay.fs_offset), str(image)]


def esp_merge(spec: BoardSpec, firmware: Path, image: Path, out: Path) -> list[str]:
    """`esptool merge-bin`: one raw image from flash offset 0, for `write-flash 0x0`.

    No --flash-size/--flash-mode: esptool would patch the stock bootloader's
    header; the merged image carries the MicroPython file byte for byte.
    """
    lay = _layout(spec)
    assert spec.firmware is not None and spec.firmware.offset is not None
    return esptool() + ["--chip", lay.chip, "merge-bin", "--output", str(out),
                        hex(spec.firmware.offset), str(firmware), hex(lay.fs_offset), str(image)]


def esp_write_factory(spec: BoardSpec, port: str, factory: Path, baud: int | None = None) -> list[str]:
    """How a production line writes the merged factory image."""
    return esp_base(spec, port, baud) + ["write-flash", "0x0", str(factory)]


def mkdirs_code(remote_paths: list[str]) -> str:
    """MicroPython code creating every parent directory of `remote_paths` (existing ones are fine)."""
    dirs: set[str] = set()
    for r in remote_paths:
        parts = r.strip("/").split("/")[:-1]
        dirs.update("/" + "/".join(parts[:i]) for i in range(1, len(parts) + 1))
    if not dirs:
        return "pass"
    listed = ",".join(repr(d) for d in sorted(dirs, key=lambda d: (d.count("/"), d)))
    return f"import os\nfor d in ({listed},):\n try:\n  os.mkdir(d)\n except OSError:\n  pass"


def mpremote_put(port: str, files: list[tuple[str, Path]], resume: bool) -> list[str]:
    """One mpremote run copying each (remote path, local file), then resetting the board.

    Files are named one by one (no `cp -r`) so each remote path is explicit
    and mpremote prints one `cp` line per file, which drives the progress
    bar. `resume` skips mpremote's soft reset on connect: the board was just
    interrupted into its REPL, and a soft reset would re-run boot.py.
    """
    argv = mpremote() + ["connect", port]
    if resume:
        argv.append("resume")
    argv += ["exec", mkdirs_code([r for r, _ in files])]
    for remote, local in files:
        argv += ["+", "fs", "cp", str(local), ":" + remote]
    return argv + ["+", "reset"]
