"""Log lines: printed to the console and kept in a fixed-size ring for log.tail.

The ring is one preallocated bytearray of newline-terminated lines, so logging
never grows the heap beyond the line being formatted.
"""

import time
from micropython import const

_LEVELS = const(("debug", "info", "warn", "error"))
_TAGS = const("DIWE")


class Log:
    def __init__(self, capacity=2048, level=1, echo=True):
        self.buf = bytearray(capacity)
        self.n = 0  # bytes used
        self.level = level
        self.echo = echo
        self.t0 = time.ticks_ms()
        self.count = 0

    def set_level(self, name):
        """Set the threshold by name (debug, info, warn, error)."""
        self.level = _LEVELS.index(name)

    def log(self, level, msg):
        """Log `msg` at numeric `level` (0 debug .. 3 error)."""
        if level < self.level:
            return
        ms = time.ticks_diff(time.ticks_ms(), self.t0)
        for part in msg.split("\n"):
            if not part:
                continue
            line = "%d.%03d %s %s" % (ms // 1000, ms % 1000, _TAGS[level], part)
            if self.echo:
                print(line)
            self._add(line.encode())

    def debug(self, msg):
        self.log(0, msg)

    def info(self, msg):
        self.log(1, msg)

    def warn(self, msg):
        self.log(2, msg)

    def error(self, msg):
        self.log(3, msg)

    def exc(self, msg, e):
        """Log `msg` and the traceback of exception `e` at error level."""
        import io
        import sys

        try:
            s = io.StringIO()
            sys.print_exception(e, s)
            self.log(3, msg + "\n" + s.getvalue())
        except MemoryError:  # the traceback does not fit: its last line does
            self.log(3, "%s: %s" % (msg, type(e).__name__))

    def _add(self, b):
        cap = len(self.buf)
        if len(b) >= cap // 4:
            b = b[: cap // 4 - 1]
        need = len(b) + 1
        if self.n + need > cap:
            # Drop whole oldest lines until the new one fits.
            cut = self.buf.find(b"\n", self.n + need - cap - 1) + 1
            if cut <= 0 or cut > self.n:
                cut = self.n
            # Move the rest down in place, in steps no longer than `cut` so
            # source and destination never overlap (a copy would take up to
            # the whole ring in one more piece of heap).
            mv = memoryview(self.buf)
            for i in range(0, self.n - cut, cut):
                k = min(cut, self.n - cut - i)
                mv[i:i + k] = mv[cut + i:cut + i + k]
            self.n -= cut
        self.buf[self.n:self.n + need - 1] = b
        self.buf[self.n + need - 1] = 10
        self.n += need
        self.count += 1

    def tail(self, n=20, max_bytes=0):
        """The last `n` lines, oldest first; at most `max_bytes` of text if given."""
        lines = str(bytes(memoryview(self.buf)[0:self.n]), "utf-8").split("\n")
        lines.pop()  # after the final newline
        lines = lines[-n:] if n > 0 else []
        if max_bytes:
            total = 0
            k = len(lines)
            while k > 0 and total + len(lines[k - 1]) + 4 <= max_bytes:
                k -= 1
                total += len(lines[k]) + 4
            lines = lines[k:]
        return lines


# The firmware's one log; tests make their own.
log = Log()
