"""`commshub image factory`: each part of the merged ESP32 image sits at its board offset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from commshub import cli
from commshub.emulator.fsimage import read_image
from commshub.flash import factory, firmware, spec
from test_flash_fakes import BANNER, esp32_firmware

HUB = "0200AABBCCDDEE01"


def test_merged_image_has_firmware_and_filesystem_at_their_offsets(tmp_path: Path) -> None:
    from esptool.bin_image import LoadFirmwareImage

    s = spec.load("esp32-devkitc")
    lay = s.esp
    assert lay is not None
    fw = esp32_firmware(tmp_path / "fw.bin")
    made = factory.build(s, fw, HUB, out=tmp_path / "factory.bin")  # runs the real `esptool merge-bin`
    data = made.path.read_bytes()
    assert len(data) == lay.fs_offset + lay.fs_size
    assert data[:0x1000] == b"\xff" * 0x1000  # nothing below the bootloader
    assert data[0x1000:0x1000 + len(fw.read_bytes())] == fw.read_bytes()
    # esptool's own image reader finds the ESP32 bootloader and app where the board says they are.
    for off in (lay.bootloader, lay.app):
        img = LoadFirmwareImage("esp32", data[off:])
        assert img.chip_id == 0 and img.checksum == img.calculate_checksum()
    assert BANNER in data[lay.app:lay.app + 0x1000]
    table = {p[0]: p for p in firmware.partitions(data[lay.partition_table:lay.partition_table + 0xC00])}
    assert table["vfs"][3:] == (lay.fs_offset, lay.fs_size)
    # The filesystem region mounts with littlefs-python and is this unit's hub.
    files = read_image(data[lay.fs_offset:], s.board.block_size, s.board.block_count)
    assert json.loads(files["/provision.json"])["hub_id"] == HUB
    assert json.loads(files["/board.json"]) == s.board.raw
    assert files == made.fs.files


def test_factory_refuses_a_wrong_firmware_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "factory.bin"
    fw = esp32_firmware(tmp_path / "s3.bin", chip_id=9)
    rc = cli.main(["image", "factory", "--board", "esp32-devkitc", "--micropython", str(fw), "-o", str(out)])
    assert rc == 1 and "ESP32S3" in capsys.readouterr().err
    assert not out.exists()


def test_factory_command_writes_into_images_build(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    fw = esp32_firmware(tmp_path / "fw.bin")
    out = tmp_path / "f.bin"
    rc = cli.main(["image", "factory", "--board", "esp32-devkitc", "--micropython", str(fw),
                   "--hub-id", HUB.lower(), "-o", str(out)])
    text = capsys.readouterr().out
    assert rc == 0 and out.stat().st_size == 0x400000
    assert "write-flash 0x0" in text and f"hub {HUB}" in text
    assert factory.default_path(spec.load("esp32-devkitc"), HUB).parent.name == "build"
