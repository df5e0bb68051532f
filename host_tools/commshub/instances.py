"""Running emulated boards leave a note (`instance.json`) so other commands find them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from . import paths


def _note(name: str) -> Path:
    return paths.EMULATORS / name / "instance.json"


def record(name: str, **fields: Any) -> None:
    """Write the note for instance `name` (atomically: a reader never sees half)."""
    p = _note(name)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps(dict(fields, name=name, owner_pid=os.getpid()), indent=2))
    tmp.replace(p)


def forget(name: str) -> None:
    _note(name).unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def running() -> list[dict[str, Any]]:
    """Notes of instances whose owning process is still alive."""
    out = []
    if paths.EMULATORS.exists():
        for p in sorted(paths.EMULATORS.glob("*/instance.json")):
            try:
                note = json.loads(p.read_text())
            except (OSError, ValueError):
                continue
            if _alive(int(note.get("owner_pid", 0))):
                out.append(note)
    return out


def find(name: str | None) -> dict[str, Any] | None:
    """The running instance called `name`, or the only one running when `name` is None."""
    live = running()
    if name:
        return next((n for n in live if n["name"] == name), None)
    return live[0] if len(live) == 1 else None
