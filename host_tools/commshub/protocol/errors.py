"""Structured errors as the hub reports them."""

from __future__ import annotations


class HubError(Exception):
    """The hub answered a command with an error: a code and a message."""

    def __init__(self, code: str, message: str, command: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.command = command


class HubTimeout(TimeoutError):
    """No answer from the hub in time (a lost frame, a dead link or a hub that is down)."""
