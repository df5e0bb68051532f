"""The control plane over a serial port: a USB UART, a pty or socket://."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

import serial

from ..protocol import frame as fr
from ..protocol.errors import HubError
from .base import Event, Link, Reply

# A frame left half-received this long is dropped (the hub does the same).
INTERBYTE_TIMEOUT_S = 0.2


class SerialLink(Link):
    """Request/response and events over any URL pyserial's serial_for_url opens."""

    name = "serial"

    def __init__(
        self,
        url: str,
        baud: int = 115200,
        timeout: float = 5.0,
        on_event: Callable[[Event], None] | None = None,
        on_console: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(timeout, on_event)
        self.url = url
        self.on_console = on_console
        self.port = serial.serial_for_url(url, baudrate=baud, timeout=0.02, write_timeout=30)
        self._decoder = fr.Decoder()
        self._seq = 0
        self._write_lock = threading.Lock()
        self._console = bytearray()
        self.console_lines: list[str] = []
        self.drops: dict[str, int] = {}
        self._closed = threading.Event()
        self._reader = threading.Thread(target=self._read_loop, name=f"serial-{url}", daemon=True)
        self._reader.start()

    def _next_seq(self) -> int:
        with self._lock:
            self._seq = self._seq % 0xFFFF + 1
            return self._seq

    # -- sending -------------------------------------------------------------
    def write_raw(self, data: bytes) -> None:
        """Put bytes on the wire as they are (fuzzing, truncated frames)."""
        with self._write_lock:
            self.port.write(data)
            self.port.flush()

    def request(self, command: str, args: dict | None = None, data: bytes = b"", timeout: float | None = None) -> Reply:
        """Send one command and wait for its response; raises HubError or HubTimeout."""
        return self.submit(command, args, data).wait(timeout)

    def _new_key(self) -> int:
        return self._next_seq()

    def _transmit(self, key: Any, command: str, args: dict | bytes | None, data: bytes) -> None:
        self.write_raw(fr.encode(fr.REQUEST, key, command, args, data))

    def request_frame(self, raw: bytes, seq: int, timeout: float | None = None) -> Reply:
        """Send a hand-built frame whose seq is `seq` and wait for the answer to it."""
        slot = self._register(seq)
        self.write_raw(raw)
        return self._wait(seq, slot, f"frame seq {seq}", timeout)

    # -- receiving -----------------------------------------------------------
    def _read_loop(self) -> None:
        last = time.monotonic()
        while not self._closed.is_set():
            try:
                chunk = self.port.read(max(1, self.port.in_waiting))
            except (serial.SerialException, OSError, TypeError):
                if self._closed.is_set():
                    return
                time.sleep(0.05)
                continue
            now = time.monotonic()
            if not chunk:
                if self._decoder.pending and now - last > INTERBYTE_TIMEOUT_S:
                    self._decoder.reset()
                continue
            last = now
            for item in self._decoder.feed(chunk):
                self._handle(item)

    def _handle(self, item: fr.Item) -> None:
        if isinstance(item, fr.Frame):
            if item.kind == fr.RESPONSE:
                self._complete(item.seq, Reply(item.name, item.body, item.data))
            elif item.kind == fr.ERROR:
                body: Any = item.body if isinstance(item.body, dict) else {}
                err = HubError(str(body.get("code", "error")), str(body.get("message", "")), item.name or None)
                self._complete(item.seq, err)
            elif item.kind == fr.EVENT:
                self._push_event(Event(item.name, item.body if isinstance(item.body, dict) else {"value": item.body}))
        elif isinstance(item, fr.Dropped):
            self.drops[item.reason] = self.drops.get(item.reason, 0) + 1
            if item.seq is not None:
                self._complete(item.seq, HubError(item.reason, "the hub's answer arrived damaged", None))
        else:
            self._console += item.text
            while b"\n" in self._console:
                line, _, rest = bytes(self._console).partition(b"\n")
                self._console = bytearray(rest)
                text = line.decode(errors="replace").rstrip("\r")
                self.console_lines.append(text)
                if self.on_console:
                    self.on_console(text)

    # -- line control (reset on real boards) ---------------------------------
    def hold_in_reset(self, hold: bool) -> None:
        """Hold a dev board in reset (or let it run) the way esptool does: RTS drives EN
        low, DTR (IO0) stays released so it boots the application, not the ROM loader."""
        self.port.dtr = False
        self.port.rts = hold

    def close(self) -> None:
        self._closed.set()
        try:
            self.port.close()
        finally:
            self._reader.join(timeout=1)
