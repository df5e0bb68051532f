"""Raspberry Pi (or any Linux) running the Unix port: a real serial device.

Reset ends the process with status 3; a supervisor (systemd) restarts it.
"""

from hub.hal.base import BaseHal


def tty_streams(dev, baud=None):
    """Asyncio streams on a raw tty that never blocks the event loop."""
    import asyncio
    import termios

    f = open(dev, "r+b")
    fd = f.fileno()
    termios.setraw(fd)
    a = termios.tcgetattr(fd)
    a[6][6] = 0  # VMIN: a read returns what is there...
    a[6][5] = 0  # VTIME: ...at once, so it never blocks the event loop
    speed = getattr(termios, "B%d" % baud, None) if baud else None
    if speed is not None:
        a[4] = a[5] = speed
    termios.tcsetattr(fd, termios.TCSANOW, a)
    return asyncio.StreamReader(f), asyncio.StreamWriter(f, {})


class Hal(BaseHal):
    platform = "linux"

    def control_streams(self):
        return tty_streams(self.board.get("control", {}).get("device", "/dev/ttyAMA0"))

    def radio_streams(self):
        # A tty path: provision.json's radio_device wins over the board's (a dongle's path varies).
        r = self.board.get("radio")
        dev = self.provision.get("radio_device") or (r.get("uart") if isinstance(r, dict) else None)
        if not isinstance(dev, str) or not dev.startswith("/"):
            return None
        return tty_streams(dev, r.get("baud", 115200) if isinstance(r, dict) else 115200)

    def fallback_id(self):
        try:
            with open("/etc/machine-id") as f:
                return f.read(16).upper()
        except OSError:
            return "FFFFFFFFFFFFFFFF"
