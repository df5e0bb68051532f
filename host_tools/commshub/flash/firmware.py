"""Check a stock MicroPython firmware file before anything is written to a board.

The user downloads the file (we never fetch it); this module refuses any file
that is not the one the board description pins: a SHA-256 mismatch when a
hash is pinned, and in every case the file's own structure must say it is
MicroPython <version> for this board (ESP32: image chip ID, partition table
with the `vfs` partition where the hub's filesystem goes; RP2: UF2 family and
board name). The structural checks stand alone while no hash is pinned.
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass
from pathlib import Path

from .. import paths
from .spec import BoardSpec, StockFirmware

ESP_IMAGE_MAGIC = 0xE9
PART_MAGIC = b"\xaa\x50"
PART_MD5_MAGIC = b"\xeb\xeb"
PART_TYPE_APP, PART_TYPE_DATA = 0, 1
UF2_MAGIC0, UF2_MAGIC1, UF2_MAGIC_END = 0x0A324655, 0x9E5D5157, 0x0AB16F30
UF2_FLAG_FAMILY = 0x00002000
UF2_BLOCK = 512


class FirmwareMismatch(ValueError):
    """The given firmware file is not the pinned stock MicroPython for the board."""


@dataclass(frozen=True)
class CheckedFirmware:
    """A firmware file that passed the checks."""

    path: Path
    sha256: str
    pinned: bool  # True: the SHA-256 matched the pin; False: structure only
    facts: tuple[str, ...]  # what was checked, for the user


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def check(spec: BoardSpec, path: str | Path) -> CheckedFirmware:
    """Refuse (FirmwareMismatch) a file that is not the board's pinned MicroPython."""
    fw = spec.firmware
    assert fw is not None, "only boards with a stock firmware pin are checked"
    p = Path(path)
    if not p.is_file():
        raise FirmwareMismatch(f"no firmware file {str(p)!r}: download {fw.file} from {fw.url}")
    digest = sha256_file(p)
    if fw.sha256 is not None and digest != fw.sha256:
        raise FirmwareMismatch(
            f"{p.name} is not the pinned MicroPython {fw.version} for {spec.name}: its SHA-256 is {digest}, "
            f"the board description pins {fw.sha256} ({fw.file} from {fw.url}). Nothing was written.")
    data = p.read_bytes()
    facts = _esp32_facts(spec, fw, data) if spec.kind == "esp32" else _uf2_facts(spec, fw, data)
    banner = f"MicroPython v{fw.version}".encode()
    if banner not in data and spec.kind == "esp32":
        raise FirmwareMismatch(f"{p.name} does not contain {banner.decode()!r}: not MicroPython {fw.version}")
    return CheckedFirmware(path=p, sha256=digest, pinned=fw.sha256 is not None,
                           facts=facts + (f"MicroPython {fw.version}",))


def _esp_chip_of(data: bytes, where: str) -> str:
    """The chip an ESP image header at the start of `data` is built for."""
    from esptool.targets import CHIP_DEFS

    if len(data) < 24 or data[0] != ESP_IMAGE_MAGIC:
        raise FirmwareMismatch(f"no ESP image header at {where} (magic {data[:1].hex() or 'none'}, want e9)")
    chip_id = struct.unpack_from("<H", data, 12)[0]
    for name, cls in CHIP_DEFS.items():
        if getattr(cls, "IMAGE_CHIP_ID", None) == chip_id:
            return name
    return f"chip id {chip_id}"


def partitions(table: bytes) -> list[tuple[str, int, int, int, int]]:
    """(label, type, subtype, offset, size) of each entry of an ESP-IDF partition table."""
    out = []
    for pos in range(0, len(table) - 31, 32):
        entry = table[pos:pos + 32]
        if entry[:2] != PART_MAGIC:
            break  # 0xFF padding or the MD5 entry ends the table
        ptype, sub, off, size = struct.unpack_from("<BBII", entry, 2)
        label = entry[12:28].split(b"\0")[0].decode("ascii", "replace")
        out.append((label, ptype, sub, off, size))
    return out


def _esp32_facts(spec: BoardSpec, fw: StockFirmware, data: bytes) -> tuple[str, ...]:
    lay = spec.esp
    assert lay is not None and fw.offset is not None
    base = fw.offset
    chip = _esp_chip_of(data, f"{base:#x} (bootloader)")
    if chip != lay.chip:
        raise FirmwareMismatch(f"this firmware is for {chip.upper()}, board {spec.name} has an {lay.chip.upper()}")
    pt = data[lay.partition_table - base:lay.partition_table - base + 0xC00]
    table = partitions(pt)
    if not table:
        raise FirmwareMismatch(f"no partition table at {lay.partition_table:#x}: not a full MicroPython "
                               f"{fw.build} .bin (an app-only .bin?)")
    by_label = {t[0]: t for t in table}
    vfs = by_label.get("vfs")
    if vfs is None or vfs[1] != PART_TYPE_DATA or (vfs[3], vfs[4]) != (lay.fs_offset, lay.fs_size):
        found = f"at {vfs[3]:#x} size {vfs[4]:#x}" if vfs else "missing"
        raise FirmwareMismatch(f"the firmware's 'vfs' partition is {found}; board {spec.name} puts the hub's "
                               f"filesystem at {lay.fs_offset:#x} size {lay.fs_size:#x}: a different build "
                               f"(not {fw.build}) or a different flash size")
    apps = [t for t in table if t[1] == PART_TYPE_APP and t[3] == lay.app]
    if not apps:
        raise FirmwareMismatch(f"the firmware's partition table has no app partition at {lay.app:#x}")
    app_chip = _esp_chip_of(data[lay.app - base:], f"{lay.app:#x} (app)")
    if app_chip != lay.chip:
        raise FirmwareMismatch(f"the app image at {lay.app:#x} is for {app_chip.upper()}, not {lay.chip.upper()}")
    if base + len(data) > lay.app + lay.app_size:
        raise FirmwareMismatch(f"the firmware ({len(data)} bytes from {base:#x}) runs past the app partition")
    return (f"chip {chip}", f"vfs partition at {lay.fs_offset:#x} size {lay.fs_size:#x}", f"app at {lay.app:#x}")


def _uf2_facts(spec: BoardSpec, fw: StockFirmware, data: bytes) -> tuple[str, ...]:
    family = int(spec.host.get("flash", {}).get("uf2_family", 0))
    if len(data) < UF2_BLOCK or len(data) % UF2_BLOCK:
        raise FirmwareMismatch(f"not a UF2 file: {len(data)} bytes is not a whole number of 512-byte blocks")
    payload = bytearray()
    count = len(data) // UF2_BLOCK
    for i in range(count):
        blk = data[i * UF2_BLOCK:(i + 1) * UF2_BLOCK]
        m0, m1, flags, _addr, size, num, total, fam = struct.unpack_from("<8I", blk)
        (m_end,) = struct.unpack_from("<I", blk, 508)
        if (m0, m1, m_end) != (UF2_MAGIC0, UF2_MAGIC1, UF2_MAGIC_END):
            raise FirmwareMismatch(f"not a UF2 file: block {i} has bad magic numbers")
        if not flags & UF2_FLAG_FAMILY or fam != family:
            raise FirmwareMismatch(f"UF2 block {i} is for family {fam:#x}, board {spec.name} needs {family:#x} "
                                   f"({spec.host.get('flash', {}).get('chip')})")
        if num != i or total != count or size > 476:
            raise FirmwareMismatch(f"UF2 block {i} says it is {num} of {total}: truncated or mixed file")
        payload += blk[32:32 + size]
    for want in (fw.board_name, f"MicroPython v{fw.version}"):
        if want and want.encode() not in payload:
            raise FirmwareMismatch(f"the UF2 does not contain {want!r}: not MicroPython {fw.version} "
                                   f"for {fw.build}")
    return (f"UF2 family {family:#x}", f"board {fw.board_name}")


def record_pin(board: str, digest: str) -> Path:
    """Pin `digest` as the board's stock firmware SHA-256, editing only that value in its JSON."""
    path = paths.BOARDS / f"{board}.json"
    text = path.read_text()
    new, n = re.subn(r'("sha256":\s*)(null|"[0-9a-f]{64}")', lambda m: f'{m.group(1)}"{digest}"', text)
    if n != 1:
        raise ValueError(f"{path} has {n} sha256 entries; edit host.micropython.sha256 by hand")
    path.write_text(new)
    return path
