"""Reconnect delays: exponential from 0.5 s doubling to 30 s, with full jitter."""

import random


class Backoff:
    def __init__(self, base_ms=500, cap_ms=30000):
        self.base_ms = base_ms
        self.cap_ms = cap_ms
        self.attempt = 0

    def ceiling_ms(self):
        """The upper bound of the next delay."""
        return min(self.cap_ms, self.base_ms << min(self.attempt, 16))

    def next_ms(self):
        """A delay uniformly drawn from [0, ceiling] ("full jitter"); then double."""
        top = self.ceiling_ms()
        self.attempt += 1
        return random.getrandbits(20) * top >> 20

    def reset(self):
        """After a good connection the next failure starts from the base again."""
        self.attempt = 0
