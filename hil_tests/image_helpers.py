"""Helpers for the image suites: build images for the hub under test, read its state."""

from __future__ import annotations

import time

from commshub.images import gbcs, keys, push
from commshub.images.hub_image import build_hub_image


def running_version(hub) -> str:
    return push.status(hub.serial)["running"]["version"]


def bump(version: str, by: int = 1) -> str:
    a, b, c = (int(x) for x in version.split("."))
    c += by
    return f"{a}.{b + c // 256}.{c % 256}"


def image_for(hub, *, version: str | None = None, **kw) -> bytes:
    """A signed image for this hub's board, one patch version above what it runs unless told."""
    version = version or bump(running_version(hub))
    return build_hub_image(hub.board.name, version=version, **kw)


def mi_hash(image: bytes) -> str:
    return gbcs.parse_image(image).mi_hash


def alerts(link, since: float, code: int | None = None) -> list[dict]:
    """Bodies of `alert` events received since `since` (optionally of one code)."""
    return [e.body for e in link.events("alert") if e.received >= since and (code is None or e.body.get("code") == code)]


def wait_alert(link, code: int, since: float, timeout: float = 30.0) -> dict:
    return link.wait_event("alert", timeout=timeout, since=since, where=lambda e: e.body.get("code") == code).body


def wait_version(hub, version: str, timeout: float = 60.0) -> dict:
    """Wait until the hub answers and runs `version`; returns image.status."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            st = push.status(hub.serial, timeout=1)
            last = st["running"]["version"]
            if last == version:
                return st
        except Exception:
            pass
        time.sleep(0.1)
    raise AssertionError(f"hub runs {last}, not {version}, after {timeout:.0f} s")


def other_key():
    """A signing key the hub does not trust."""
    return keys.generate()
