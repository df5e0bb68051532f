"""A capture of the virtual air: every AirEvent to a JSON-lines file and a readable timeline.

Two files per capture, written as events happen (flushed per event, so a crash
or a killed test still leaves everything up to that point):

- `NAME.jsonl`: one JSON object per line, machine-readable and replayable
  (`read_records`). The first record is `{"kind": "capture", ...}`; names given
  to radios are `{"kind": "name", "eui64": ..., "name": ...}` records; every
  other record is an AirEvent: `t`, `kind`, `src`/`dst` (`{"eui64", "nwk"}`),
  `aps` (`{"profile", "cluster", "src_ep", "dst_ep", "seq"}`), `payload` (hex),
  `status`, `detail`.
- `NAME.txt`: the timeline a person reads, one line per event: air time, what,
  who to whom (names such as `hub`, `ESME` when known, else the EUI-64), short
  address, the APS header and the payload decoded with zigpy (`decode`)::

      12.345  unicast      ESME 0x1A2B -> hub 0x0000  APS SE 0x0000 ep 1->1 seq 5  ZCL Basic > Read_Attributes tsn=3: zcl_version

`commshub capture show NAME.jsonl [--follow]` prints the same timeline from
the JSON-lines file (`Timeline` is the one renderer for both).

Usage in a test (the fixture factory B's HIL suites use, one capture per test)::

    from commshub.radio.capture import capture_to

    @pytest.fixture
    def air_capture(request, air, tmp_path):
        with capture_to(air, tmp_path / f"{request.node.name}.jsonl",
                        names={hub_eui: "hub", esme_eui: "ESME"}) as cap:
            yield cap          # cap.name(eui, "GSME") names a radio later

`air` is anything with `add_listener(fn)` / `remove_listener(fn)` (a
`VirtualAir`; on an `AirThread` the listener runs on the air's thread, which
is fine: a capture only appends to its own files).
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import dataclasses
import datetime
import enum
import json
from pathlib import Path
import time
from typing import IO, Any, Protocol

from commshub.radio.decode import cluster_name, describe, profile_name

FORMAT_VERSION = 1
BROADCASTS = {0xFFFF: "all", 0xFFFD: "rx-on", 0xFFFC: "routers", 0xFFFB: "low-power-routers"}


class Listenable(Protocol):
    """What a capture attaches to (VirtualAir, AirThread)."""

    def add_listener(self, fn: Any) -> None: ...  # noqa: D102

    def remove_listener(self, fn: Any) -> None: ...  # noqa: D102


def jsonable(value: Any) -> Any:
    """A JSON-safe copy of an event field: bytes as hex, enums by name, tuples as lists."""
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if hasattr(value, "_asdict"):  # NamedTuple (Addr, Aps)
        return {k: jsonable(v) for k, v in value._asdict().items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return str(value)


def to_record(event: Any) -> dict[str, Any]:
    """An AirEvent as a JSON-lines record (see the module docstring)."""
    return {
        "t": round(float(event.t), 6),
        "kind": str(event.kind),
        "src": jsonable(event.src),
        "dst": jsonable(event.dst),
        "aps": jsonable(event.aps),
        "payload": bytes(event.payload or b"").hex(),
        "status": str(event.status or ""),
        "detail": jsonable(event.detail or {}),
    }


class Timeline:
    """Renders records to timeline lines; remembers names given along the way."""

    def __init__(self, names: dict[str, str] | None = None) -> None:
        self.names: dict[str, str] = {_norm(k): v for k, v in (names or {}).items()}

    def who(self, addr: dict[str, Any] | None) -> str:
        """`ESME 0x1A2B`, `00:11:..:77 0x1A2B`, `broadcast rx-on 0xFFFD` or `?`."""
        if not addr:
            return "?"
        eui, nwk = addr.get("eui64") or "", addr.get("nwk")
        if not eui and nwk in BROADCASTS:
            return f"broadcast {BROADCASTS[nwk]} 0x{nwk:04X}"
        label = self.names.get(_norm(eui), eui) if eui else "?"
        return label if nwk is None else f"{label} 0x{int(nwk):04X}"

    def render(self, rec: dict[str, Any]) -> str | None:
        """One timeline line for a record; name records update names and print nothing."""
        kind = rec.get("kind", "?")
        if kind == "name":
            self.names[_norm(rec["eui64"])] = rec["name"]
            return None
        if kind == "unreadable":
            return f"# unreadable line: {(rec.get('detail') or {}).get('line', '')}"
        if kind == "capture":
            return f"# capture started {rec.get('started', '?')} (format {rec.get('version', '?')})"
        parts = [f"{float(rec.get('t', 0.0)):9.3f}", f"{kind:<11}", self.who(rec.get("src"))]
        if rec.get("dst"):
            parts[-1] += " -> " + self.who(rec["dst"])
        if rec.get("status"):
            parts.append(f"[{rec['status']}]")
        aps = rec.get("aps")
        payload = bytes.fromhex(rec.get("payload") or "")
        if aps:
            prof, clus = int(aps["profile"]), int(aps["cluster"])
            # ids here, names in the decoded payload (or the name alone if there is none)
            parts.append(f"APS {profile_name(prof)} 0x{clus:04X} "
                         f"ep {aps['src_ep']}->{aps['dst_ep']} seq {aps['seq']}")
            parts.append(describe(prof, clus, payload) if payload else cluster_name(prof, clus))
        elif payload:
            parts.append(f"raw {payload.hex()}")
        detail = rec.get("detail") or {}
        if detail:
            parts.append(" ".join(f"{k}={_plain(v)}" for k, v in detail.items()))
        return "  ".join(parts)


class Capture:
    """An air listener writing `path` (JSON lines) and `path.with_suffix('.txt')` (timeline)."""

    def __init__(self, path: str | Path, names: dict[str, str] | None = None,
                 timeline: bool = True) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.timeline_path = self.path.with_suffix(".txt") if timeline else None
        self._jsonl: IO[str] = open(self.path, "w", encoding="utf-8")  # noqa: SIM115
        self._txt: IO[str] | None = (
            open(self.timeline_path, "w", encoding="utf-8") if self.timeline_path else None  # noqa: SIM115
        )
        self._timeline = Timeline()
        self.count = 0
        started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        self._write({"kind": "capture", "version": FORMAT_VERSION, "started": started,
                     "wall": time.time()})
        for eui, label in (names or {}).items():
            self.name(eui, label)

    def name(self, eui64: Any, label: str) -> None:
        """Show the radio with this EUI-64 as `label` from now on (`hub`, `ESME`, ...)."""
        self._write({"kind": "name", "eui64": _norm(str(eui64)), "name": label})

    def __call__(self, event: Any) -> None:
        """The listener: one event to both files (none once closed)."""
        if self._jsonl.closed:
            return  # a late callback after close is not an error
        self._write(to_record(event))
        self.count += 1

    def _write(self, rec: dict[str, Any]) -> None:
        if self._jsonl.closed:
            return
        self._jsonl.write(json.dumps(rec, separators=(",", ":")) + "\n")
        self._jsonl.flush()
        line = self._timeline.render(rec)
        if self._txt is not None and line is not None:
            self._txt.write(line + "\n")
            self._txt.flush()

    def close(self) -> None:
        """Close both files (idempotent)."""
        self._jsonl.close()
        if self._txt is not None:
            self._txt.close()


def attach(air: Listenable, path: str | Path, names: dict[str, str] | None = None,
           timeline: bool = True) -> Capture:
    """Start capturing `air` to `path` until `detach` (for long-running programs: `commshub air serve`)."""
    cap = Capture(path, names=names, timeline=timeline)
    air.add_listener(cap)
    return cap


def detach(air: Listenable, cap: Capture) -> None:
    """Stop a capture `attach` started and close its files (a closed capture ignores late events)."""
    with contextlib.suppress(ValueError):  # already removed by the air's owner
        air.remove_listener(cap)
    cap.close()


@contextlib.contextmanager
def capture_to(air: Listenable, path: str | Path, names: dict[str, str] | None = None,
               timeline: bool = True) -> Iterator[Capture]:
    """Capture everything on `air` while the block runs (see the module docstring)."""
    cap = attach(air, path, names=names, timeline=timeline)
    try:
        yield cap
    finally:
        detach(air, cap)


def read_records(path: str | Path, follow: bool = False, poll_s: float = 0.2) -> Iterator[dict[str, Any]]:
    """The records of a capture file, in order; with `follow`, wait for more (like tail -f).

    A line that is not a JSON object (a half-written last line, garbage) is
    reported as a record of kind `unreadable` with the line, not raised."""
    with open(path, encoding="utf-8") as f:
        pending = ""
        while True:
            line = f.readline()
            if not line:
                if not follow:
                    if pending:
                        yield _parse(pending)
                    return
                time.sleep(poll_s)
                continue
            pending += line
            if not pending.endswith("\n"):
                continue  # the writer is mid-line: wait for the rest
            yield _parse(pending)
            pending = ""


def _parse(line: str) -> dict[str, Any]:
    try:
        rec = json.loads(line)
    except ValueError:
        rec = None
    if not isinstance(rec, dict):
        return {"kind": "unreadable", "detail": {"line": line.strip()[:200]}}
    return rec


def _norm(eui: str) -> str:
    # Names may be given as printed (02AABB...) or as zigpy writes them (02:aa:bb:...).
    return eui.replace(":", "").lower()


def _plain(v: Any) -> str:
    return json.dumps(v, separators=(",", ":")) if isinstance(v, (dict, list)) else str(v)
