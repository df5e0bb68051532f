"""Command front-end core: registry and dispatcher, duplicate suppression."""

from hub.errors import HubError  # noqa: F401  (the structured error of every reply)
