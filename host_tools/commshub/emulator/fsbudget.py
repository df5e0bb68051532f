"""The filesystem block budget of a hub image update on a board (docs/IMAGES.md, "Block budget").

Replays the update's worst moment on the board's factory littlefs image with
littlefs-python: slot A as flashed, the staging file of an image of the same
firmware, and slot B unpacked beside both (verify mode unpacks while the
staging file is still there). Counts are littlefs' own (lfs_fs_size on an
image without double-counted directories), in blocks of the board's size.

    python -m commshub.emulator.fsbudget rpi-pico-w
"""

from __future__ import annotations

import sys
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from .. import boards
from .fsimage import Provision, build_fs_image, lfs_geometry

# What the firmware keeps free for its state files (hub/services/store.py RESERVE).
RESERVE = 8


def _mount(data: bytes, b: boards.Board) -> Any:
    from littlefs import LittleFS, UserContext

    fs = LittleFS(context=UserContext(buffer=bytearray(data)), mount=False, **lfs_geometry(b))
    fs.mount()
    return fs


def _copy_tree(fs: Any, src: str, dst: str) -> None:
    fs.makedirs(dst, exist_ok=True)
    for name in fs.listdir(src):
        s, d = f"{src}/{name}", f"{dst}/{name}"
        if fs.stat(s).type == 2:
            _copy_tree(fs, s, d)
        else:
            with fs.open(s, "rb") as f:
                data = f.read()
            with fs.open(d, "wb") as f:
                f.write(data)


def budget(board: str | boards.Board) -> dict[str, int]:
    """Blocks of each part at the update's peak: total, base (boot.py, records, dirs), slot_a,
    staging, slot_b, free (what is left for state beyond the factory's)."""
    from ..images.hub_image import build_hub_image

    b = board if isinstance(board, boards.Board) else boards.load(board)
    with TemporaryDirectory() as tmp:
        img = build_fs_image(b, Provision(hub_id="0200000000000000"), Path(tmp) / "fs.bin").read_bytes()
    fs = _mount(img, b)
    total = fs.used_block_count
    fs_a = _mount(img, b)
    _copy_tree(fs_a, "/slots/a", "/slots/x")
    slot = fs_a.used_block_count - total
    fs.makedirs("/data/image", exist_ok=True)
    before = fs.used_block_count
    with fs.open("/data/image/staging.bin", "wb") as f:
        f.write(build_hub_image(b.name, version="255.255.255"))
    staging = fs.used_block_count - before
    before = fs.used_block_count
    _copy_tree(fs, "/slots/a", "/slots/b")
    slot_b = fs.used_block_count - before
    return {"total": b.block_count, "block_size": b.block_size, "base": total - slot, "slot_a": slot,
            "staging": staging, "slot_b": slot_b, "free": b.block_count - fs.used_block_count}


def main(argv: list[str]) -> int:
    for name in argv or boards.names():
        r = budget(name)
        print(f"{name}: {r['total']} blocks of {r['block_size']}: base {r['base']}, slot A {r['slot_a']}, "
              f"staging {r['staging']}, slot B {r['slot_b']}, free at the peak {r['free']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
