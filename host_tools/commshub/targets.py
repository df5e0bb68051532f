"""Targets: where the hub runs. One interface for an emulated and a real board.

`--target emulator[:BOARD]` runs the firmware on the MicroPython Unix port with
the board's heap, baud and flash; `--target serial:PORT --board NAME` drives a
real board on a bench. Tests never ask which one they have.
"""

from __future__ import annotations

import time
from typing import Protocol

from . import boards
from .boards import Board


class Target(Protocol):
    board: Board
    kind: str

    @property
    def serial_url(self) -> str: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def power_cut(self) -> None: ...

    def power_on(self) -> None: ...

    def wait_ready(self, timeout: float) -> float: ...

    def console_tail(self, n: int = 40) -> list[str]: ...


class EmulatorTarget:
    """The firmware on the MicroPython Unix port, flash in a file, UART on a pty."""

    kind = "emulator"

    def __init__(self, board: str, broker_url: str | None, name: str = "hil", pace: bool = False,
                 heap_bytes: int | None = None, radio: str | None = None) -> None:
        from .emulator.board import EmulatedBoard

        self.board = boards.load(board)
        self.emu = EmulatedBoard(board, name=name, broker_url=broker_url, pace=pace, fresh=True, heap_bytes=heap_bytes,
                                 radio=radio)

    @property
    def serial_url(self) -> str:
        return str(self.emu.uart_path)

    @property
    def hub_id(self) -> str:
        return self.emu.hub_id

    def start(self) -> None:
        self.emu.start()

    def stop(self) -> None:
        self.emu.stop()

    def power_cut(self) -> None:
        self.emu.power_cut()

    def power_on(self) -> None:
        self.emu.power_on()

    def wait_ready(self, timeout: float = 30.0) -> float:
        return self.emu.wait_ready(timeout)

    def console_tail(self, n: int = 40) -> list[str]:
        return [str(line) for line in self.emu.console_lines()[-n:]]


class SerialBoardTarget:
    """A real board on a serial port. Power is the reset line: EN held low is off.

    ESP32 dev boards wire RTS to EN through the USB bridge (as esptool relies
    on), so holding RTS keeps the chip in reset: as abrupt as pulling power.
    """

    kind = "serial"

    def __init__(self, port: str, board: str) -> None:
        self.board = boards.load(board)
        self.port = port
        self._serial = None  # the Hub's SerialLink drives the lines once it exists

    @property
    def serial_url(self) -> str:
        return self.port

    def attach(self, link) -> None:
        self._serial = link

    def start(self) -> None:
        pass  # the board is powered by its USB cable

    def stop(self) -> None:
        pass

    def power_cut(self) -> None:
        if self._serial is not None:
            self._serial.hold_in_reset(True)

    def power_on(self) -> None:
        self._power_on_at = time.monotonic()
        if self._serial is not None:
            self._serial.hold_in_reset(False)

    def wait_ready(self, timeout: float = 30.0) -> float:
        start = getattr(self, "_power_on_at", time.monotonic())
        deadline = start + timeout
        while time.monotonic() < deadline:
            if self._serial is not None:
                try:
                    self._serial.request("ping", timeout=0.5)
                    return time.monotonic() - start
                except Exception:
                    pass
            time.sleep(0.1)
        raise TimeoutError(f"board on {self.port} did not answer ping within {timeout:.0f} s")

    def console_tail(self, n: int = 40) -> list[str]:
        return list(self._serial.console_lines[-n:]) if self._serial is not None else []


def from_spec(spec: str, board: str | None, broker_url: str | None, name: str = "hil",
              radio: str | None = None) -> Target:
    """Parse `emulator[:BOARD]` or `serial:PORT` into a target (`radio`: the emulator's real NCP)."""
    kind, _, rest = spec.partition(":")
    if kind == "emulator":
        return EmulatorTarget(rest or board or "emulator", broker_url, name=name, radio=radio)
    if kind == "serial":
        if not rest:
            raise ValueError("--target serial:PORT needs a port, e.g. serial:/dev/ttyUSB0")
        if not board:
            raise ValueError(f"--target {spec} needs --board (one of: {', '.join(boards.names())})")
        return SerialBoardTarget(rest, board)
    raise ValueError(f"unknown target {spec!r}: use emulator[:BOARD] or serial:PORT")
