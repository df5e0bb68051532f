"""Byte streams for the virtual NCP besides TCP: a file descriptor (pty master) and ptys.

`FdStream` feeds an `asyncio.StreamReader` from a non-blocking fd and writes
to it with a small buffer, so the NCP's ASH link sees the same (reader,
writer) pair as on TCP. A pty master reads EIO while nobody holds its slave
open (a board rebooting, a host reconnecting): that is not the end of the
line, the stream polls until the other side is back.
"""

from __future__ import annotations

import asyncio
import errno
import os
import termios
import tty
from typing import Any

EIO_RETRY_S = 0.05
READ_SIZE = 4096


def open_pty_pair() -> tuple[int, int]:
    """A new pty (master, slave), slave in raw mode (no echo, no line editing)."""
    master, slave = os.openpty()
    tty.setraw(slave, termios.TCSANOW)
    return master, slave


class FdStream:
    """An asyncio reader and a writer-like object over one non-blocking fd."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._loop = asyncio.get_running_loop()
        os.set_blocking(fd, False)
        self.reader = asyncio.StreamReader()
        self._out = bytearray()
        self._closed = False
        self._writing = False
        self._retry: asyncio.TimerHandle | None = None
        self._loop.add_reader(fd, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno != errno.EIO:
                self._eof()
                return
            # pty master with no slave open: look again a little later.
            self._loop.remove_reader(self.fd)
            self._retry = self._loop.call_later(EIO_RETRY_S, self._resume)
            return
        if not data:
            self._eof()
            return
        self.reader.feed_data(data)

    def _resume(self) -> None:
        self._retry = None
        if not self._closed:
            self._loop.add_reader(self.fd, self._readable)

    def _eof(self) -> None:
        self._loop.remove_reader(self.fd)
        self.reader.feed_eof()

    # -- writer side (what AshNcpLink uses) ----------------------------------

    def write(self, data: bytes) -> None:
        """Queue bytes for the fd; what cannot be written now goes when it is writable."""
        if self._closed:
            return
        self._out += data
        self._flush()

    def _flush(self) -> None:
        while self._out:
            try:
                n = os.write(self.fd, self._out)
            except BlockingIOError:
                n = 0
            except OSError as exc:
                if exc.errno == errno.EIO:  # nobody on the other side: the bytes are lost
                    self._out.clear()
                    break
                raise
            if n == 0:
                if not self._writing:
                    self._writing = True
                    self._loop.add_writer(self.fd, self._writable)
                return
            del self._out[:n]
        if self._writing:
            self._writing = False
            self._loop.remove_writer(self.fd)

    def _writable(self) -> None:
        self._flush()

    def is_closing(self) -> bool:
        """Whether close() was called."""
        return self._closed

    def close(self) -> None:
        """Stop reading and writing and close the fd."""
        if self._closed:
            return
        self._closed = True
        if self._retry is not None:
            self._retry.cancel()
        self._loop.remove_reader(self.fd)
        if self._writing:
            self._loop.remove_writer(self.fd)
        self.reader.feed_eof()
        os.close(self.fd)


class PacedLine:
    """A UART at `baud` (8N1: 10 bits a byte) in both directions over an unpaced stream.

    What the NCP writes reaches the other side when its last byte would have
    left the wire; what it reads is handed over once its line time has passed.
    Reader and writer in one object, as AshNcpLink uses them."""

    def __init__(self, reader: Any, writer: Any, baud: int) -> None:
        if baud <= 0:
            raise ValueError("baud must be positive")
        self._reader, self._writer = reader, writer
        self.byte_s = 10 / baud
        self._loop = asyncio.get_running_loop()
        self._rx_free = self._tx_free = 0.0

    async def read(self, n: int) -> bytes:
        """Read like StreamReader.read, after the bytes' line time."""
        data: bytes = await self._reader.read(n)
        now = self._loop.time()
        self._rx_free = max(now, self._rx_free) + len(data) * self.byte_s
        await asyncio.sleep(self._rx_free - now)
        return data

    def write(self, data: bytes) -> None:
        """Send `data` after what is already on the line."""
        now = self._loop.time()
        self._tx_free = max(now, self._tx_free) + len(data) * self.byte_s
        self._loop.call_at(self._tx_free, self._deliver, bytes(data))

    def _deliver(self, data: bytes) -> None:
        if not self._writer.is_closing():
            self._writer.write(data)

    def is_closing(self) -> bool:
        """Whether the stream underneath is closing."""
        return bool(self._writer.is_closing())

    def close(self) -> None:
        """Close the stream underneath."""
        self._writer.close()
