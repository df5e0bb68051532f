"""How the image tools show things: inspection tables, results, a transfer progress bar."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

from rich.console import Console, Group
from rich.table import Table

from . import keys
from .hub_image import Inspection


def console() -> Console:
    return Console(file=sys.stdout, highlight=False, soft_wrap=True)


def _dev_signed(found: Inspection) -> bool:
    """Whether this checkout's development key signed it (never creates the key)."""
    from .gbcs import verify

    return keys.dev_key_path().exists() and verify(found.image, keys.dev_key().public_key())


def inspection_dict(found: Inspection) -> dict[str, Any]:
    """Everything `image inspect` reports, as plain JSON-able values."""
    img = found.image
    hw = img.hw_versions
    out: dict[str, Any] = {
        "size": len(img.raw),
        "file_sha256": img.file_hash,
        "header": {
            "file_id": f"{int(img.header.upgrade_file_id):#010x}",
            "header_version": f"{int(img.header.header_version):#06x}",
            "header_length": img.header_length,
            "field_control": f"{int(img.header.field_control):#06x}",
            "manufacturer": f"{img.manufacturer:#06x}",
            "image_type": f"{img.image_type:#06x}",
            "file_version": f"{img.file_version:#010x} ({img.version_text})",
            "stack_version": img.stack_version,
            "header_string": img.header_string,
            "total_size": img.total_size,
            "hw_versions": f"{hw[0]:#06x}..{hw[1]:#06x}" if hw else None,
        },
        "zigpy": "OTAImageHeader.deserialize agrees with the raw bytes and re-serialises them exactly",
        "mi_size": len(img.mi),
        "mi_hash": img.mi_hash,
        "force_replace": img.force_replace,
        "signature": img.signature.hex() if img.signed else None,
        "signed_by_dev_key": img.signed and _dev_signed(found),
        "bundle": None,
    }
    if found.bundle is not None:
        m = found.bundle.manifest
        out["bundle"] = {k: v for k, v in m.items() if k != "files"}
        out["bundle"]["files"] = [{"path": p, "size": len(d)} for p, d in found.bundle.files]
    elif found.bundle_error:
        out["bundle_error"] = found.bundle_error
    return out


def _kv_table(title: str, rows: list[tuple[str, Any]]) -> Table:
    t = Table(title=title, title_justify="left", show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold cyan", no_wrap=True)
    t.add_column(overflow="fold")
    for k, v in rows:
        t.add_row(k, "-" if v is None else json.dumps(v) if isinstance(v, (dict, list)) else str(v))
    return t


def inspection_table(found: Inspection, path: Path, list_files: bool = False) -> Group:
    """The tables `image inspect` prints."""
    d = inspection_dict(found)
    sig = d["signature"]
    signature = "none (unsigned: 64 zero bytes)" if sig is None else f"present, raw r||s: {sig[:32]}..."
    if d["signed_by_dev_key"]:
        signature += " (verifies with this checkout's development key)"
    parts: list[Any] = [_kv_table(f"{path} ({d['size']} bytes)", [
        ("file SHA-256", d["file_sha256"]),
        *[(k.replace("_", " "), v) for k, v in d["header"].items()],
        ("zigpy", d["zigpy"]),
        ("MI size", d["mi_size"]),
        ("MI hash", d["mi_hash"]),
        ("force replace", "yes" if d["force_replace"] else "no"),
        ("signature", signature),
    ])]
    b = d["bundle"]
    if b is not None:
        files = b["files"]
        rows = [(k.replace("_", " "), ", ".join(v) if isinstance(v, list) else v)
                for k, v in b.items() if k != "files"]
        rows.append(("files", f"{len(files)} files, {sum(f['size'] for f in files)} bytes"))
        parts += ["", _kv_table("hub app bundle (manifest)", rows)]
        if list_files:
            t = Table(title="bundle files", title_justify="left")
            t.add_column("path")
            t.add_column("bytes", justify="right")
            for f in files:
                t.add_row(f["path"], str(f["size"]))
            parts += ["", t]
    elif d.get("bundle_error"):
        parts += ["", f"[bold red]MI looks like a hub bundle but is broken:[/] {d['bundle_error']}"]
    else:
        parts += ["", "MI is not a commshub app bundle (another vendor's image)"]
    return Group(*parts)


def status_table(st: dict[str, Any]) -> Group:
    """`image.status`: one row per slot, then the transfer and any scheduled activation."""
    running = st.get("running") or {}
    t = Table(title=f"running {running.get('version', '?')} from slot {running.get('slot', '?')}",
              title_justify="left")
    for col in ("slot", "state", "version", "MI hash"):
        t.add_column(col)
    for name, slot in sorted((st.get("slots") or {}).items()):
        t.add_row(name, str(slot.get("state", "-")), str(slot.get("version") or "-"), str(slot.get("hash") or "-"))
    rest = [(k, v) for k, v in st.items() if k not in ("running", "slots")]
    return Group(t, _kv_table("", [(k, "-" if v is None else v) for k, v in rest]))


def result_table(result: dict[str, Any]) -> Table:
    """A hub's activation (CS06) result."""
    rows = list(result.items())
    return _kv_table("activation", rows)


@contextlib.contextmanager
def push_progress(size: int) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar (bytes, rate, ETA) for a transfer; yields the `progress` callback."""
    from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                               TransferSpeedColumn)

    with Progress(TextColumn("[bold]image"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  TimeRemainingColumn(), console=Console(file=sys.stderr), transient=False) as bar:
        task = bar.add_task("push", total=size)

        def update(offset: int, total: int) -> None:
            bar.update(task, completed=offset, total=total)

        yield update
