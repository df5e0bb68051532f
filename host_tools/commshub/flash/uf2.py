"""UF2 files for the RP2040 bootloader's USB drive.

`with_fs_wipe` appends to the stock MicroPython UF2 the blocks that blank
the first two littlefs blocks (the superblock pair), so one copy installs
MicroPython and leaves a filesystem MicroPython reformats at its first boot:
no old hub is left running that would ignore mpremote's Ctrl-C.
"""

from __future__ import annotations

import struct
from pathlib import Path

from .firmware import UF2_BLOCK, UF2_FLAG_FAMILY, UF2_MAGIC0, UF2_MAGIC1, UF2_MAGIC_END

RP2_XIP_BASE = 0x1000_0000
PAYLOAD = 256  # the RP2040 bootloader takes 256-byte, 256-aligned payloads


def blocks(data: bytes) -> list[bytes]:
    return [data[i:i + UF2_BLOCK] for i in range(0, len(data), UF2_BLOCK)]


def make_block(addr: int, payload: bytes, num: int, total: int, family: int) -> bytes:
    head = struct.pack("<8I", UF2_MAGIC0, UF2_MAGIC1, UF2_FLAG_FAMILY, addr, len(payload), num, total, family)
    return head + payload.ljust(476, b"\0") + struct.pack("<I", UF2_MAGIC_END)


def renumber(all_blocks: list[bytes]) -> bytes:
    """Set block numbers and the total in every block (UF2 needs both consistent)."""
    total = len(all_blocks)
    out = bytearray()
    for i, blk in enumerate(all_blocks):
        out += blk[:20] + struct.pack("<II", i, total) + blk[28:]
    return bytes(out)


def with_fs_wipe(micropython_uf2: bytes, fs_offset: int, block_size: int, family: int) -> bytes:
    """The stock UF2 plus 0xFF over filesystem blocks 0 and 1."""
    wipe = [make_block(RP2_XIP_BASE + fs_offset + off, b"\xff" * PAYLOAD, 0, 0, family)
            for off in range(0, 2 * block_size, PAYLOAD)]
    return renumber(blocks(micropython_uf2) + wipe)


def find_drive(label: str, explicit: str | None = None) -> Path | None:
    """The mounted RP2040 bootloader drive (it holds INFO_UF2.TXT), or None."""
    if explicit:
        p = Path(explicit)
        return p if (p / "INFO_UF2.TXT").exists() else None
    import getpass

    user = getpass.getuser()
    for base in (Path("/media") / user, Path("/run/media") / user, Path("/media"), Path("/mnt"), Path("/Volumes")):
        cand = base / label
        if (cand / "INFO_UF2.TXT").exists():
            return cand
    return None
