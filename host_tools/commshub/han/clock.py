"""Simulated time for the device models: real time scaled, plus jumps tests can make.

A meter's consumption, a gas meter's wake schedule and an OTA upgrade time all
run on a `SimClock`. `time_scale` > 1 runs the models faster than real time
(an hour of consumption in seconds); `advance()` jumps ahead at once. The
radio is not scaled by this clock (the virtual air has its own time_scale).
"""

from __future__ import annotations

import asyncio
import time

JUMP_CHECK_S = 0.05  # how often a sleeper looks for an advance() (real seconds)
ZIGBEE_EPOCH = 946684800  # 2000-01-01T00:00:00Z: ZCL UTCTime counts from here


class SimClock:
    """Seconds since the Unix epoch in simulated time."""

    def __init__(self, time_scale: float = 1.0, start: float | None = None) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale}")
        self.time_scale = time_scale
        self._start = time.time() if start is None else start
        self._t0 = time.monotonic()
        self._jumped = 0.0

    def now(self) -> float:
        """Simulated Unix time."""
        return self._start + (time.monotonic() - self._t0) * self.time_scale + self._jumped

    def zigbee_now(self) -> int:
        """Simulated time as a ZCL UTCTime (seconds since 2000)."""
        return max(0, int(self.now()) - ZIGBEE_EPOCH)

    def advance(self, seconds: float) -> None:
        """Jump simulated time forward (models integrate over the jump)."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._jumped += seconds

    async def sleep(self, seconds: float) -> None:
        """Sleep for `seconds` of simulated time (cut short by `advance()` jumps)."""
        target = self.now() + seconds
        while (left := target - self.now()) > 0:
            await asyncio.sleep(min(left / self.time_scale, JUMP_CHECK_S))
