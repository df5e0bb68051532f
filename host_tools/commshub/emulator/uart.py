"""The emulated board's control UART: a pty pair per side and a relay thread.

The firmware opens the slave of one pty pair, the user (pyserial, a terminal,
`commshub` itself) opens the slave of the other; a thread copies bytes between
the two masters, optionally at the board's line rate, and can also serve the
user side on a TCP port (`socket://127.0.0.1:PORT`). The host keeps both
slaves open so reading a master never hits EIO while nobody has the other end
open - clients can come and go, and the firmware can reboot, without the relay
noticing.
"""

from __future__ import annotations

import ctypes
import errno
import os
import select
import socket
import termios
import threading
import time
import tty
from pathlib import Path

# 8N1 framing: a start bit, eight data bits and a stop bit per byte.
BITS_PER_BYTE = 10
# Burst a paced line may send at once: the 128-byte hardware FIFO of an ESP32
# UART. It lets short frames through without delay yet keeps long ones at rate.
BURST_BYTES = 16  # about 1.4 ms at 115200: short frames pay close to their real line time
# Bytes read from one side but not yet delivered; past it the relay stops
# reading that side, which blocks the writer like hardware flow control would.
PENDING_LIMIT = 64 * 1024
# A TCP client that falls this far behind is disconnected rather than buffered.
CLIENT_BACKLOG_LIMIT = 1024 * 1024
READ_CHUNK = 4096


class TokenBucket:
    """Byte budget refilled at `rate` bytes/s, holding at most `burst` bytes."""

    def __init__(self, rate: float, burst: float = BURST_BYTES) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = time.monotonic()
        self.busy = False  # bytes were left waiting at the last take: the line never went idle

    def _refill(self, now: float) -> None:
        self.tokens += (now - self.stamp) * self.rate
        # The burst cap models an idle line; a busy one sends back to back, so a
        # late wake-up of the relay must not lose line time (it made 115200 baud
        # run about 6 % slow).
        if not self.busy:
            self.tokens = min(self.burst, self.tokens)
        self.stamp = now

    def take(self, want: int, now: float | None = None) -> int:
        """Take up to `want` whole bytes of budget now; returns how many."""
        self._refill(time.monotonic() if now is None else now)
        n = min(want, int(self.tokens))
        self.tokens -= n
        self.busy = n < want
        return n

    def wait(self, want: int = 1) -> float:
        """Seconds until `want` bytes (capped at burst) are available."""
        self._refill(time.monotonic())
        need = min(want, self.burst) - self.tokens
        return max(0.0, need / self.rate)


def _pty_pair() -> tuple[int, int, str]:
    master, slave = os.openpty()
    # Raw: no echo, no CR/LF translation, no signals - bytes pass unchanged.
    tty.setraw(slave, termios.TCSANOW)
    os.set_blocking(master, False)
    return master, slave, os.ttyname(slave)


class _Line:
    """One direction of the line: pending bytes and their pacing."""

    def __init__(self, bucket: TokenBucket | None) -> None:
        self.pending = bytearray()
        self.bucket = bucket

    def allowance(self) -> int:
        if not self.pending:
            return 0
        return len(self.pending) if self.bucket is None else self.bucket.take(len(self.pending))

    def delay(self) -> float | None:
        if not self.pending or self.bucket is None:
            return None
        return self.bucket.wait(len(self.pending))


class UartLink:
    """Two pty pairs (firmware side, user side) plus an optional TCP listener.

    `pace=True` limits each direction to `baud / 10` bytes per second.
    `tcp_port=0` picks a free port; `link` makes a symlink to the user pty.
    """

    def __init__(self, baud: int = 115200, pace: bool = False, tcp_port: int | None = None,
                 link: Path | None = None) -> None:
        self.baud = baud
        self.pace = pace
        rate = baud / BITS_PER_BYTE
        self._to_fw = _Line(TokenBucket(rate) if pace else None)
        self._to_user = _Line(TokenBucket(rate) if pace else None)
        self._fw_master, self._fw_slave, self.firmware_path = _pty_pair()
        self._user_master, self._user_slave, self.user_path = _pty_pair()
        self._clients: dict[socket.socket, bytearray] = {}
        self._listener: socket.socket | None = None
        self.tcp_port: int | None = None
        if tcp_port is not None:
            ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind(("127.0.0.1", tcp_port))
            ls.listen(4)
            ls.setblocking(False)
            self._listener = ls
            self.tcp_port = ls.getsockname()[1]
        self.link = link
        if link is not None:
            tmp = link.with_name(link.name + ".new")
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(self.user_path)
            os.replace(tmp, link)
        self._powered = False
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._closed = False
        self._opens = _watch_opens(self.user_path)
        self.bytes_to_firmware = 0
        self.bytes_to_user = 0
        self._thread = threading.Thread(target=self._run, name=f"uart-relay {self.user_path}",
                                        daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """`socket://127.0.0.1:PORT` when serving TCP, else the user pty path."""
        return f"socket://127.0.0.1:{self.tcp_port}" if self.tcp_port is not None else self.user_path

    def set_powered(self, on: bool) -> None:
        """Power the firmware end: off drops bytes for it; on starts with an empty RX FIFO."""
        with self._lock:
            self._powered = on
            self._to_fw.pending.clear()
            # Bytes the previous process never read would otherwise greet the
            # next boot; a real UART's RX FIFO is empty after reset.
            termios.tcflush(self._fw_slave, termios.TCIFLUSH)
        self._wake()

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def close(self) -> None:
        """Stop the relay and release the ptys, the listener and the symlink."""
        if self._closed:
            return
        self._closed = True
        self._wake()
        self._thread.join(timeout=5)
        for c in list(self._clients):
            c.close()
        if self._listener is not None:
            self._listener.close()
        for fd in (self._fw_master, self._fw_slave, self._user_master, self._user_slave,
                   self._wake_r, self._wake_w, self._opens):
            if fd is None:
                continue
            try:
                os.close(fd)
            except OSError:
                pass
        if self.link is not None and self.link.is_symlink():
            self.link.unlink(missing_ok=True)

    def __enter__(self) -> UartLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- relay thread -----------------------------------------------------

    def _run(self) -> None:
        while not self._closed:
            try:
                self._step()
            except Exception as exc:  # noqa: BLE001 - the relay must outlive any client mishap
                print(f"uart relay: {exc!r}")
                time.sleep(0.05)

    def _step(self) -> None:
        poll = select.poll()
        poll.register(self._wake_r, select.POLLIN)
        if len(self._to_user.pending) < PENDING_LIMIT:
            poll.register(self._fw_master, select.POLLIN)
        want_user_in = len(self._to_fw.pending) < PENDING_LIMIT
        if want_user_in:
            poll.register(self._user_master, select.POLLIN)
        if self._listener is not None:
            poll.register(self._listener, select.POLLIN)
        for c, backlog in self._clients.items():
            poll.register(c, (select.POLLIN if want_user_in else 0)
                          | (select.POLLOUT if backlog else 0))
        if self._opens is not None:
            poll.register(self._opens, select.POLLIN)
        fw_blocked = self._flush_to_fw()
        if fw_blocked:
            mask = select.POLLOUT
            if len(self._to_user.pending) < PENDING_LIMIT:
                mask |= select.POLLIN
            poll.register(self._fw_master, mask)
        self._flush_to_user()
        delays = [d for d in (self._to_fw.delay() if not fw_blocked else None,
                              self._to_user.delay()) if d is not None]
        timeout_ms = None if not delays else max(1, int(min(delays) * 1000 + 0.999))
        for fd, ev in poll.poll(timeout_ms):
            self._event(fd, ev)

    def _event(self, fd: int, ev: int) -> None:
        if fd == self._wake_r:
            try:
                os.read(self._wake_r, 512)
            except BlockingIOError:
                pass
        elif fd == self._opens:
            self._user_opened()
        elif fd == self._fw_master and ev & (select.POLLIN | select.POLLHUP | select.POLLERR):
            data = _read(self._fw_master)
            if data:
                self._to_user.pending += data
        elif fd == self._user_master and ev & (select.POLLIN | select.POLLHUP | select.POLLERR):
            self._from_user(_read(self._user_master))
        elif self._listener is not None and fd == self._listener.fileno():
            self._accept()
        else:
            for c in list(self._clients):
                if c.fileno() == fd:
                    self._client_event(c, ev)

    def _user_opened(self) -> None:
        try:
            os.read(self._opens, 4096)  # type: ignore[arg-type]
        except OSError:
            return
        # A serial port that was closed did not collect what the board sent
        # meanwhile; without this a new client would first read stale output
        # queued in the pty while nobody listened.
        termios.tcflush(self._user_slave, termios.TCIFLUSH)

    def _from_user(self, data: bytes) -> None:
        with self._lock:
            # A board that is off has no receiver: the bytes are lost on the wire.
            if data and self._powered:
                self._to_fw.pending += data

    def _accept(self) -> None:
        try:
            c, _ = self._listener.accept()  # type: ignore[union-attr]
        except OSError:
            return
        c.setblocking(False)
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._clients[c] = bytearray()

    def _client_event(self, c: socket.socket, ev: int) -> None:
        if ev & select.POLLIN:
            try:
                data = c.recv(READ_CHUNK)
            except (BlockingIOError, InterruptedError):
                data = None
            except OSError:
                data = b""
            if data == b"":
                self._drop_client(c)
                return
            if data:
                self._from_user(data)
        if ev & select.POLLOUT:
            self._send_client(c, b"")
        elif ev & (select.POLLHUP | select.POLLERR) and not ev & select.POLLIN:
            self._drop_client(c)

    def _drop_client(self, c: socket.socket) -> None:
        self._clients.pop(c, None)
        c.close()

    def _send_client(self, c: socket.socket, data: bytes) -> None:
        backlog = self._clients.get(c)
        if backlog is None:
            return
        backlog += data
        try:
            sent = c.send(backlog)
            del backlog[:sent]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self._drop_client(c)
            return
        if len(backlog) > CLIENT_BACKLOG_LIMIT:
            self._drop_client(c)

    def _flush_to_fw(self) -> bool:
        """Deliver paced bytes to the firmware; True when its pty is full."""
        with self._lock:
            n = self._to_fw.allowance()
            if not n:
                return False
            chunk = bytes(self._to_fw.pending[:n])
            try:
                sent = os.write(self._fw_master, chunk)
            except BlockingIOError:
                sent = 0
            except OSError:
                sent = len(chunk)  # no reader end at all: the bytes are lost
            del self._to_fw.pending[:sent]
            self.bytes_to_firmware += sent
            if sent < n and self._to_fw.bucket is not None:
                # Give back the budget of bytes that did not go out.
                self._to_fw.bucket.tokens += n - sent
            return sent < n

    def _flush_to_user(self) -> None:
        n = self._to_user.allowance()
        if not n:
            return
        chunk = bytes(self._to_user.pending[:n])
        del self._to_user.pending[:n]
        self.bytes_to_user += n
        try:
            os.write(self._user_master, chunk)
        except OSError:
            # Full pty: nobody is reading the user side, and bytes sent into
            # a line nobody listens to are lost, as on a real serial port.
            pass
        for c in list(self._clients):
            self._send_client(c, chunk)


IN_OPEN = 0x20


def _watch_opens(path: str) -> int | None:
    """An inotify fd that becomes readable whenever `path` is opened (None if unsupported)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            return None
        if libc.inotify_add_watch(fd, os.fsencode(path), IN_OPEN) < 0:
            os.close(fd)
            return None
        return int(fd)
    except (OSError, AttributeError):
        return None


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, READ_CHUNK)
    except (BlockingIOError, InterruptedError):
        return b""
    except OSError as exc:
        if exc.errno == errno.EIO:
            # No slave open (cannot happen while we hold ours): back off.
            time.sleep(0.01)
            return b""
        raise
