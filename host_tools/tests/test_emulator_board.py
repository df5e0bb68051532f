"""EmulatedBoard with a stand-in firmware: boot, heap cap, power, reboots, several boards."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import serial

from commshub import boards, paths
from commshub.emulator.board import ROM, EmulatedBoard, hub_id_for

# Stand-in for firmware/main.py: the ready line, an echo, and a few commands
# to exercise flash persistence, reboots and crashes.
STAND_IN = r'''
import gc, json, time, _emu
t0 = time.ticks_ms()
prov = json.load(open("/provision.json"))
try:
    n = int(open("/boots").read())
except OSError:
    n = 0
with open("/boots", "w") as f:
    f.write(str(n + 1))
gc.collect()
print("boots %d cause %s heap %d board %s radio %s" % (n, _emu.reset_cause, gc.mem_free() + gc.mem_alloc(),
                                                   _emu.board, _emu.radio is not None))
print("commshub ready %s boot_ms=%d" % (prov["hub_id"], time.ticks_diff(time.ticks_ms(), t0)))
u = _emu.uart
while True:
    b = u.read(256)
    if not b:
        time.sleep_ms(1)
    elif b.startswith(b"!reset"):
        _emu.reset()
    elif b.startswith(b"!crash"):
        raise RuntimeError("crash requested")
    elif b.startswith(b"!alloc"):
        x = bytearray(200 * 1024)
    elif b.startswith(b"!write "):
        with open("/data", "w") as f:
            f.write(b[7:].decode())
        u.write(b"ok\n")
    elif b.startswith(b"!read"):
        u.write(open("/data").read().encode() + b"\n")
    else:
        u.write(b)
'''


@pytest.fixture
def firmware(tmp_path: Path) -> Path:
    fw = tmp_path / "fw"
    (fw / "hub").mkdir(parents=True)
    (fw / "hub" / "__init__.py").write_text("")
    (fw / "main.py").write_text(STAND_IN)
    return fw


@pytest.fixture
def board(tmp_path: Path, firmware: Path):
    with EmulatedBoard("emulator", name="t1", state_dir=tmp_path / "emu", firmware=firmware) as b:
        yield b


def test_boots_under_the_heap_cap_and_echoes(board: EmulatedBoard) -> None:
    took = board.wait_ready(10)
    assert 0 <= took < 10
    m = board.wait_console(r"boots 0 cause power_on heap (\d+) board emulator", 1)
    assert int(m.group(1)) <= boards.load("emulator").heap_bytes
    with serial.Serial(board.uart_path, timeout=3) as s:
        s.write(b"hello\r\n")
        assert s.read(7) == b"hello\r\n"
    # Beyond the heap cap the firmware gets MemoryError, crashes and is restarted.
    mark = board.mark()
    with serial.Serial(board.uart_path, timeout=3) as s:
        s.write(b"!alloc")
        board.wait_console("MemoryError", 5, since=mark)
    board.wait_console("boots 1 cause watchdog", 5, since=mark)


def test_instance_layout(board: EmulatedBoard, tmp_path: Path) -> None:
    board.wait_ready(10)
    d = tmp_path / "emu" / "t1"
    assert (d / "flash.bin").stat().st_size == boards.load("emulator").fs_bytes
    assert os.readlink(d / "uart") == board.uart_path
    note = json.loads((d / "instance.json").read_text())
    assert note["hub_id"] == board.hub_id == hub_id_for("t1")
    assert note["uart_path"] == board.uart_path and note["owner_pid"] == os.getpid()
    assert "commshub ready" in (d / "console.log").read_text()
    assert board.hub_id.startswith("02") and len(board.hub_id) == 16


def test_power_cut_keeps_flash_writes(board: EmulatedBoard) -> None:
    board.wait_ready(10)
    with serial.Serial(board.uart_path, timeout=3) as s:
        s.write(b"!write survives")
        assert s.read(3) == b"ok\n"
        board.power_cut()
        assert not board.alive
        board.power_on()
        board.wait_ready(10)
        s.reset_input_buffer()
        s.write(b"!read")
        assert s.readline() == b"survives\n"
    board.wait_console("boots 1 cause power_on", 1)


def test_exit_3_restarts_and_a_crash_restarts_like_a_watchdog(board: EmulatedBoard) -> None:
    board.wait_ready(10)
    first = board.pid
    mark = board.mark()
    with serial.Serial(board.uart_path, timeout=3) as s:
        s.write(b"!reset")
        board.wait_console("boots 1 cause soft", 10, since=mark)
        assert board.pid != first
        s.write(b"!crash")
        board.wait_console("RuntimeError: crash requested", 10, since=mark)
        board.wait_console("boots 2 cause watchdog", 10, since=mark)
    board.reset()
    board.wait_console("boots 3 cause hard", 10)
    assert board.restarts == 2


def test_power_cut_stays_off(board: EmulatedBoard) -> None:
    board.wait_ready(10)
    board.power_cut()
    with pytest.raises(TimeoutError):
        board.wait_ready(0.5)
    assert not board.alive


def test_two_boards_at_once(tmp_path: Path, firmware: Path) -> None:
    state = tmp_path / "emu"
    with EmulatedBoard("emulator", name="a", state_dir=state, firmware=firmware, tcp_port=0) as a, \
            EmulatedBoard("esp32-devkitc", name="b", state_dir=state, firmware=firmware,
                          tcp_port=0) as b:
        a.wait_ready(10)
        b.wait_ready(10)
        assert a.hub_id != b.hub_id
        assert a.flash_path != b.flash_path and a.uart_path != b.uart_path
        assert a.tcp_port != b.tcp_port
        b.wait_console("board esp32-devkitc", 1)
        with serial.serial_for_url(a.uart_url, timeout=3) as sa, \
                serial.serial_for_url(b.uart_url, timeout=3) as sb:
            sa.write(b"!write A")
            sb.write(b"!write B")
            assert sa.read(3) == b"ok\n" and sb.read(3) == b"ok\n"
            sa.write(b"!read")
            sb.write(b"!read")
            assert sa.readline() == b"A\n" and sb.readline() == b"B\n"


def test_same_name_twice_is_refused(board: EmulatedBoard, tmp_path: Path, firmware: Path) -> None:
    from commshub.emulator.board import InstanceBusy

    with pytest.raises(InstanceBusy):
        EmulatedBoard("emulator", name="t1", state_dir=tmp_path / "emu", firmware=firmware).start()
    assert board.alive


def test_keep_flash_boots_the_previous_state(tmp_path: Path, firmware: Path) -> None:
    state = tmp_path / "emu"
    with EmulatedBoard("emulator", name="k", state_dir=state, firmware=firmware) as b:
        b.wait_ready(10)
    with EmulatedBoard("emulator", name="k", state_dir=state, firmware=firmware, fresh=False) as b:
        b.wait_ready(10)
        b.wait_console("boots 1 ", 1)
    with EmulatedBoard("emulator", name="k", state_dir=state, firmware=firmware) as b:
        b.wait_ready(10)
        b.wait_console("boots 0 ", 1)


def test_rom_without_its_radio_device_boots_without_the_radio(tmp_path: Path, firmware: Path) -> None:
    """A Raspberry Pi whose NCP dongle is unplugged: the ROM script says so and boots the hub anyway."""
    with EmulatedBoard("emulator", name="t6", state_dir=tmp_path / "emu", firmware=firmware) as b:
        b.wait_ready(10)
        flash, bs, bc = b.flash_path, b.board.block_size, b.board.block_count
    master, slave = os.openpty()
    missing = tmp_path / "ttyUSB-unplugged"
    proc = subprocess.Popen([paths.micropython(), "-X", "heapsize=160K", str(ROM), str(flash), str(bs), str(bc),
                             os.ttyname(slave), "raspberry-pi", "power_on", str(missing)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "commshub ready" in line:
                break
        text = "".join(lines)
        assert f"rom: radio {missing} cannot be opened" in text, text
        assert "board raspberry-pi radio False" in text, text
        assert "commshub ready" in text, text
    finally:
        proc.kill()
        proc.wait()
        os.close(master)
        os.close(slave)
