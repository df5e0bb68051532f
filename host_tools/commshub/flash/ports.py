"""Serial ports of real boards: is it there, what chip answers on it, get a REPL on it.

Every check here runs before anything is written, so a wrong port or a
wrong board ends with a message that says what to do and a board untouched.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass


class PortError(RuntimeError):
    """The port is missing, is not a serial device, or nothing answers on it."""


def present_ports() -> list[str]:
    """Serial ports the OS lists now (for error messages)."""
    try:
        from serial.tools import list_ports

        return sorted(p.device for p in list_ports.comports())
    except Exception:  # listing is a hint only
        return []


def check_port(port: str) -> None:
    """Refuse a path that does not exist or is not a character device (URLs pass through)."""
    if "://" in port:
        return
    hint = ", ".join(present_ports()) or "none found (is the board plugged in? is the cable data-capable?)"
    if not os.path.exists(port):
        raise PortError(f"no serial port {port}: serial ports present: {hint}")
    if not stat.S_ISCHR(os.stat(port).st_mode):
        raise PortError(f"{port} is not a serial device (it is a file or directory); serial ports present: {hint}")
    if not os.access(port, os.R_OK | os.W_OK):
        raise PortError(f"no permission to open {port}: add yourself to its group "
                        f"(e.g. `sudo usermod -aG dialout $USER`, then log in again)")


@dataclass(frozen=True)
class Chip:
    """What esptool found on a port."""

    name: str  # esptool's chip key: "esp32", "esp32s3", ...
    description: str
    mac: str


def detect_esp(port: str, connect_attempts: int = 3) -> Chip:
    """Connect to the ROM bootloader on `port` and identify the chip (esptool's own detection)."""
    from esptool.cmds import detect_chip
    from esptool.util import FatalError
    from serial import SerialException

    check_port(port)
    try:
        esp = detect_chip(port=port, baud=115200, connect_attempts=connect_attempts)
    except (FatalError, SerialException, OSError) as e:
        raise PortError(f"no ESP chip answered on {port}: {e}. Is it the board's USB port? If the board does "
                        f"not auto-reset, hold BOOT, tap EN, release BOOT and run again.") from None
    try:
        key = esp.CHIP_NAME.lower().replace("-", "")
        try:
            desc = esp.get_chip_description()
        except Exception:  # some ROMs cannot say more than the chip family
            desc = esp.CHIP_NAME
        mac = ":".join(f"{b:02x}" for b in esp.read_mac())
        # Leave the chip in its bootloader; the next esptool command resets it.
        return Chip(name=key, description=desc, mac=mac)
    finally:
        esp._port.close()


def wait_for_port(port: str, timeout: float) -> None:
    """Wait until `port` exists (a USB CDC port re-enumerates after a UF2 copy or a reset)."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(port):
        if time.monotonic() > deadline:
            raise PortError(f"{port} did not appear within {timeout:g} s: the board did not start MicroPython "
                            f"(unplug and replug it, or check the UF2 copy finished)")
        time.sleep(0.2)


def interrupt_to_repl(port: str, baud: int, reset_line: bool, timeout: float = 8.0) -> None:
    """Stop the running hub and leave the board at MicroPython's REPL.

    The hub turns Ctrl-C off while it runs (frames carry 0x03 bytes), so the
    board must be restarting: `reset_line` pulses EN through RTS where the
    board wires it (ESP32-DevKitC); otherwise the caller has just sent the
    hub its `reboot` command. Ctrl-C then goes out every 20 ms while boot.py
    and the hub's imports run, until MicroPython prints its `>>>` prompt.
    """
    import serial

    wait_for_port(port, timeout)
    check_port(port)
    try:
        s = serial.Serial(port, baud, timeout=0)
    except (serial.SerialException, OSError) as e:
        raise PortError(f"cannot open {port}: {e}") from None
    seen = b""
    try:
        if reset_line:
            s.dtr = False  # IO0 high: boot the app, not the ROM bootloader
            s.rts = True  # EN low: hold in reset
            time.sleep(0.1)
            s.rts = False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s.write(b"\x03")
            time.sleep(0.02)
            seen = (seen + s.read(4096))[-512:]
            if seen.rstrip().endswith(b">>>"):
                s.write(b"\x03")  # drop any half-typed line
                return
        raise PortError(f"the board on {port} did not stop at the MicroPython REPL within {timeout:g} s "
                        f"(last output: {seen[-80:]!r}); press its reset button and run again")
    finally:
        s.close()
