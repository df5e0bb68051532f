"""Raspberry Pi (or any Linux) running the Unix port: a real serial device.

Reset ends the process with status 3; a supervisor (systemd) restarts it.
"""

from hub.hal.base import BaseHal


class Hal(BaseHal):
    platform = "linux"

    def control_streams(self):
        import asyncio
        import termios

        dev = self.board.get("control", {}).get("device", "/dev/ttyAMA0")
        f = open(dev, "r+b")
        fd = f.fileno()
        termios.setraw(fd)
        a = termios.tcgetattr(fd)
        a[6][6] = 0  # VMIN: a read returns what is there...
        a[6][5] = 0  # VTIME: ...at once, so it never blocks the event loop
        termios.tcsetattr(fd, termios.TCSANOW, a)
        return asyncio.StreamReader(f), asyncio.StreamWriter(f, {})

    def fallback_id(self):
        try:
            with open("/etc/machine-id") as f:
                return f.read(16).upper()
        except OSError:
            return "FFFFFFFFFFFFFFFF"
