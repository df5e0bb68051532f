"""`commshub flash` refuses wrong inputs before anything touches a board.

No board is attached to the test machines: these tests prove the refusals
(wrong firmware, wrong port, nothing answering) and never claim a flash.
"""

from __future__ import annotations

import os
import pty
import shutil
import struct
from pathlib import Path

import pytest

from commshub import cli, paths
from commshub.flash import firmware, ports, spec, uf2
from test_flash_fakes import esp32_firmware, pico_uf2


@pytest.fixture
def boards_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of boards/ so a test can pin hashes without touching the checkout."""
    d = tmp_path / "boards"
    shutil.copytree(paths.BOARDS, d)
    monkeypatch.setattr(paths, "BOARDS", d)
    return d


@pytest.fixture
def pty_port():
    """A pty standing in for a serial port: (the port path, the master fd to read what was sent)."""
    master, slave = pty.openpty()
    os.set_blocking(master, False)
    yield os.ttyname(slave), master
    os.close(master)
    os.close(slave)


def _sent(master: int) -> bytes:
    try:
        return os.read(master, 65536)
    except BlockingIOError:
        return b""


def test_every_real_board_has_a_consistent_flash_description() -> None:
    names = spec.flashable()
    assert set(names) == {"esp32-devkitc", "esp32-wrover", "rpi-pico-w", "raspberry-pi"}
    for name in ("esp32-devkitc", "esp32-wrover"):
        esp = spec.load(name)
        assert esp.esp is not None and esp.esp.fs_size == esp.board.fs_bytes
        # Stock ESP32_GENERIC and its SPIRAM variant (partitions-4MiB.csv): app at 0x10000, vfs at 0x200000, 2 MiB.
        assert (esp.esp.app, esp.esp.fs_offset, esp.esp.fs_size) == (0x10000, 0x200000, 0x200000)
    # On a WROVER module GPIO16/17 belong to the PSRAM: the NCP must be wired elsewhere.
    assert not {16, 17} & {spec.load("esp32-wrover").board.raw["radio"][k] for k in ("tx", "rx", "rts", "cts")}
    pico = spec.load("rpi-pico-w")
    # RPI_PICO_W keeps 848 KiB of littlefs at the end of its 2 MiB flash.
    assert pico.board.fs_bytes == 848 * 1024
    assert pico.board.raw["fs"]["offset"] + pico.board.fs_bytes == 2 * 1024 * 1024
    with pytest.raises(spec.BoardSpecError, match="not a real board"):
        spec.load("emulator")


def test_a_good_esp32_file_passes_on_its_structure(tmp_path: Path) -> None:
    s = spec.load("esp32-devkitc")
    got = firmware.check(s, esp32_firmware(tmp_path / "fw.bin"))
    assert not got.pinned and "chip esp32" in got.facts and len(got.sha256) == 64


@pytest.mark.parametrize("kwargs, why", [
    ({"chip_id": 9}, "for ESP32S3"),
    ({"vfs": (0x180000, 0x280000)}, "'vfs' partition is at 0x180000"),
    ({"banner": b"MicroPython v1.24.1 on 2024-11-29"}, "not MicroPython 1.25.0"),
])
def test_a_wrong_esp32_file_is_refused(tmp_path: Path, kwargs: dict, why: str) -> None:
    with pytest.raises(firmware.FirmwareMismatch, match=why):
        firmware.check(spec.load("esp32-devkitc"), esp32_firmware(tmp_path / "fw.bin", **kwargs))


def test_an_app_only_or_foreign_file_is_refused(tmp_path: Path) -> None:
    s = spec.load("esp32-devkitc")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00" * 70000)
    with pytest.raises(firmware.FirmwareMismatch, match="no ESP image header"):
        firmware.check(s, junk)
    with pytest.raises(firmware.FirmwareMismatch, match="not a UF2"):
        firmware.check(spec.load("rpi-pico-w"), junk)


def test_uf2_checks_family_and_board(tmp_path: Path) -> None:
    s = spec.load("rpi-pico-w")
    assert "board Raspberry Pi Pico W" in firmware.check(s, pico_uf2(tmp_path / "ok.uf2")).facts
    with pytest.raises(firmware.FirmwareMismatch, match="family 0xe48bff57"):
        firmware.check(s, pico_uf2(tmp_path / "fam.uf2", family=0xE48BFF57))
    with pytest.raises(firmware.FirmwareMismatch, match="Raspberry Pi Pico W"):
        firmware.check(s, pico_uf2(tmp_path / "pico.uf2", text=b"Raspberry Pi Pico MicroPython v1.25.0"))


def test_the_pico_uf2_also_blanks_the_littlefs_superblocks(tmp_path: Path) -> None:
    s = spec.load("rpi-pico-w")
    stock = pico_uf2(tmp_path / "ok.uf2").read_bytes()
    out = uf2.with_fs_wipe(stock, s.board.raw["fs"]["offset"], s.board.block_size, 0xE48BFF56)
    blocks = uf2.blocks(out)
    heads = [struct.unpack_from("<8I", b) for b in blocks]
    assert [h[5] for h in heads] == list(range(len(blocks))) and {h[6] for h in heads} == {len(blocks)}
    wiped = [(h[3], b[32:32 + h[4]]) for h, b in zip(heads, blocks) if h[3] >= 0x10000000 + 0x12C000]
    assert [a for a, _ in wiped] == [0x1012C000 + i * 256 for i in range(32)]  # blocks 0 and 1: 8 KiB
    assert all(p == b"\xff" * 256 for _, p in wiped)
    firmware.check(s, _write(tmp_path / "combined.uf2", out))  # still a valid UF2 for the board


def _write(p: Path, data: bytes) -> Path:
    p.write_bytes(data)
    return p


def test_a_hash_mismatch_is_refused_before_the_port_is_touched(boards_copy: Path, pty_port, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture) -> None:
    port, master = pty_port
    fw = esp32_firmware(tmp_path / "fw.bin")
    firmware.record_pin("esp32-devkitc", "0" * 64)
    rc = cli.main(["flash", "--board", "esp32-devkitc", "--port", port, "--micropython", str(fw)])
    err = capsys.readouterr().err
    assert rc == 1 and "SHA-256 is" in err and "0" * 64 in err and "Nothing was written" in err
    assert _sent(master) == b""


def test_record_pin_changes_only_the_hash_and_then_the_file_is_pinned(boards_copy: Path, tmp_path: Path) -> None:
    fw = esp32_firmware(tmp_path / "fw.bin")
    before = (boards_copy / "esp32-devkitc.json").read_text()
    digest = firmware.sha256_file(fw)
    firmware.record_pin("esp32-devkitc", digest)
    after = (boards_copy / "esp32-devkitc.json").read_text()
    assert after.replace(f'"{digest}"', "null") == before
    assert firmware.check(spec.load("esp32-devkitc"), fw).pinned


def test_a_missing_port_and_a_non_serial_path_get_clear_errors(tmp_path: Path, capsys) -> None:
    fw = esp32_firmware(tmp_path / "fw.bin")
    rc = cli.main(["flash", "--board", "esp32-devkitc", "--port", "/dev/ttyNOPE9", "--micropython", str(fw)])
    assert rc == 1 and "no serial port /dev/ttyNOPE9: serial ports present:" in capsys.readouterr().err
    rc = cli.main(["flash", "--board", "esp32-devkitc", "--port", str(fw), "--micropython", str(fw)])
    assert rc == 1 and "is not a serial device" in capsys.readouterr().err


def test_nothing_answering_on_a_port_is_a_clear_error(pty_port) -> None:
    port, _master = pty_port
    with pytest.raises(ports.PortError, match=f"no ESP chip answered on {port}"):
        ports.detect_esp(port, connect_attempts=1)
