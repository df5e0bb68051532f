"""The real firmware on the emulated board, end to end over the user pty.

Skipped until the firmware has its app (`firmware/hub/app.py`) and entry
point (`firmware/main.py`).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import serial

from commshub import paths
from commshub.emulator.board import EmulatedBoard

PING = bytes.fromhex("a55a0101000700 0f2f 0470696e67 0000 e78ad8ba".replace(" ", ""))
PONG = bytes.fromhex("a55a0201001400 4d14 0470696e67 0d00 7b22706f6e67223a747275657d 4497c219"
                     .replace(" ", ""))

pytestmark = pytest.mark.skipif(
    not (paths.FIRMWARE / "hub" / "app.py").exists() or not (paths.FIRMWARE / "main.py").exists(),
    reason="firmware/hub/app.py or firmware/main.py not there yet")


def _read_until(s: serial.Serial, want: bytes, timeout: float) -> bytes:
    got = b""
    deadline = time.monotonic() + timeout
    while want not in got and time.monotonic() < deadline:
        got += s.read(s.in_waiting or 1)
    return got


def test_real_firmware_answers_the_ping_vector(tmp_path: Path) -> None:
    with EmulatedBoard("emulator", name="e2e", state_dir=tmp_path / "emu", broker_url=None) as b:
        took = b.wait_ready(30)
        print(f"boot to ready: {took * 1000:.0f} ms")
        with serial.Serial(b.uart_path, timeout=0.2) as s:
            s.reset_input_buffer()
            s.write(PING)
            got = _read_until(s, PONG, 5)
        assert PONG in got, f"no pong vector; got {got.hex(' ')}\nconsole: {b.console_lines()[-20:]}"
