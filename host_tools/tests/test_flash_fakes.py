"""Stand-ins for the stock MicroPython files, built with esptool's own image classes.

The real files come from micropython.org, which the test machines cannot
reach; these have the same structure the checks read (ESP image headers,
ESP-IDF partition table, UF2 blocks), with parameters to make them wrong.
No tests here: helpers for test_flash*.py and test_factory*.py.
"""

from __future__ import annotations

import struct
from pathlib import Path

from commshub.flash import uf2

BANNER = b"MicroPython v1.25.0 on 2025-04-15; Generic ESP32 module with ESP32"


def _esp_image(chip_id: int, payload: bytes) -> bytes:
    from esptool.bin_image import ESP32FirmwareImage, ImageSegment

    img = ESP32FirmwareImage()
    img.entrypoint = 0x40080000
    img.segments = [ImageSegment(0x3F400020, payload.ljust((len(payload) + 3) // 4 * 4, b"\0"))]
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        img.save(f.name)
        data = bytearray(Path(f.name).read_bytes())
    struct.pack_into("<H", data, 12, chip_id)  # the extended header's chip ID
    return bytes(data)


def _partition(label: str, ptype: int, sub: int, off: int, size: int) -> bytes:
    return b"\xaa\x50" + struct.pack("<BBII", ptype, sub, off, size) + label.encode().ljust(16, b"\0") + b"\0" * 4


def esp32_firmware(path: Path, chip_id: int = 0, vfs: tuple[int, int] = (0x200000, 0x200000),
                   banner: bytes = BANNER) -> Path:
    """A stand-in ESP32_GENERIC .bin as flashed at 0x1000: bootloader, partition table, app."""
    base = 0x1000
    out = bytearray(b"\xff" * (0x10000 - base))
    boot = _esp_image(chip_id, b"bootloader")
    out[0:len(boot)] = boot
    table = (_partition("nvs", 1, 2, 0x9000, 0x6000) + _partition("phy_init", 1, 1, 0xF000, 0x1000)
             + _partition("factory", 0, 0, 0x10000, 0x1F0000) + _partition("vfs", 1, 0x81, *vfs))
    out[0x8000 - base:0x8000 - base + len(table)] = table
    out += _esp_image(chip_id, banner)
    path.write_bytes(bytes(out))
    return path


def pico_uf2(path: Path, family: int = 0xE48BFF56, text: bytes = b"Raspberry Pi Pico W MicroPython v1.25.0") -> Path:
    """A stand-in RPI_PICO_W UF2: a few 256-byte payload blocks at the start of flash."""
    body = text.ljust(3 * 256, b"\x5a")
    blocks = [uf2.make_block(uf2.RP2_XIP_BASE + i, body[i:i + 256], 0, 0, family) for i in range(0, len(body), 256)]
    path.write_bytes(uf2.renumber(blocks))
    return path
