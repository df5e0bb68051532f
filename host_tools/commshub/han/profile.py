"""A daily consumption profile integrated in closed form (the meters' models).

rate(t) = base + swing * sin(2*pi*t / 1 day), in units per hour (W for
electricity, dm3/h for gas); `amount(t)` is the exact integral since `start`
in unit-hours (Wh, dm3), so a reading never depends on how often it is taken.
"""

from __future__ import annotations

import math

DAY = 86400.0


class DailyProfile:
    """Consumption rate and accumulated amount over simulated time."""

    def __init__(self, start: float, *, base: float, swing: float, opening: int = 0) -> None:
        self.start = start
        self.base = base
        self.swing = swing
        self.opening = opening

    def rate(self, now: float) -> float:
        """Units per hour at `now` (Unix seconds, simulated)."""
        return self.base + self.swing * math.sin(2 * math.pi * now / DAY)

    def _integral(self, t: float) -> float:  # unit-seconds per hour
        return self.base * t - self.swing * DAY / (2 * math.pi) * math.cos(2 * math.pi * t / DAY)

    def amount(self, now: float) -> float:
        """Unit-hours used between `start` and `now`."""
        return (self._integral(now) - self._integral(self.start)) / 3600.0

    def total(self, now: float) -> int:
        """The register: opening reading plus what was used (whole units)."""
        return self.opening + int(self.amount(now))
