"""The emulated board's radio UART: a pty whose slave the firmware opens as
its NCP UART, and what serves the other end.

* a virtual NCP on a virtual air (`commshub.radio.air.AirThread`), with the
  hub's EUI-64, so HAN devices on that air can join the hub (the default);
* a real Silicon Labs dongle on the host (`--radio /dev/ttyUSB0`), bytes
  relayed both ways as they come.
"""

from __future__ import annotations

import os
import select
import threading
from typing import Any

from .uart import _pty_pair

READ_CHUNK = 4096


class RadioPort:
    """A pty pair: the firmware opens `firmware_path`, the host serves `master`.

    The host keeps the slave open too, so the master never reads EIO while the
    firmware is between runs (a reboot or a power cut).
    """

    def __init__(self) -> None:
        self.master, self._slave, self.firmware_path = _pty_pair()
        self.air: Any = None
        self.ncp: Any = None
        self._own_air = False
        self._bridge: SerialBridge | None = None

    def attach_air(self, eui64: str, air: Any = None, **ncp_opts: Any) -> Any:
        """Serve a virtual NCP with EUI-64 `eui64` on `air` (an AirThread; a private one if None)."""
        from ..radio.thread import AirThread

        if air is None:
            air = AirThread()
            self._own_air = True
        self.air = air
        self.ncp = air.add_ncp(eui64, **ncp_opts)
        air.serve_fd(self.ncp, self.master)
        return self.ncp

    def attach_serial(self, device: str, baud: int = 115200) -> None:
        """Relay the firmware's radio UART to a real NCP on `device`."""
        self._bridge = SerialBridge(self.master, device, baud)
        self._bridge.start()

    def close(self) -> None:
        if self._bridge is not None:
            self._bridge.stop()
            self._bridge = None
        if self.air is not None and self._own_air:
            self.air.stop()
        self.air = self.ncp = None
        for fd in (self.master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass


class SerialBridge(threading.Thread):
    """Copies bytes between the radio pty's master and a serial port."""

    def __init__(self, master: int, device: str, baud: int) -> None:
        super().__init__(name=f"radio bridge {device}", daemon=True)
        import serial  # pyserial: the host tools' serial layer

        self.port = serial.Serial(device, baud, timeout=0, rtscts=False)
        self.master = master
        self._stop_r, self._stop_w = os.pipe()
        self.to_ncp = 0
        self.from_ncp = 0

    def run(self) -> None:
        sfd = self.port.fileno()
        while True:
            r, _, _ = select.select([self.master, sfd, self._stop_r], [], [])
            if self._stop_r in r:
                return
            if self.master in r:
                try:
                    data = os.read(self.master, READ_CHUNK)
                except (BlockingIOError, OSError):
                    data = b""
                if data:
                    self.port.write(data)
                    self.to_ncp += len(data)
            if sfd in r:
                data = self.port.read(READ_CHUNK)
                if data:
                    _write_all(self.master, data)
                    self.from_ncp += len(data)

    def stop(self) -> None:
        os.write(self._stop_w, b"x")
        self.join(2.0)
        self.port.close()
        os.close(self._stop_r)
        os.close(self._stop_w)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            select.select([], [fd], [], 0.5)
            continue
        view = view[n:]
