"""Run one emulated HAN device as a long-lived program (`commshub han start`).

`DeviceSpec` says what to run and where; `run_device()` builds the model,
attaches it to its NCP (a new NCP on a `commshub air serve` air through its
control port, or an NCP URL / serial port: a real dongle), joins (retrying
while the hub has not admitted it yet) and serves until stopped, keeping a
status note in `.cache/han/<name>.json` that `commshub han list` reads, and its
non-volatile memory in `.cache/han/state/<name>.json` (commshub.han.persist),
which the next `han start` with the same name resumes from.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import secrets
import signal
import time
from pathlib import Path
from typing import Any

from commshub import paths
from commshub.han import persist
from commshub.han.clock import SimClock
from commshub.han.clusters import TopUpResult
from commshub.han.esme import Esme
from commshub.han.gsme import Gsme
from commshub.han.ppmid import Ppmid
from commshub.han.runtime import HanDevice, Identity, Network, version_text
from commshub.radio.device import JoinError

KINDS: dict[str, type[HanDevice]] = {"esme": Esme, "gsme": Gsme, "ppmid": Ppmid}
IMAGE_TYPES = {"esme": 0x0101, "gsme": 0x0201, "ppmid": 0x0501}
DEV_TOP_UP_KEY = b"commshub-dev-top-up-key"  # emulator UTRNs (docs/HAN_DEVICES.md)
JOIN_RETRY_S = 5.0
STATUS_PERIOD_S = 1.0


@dataclasses.dataclass
class DeviceSpec:
    """Everything `commshub han start` was told."""

    kind: str
    name: str
    eui64: str
    install_code: str  # 32 hex digits (16 bytes), or 36 with the CRC
    air: str | None = None  # HOST:PORT of an air's control port
    port: str | None = None  # socket://HOST:PORT or a serial device (a real dongle)
    ezsp: int = 8
    network: Network = dataclasses.field(default_factory=Network)
    time_scale: float = 1.0
    file_version: int = 0x01000000
    manufacturer_code: int = 0x1234
    image_type: int | None = None
    trusted_key: str | None = None  # hex or file; default: the development key
    options: dict[str, Any] = dataclasses.field(default_factory=dict)  # model options
    fresh: bool = False  # ignore the state a previous run of this name left


def notes_dir() -> Path:
    """Where running devices keep their notes (COMMSHUB_HAN_NOTES overrides, e.g. for tests)."""
    return Path(os.environ.get("COMMSHUB_HAN_NOTES") or paths.CACHE / "han")


def note_path(name: str) -> Path:
    return notes_dir() / f"{name}.json"


def state_path(name: str) -> Path:
    """The device's non-volatile memory (kept after it stops: `han start --name` resumes it)."""
    return notes_dir() / "state" / f"{name}.json"


def save_state(spec: DeviceSpec, dev: HanDevice) -> None:
    write_note(f"state/{spec.name}", {**persist.snapshot(dev), "install_code": spec.install_code,
                                      "eui64": spec.eui64})


def saved_state(name: str) -> dict[str, Any] | None:
    """What a previous device called `name` kept, or None."""
    try:
        return dict(json.loads(state_path(name).read_text()))
    except (OSError, ValueError):
        return None


def write_note(name: str, fields: dict[str, Any]) -> None:
    """The device's status note (atomic: a reader never sees half)."""
    p = note_path(name)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(fields, indent=1, default=str))
    tmp.replace(p)


def read_notes() -> list[dict[str, Any]]:
    """Notes of devices whose process is alive (stale notes are removed)."""
    out = []
    for p in sorted(notes_dir().glob("*.json")) if notes_dir().exists() else []:
        try:
            note = json.loads(p.read_text())
            os.kill(int(note["pid"]), 0)
        except (OSError, ValueError, KeyError):
            p.unlink(missing_ok=True)
            continue
        out.append(note)
    return out


def request_path(name: str) -> Path:
    """Where a request for running device `name` waits (`commshub han top-up`): the device takes it."""
    return notes_dir() / "requests" / f"{name}.json"


def post_request(name: str, fields: dict[str, Any]) -> str:
    """Leave a request (`{"top_up": UTRN}` or `{"emergency_credit": true}`) for running PPMID `name`;
    its id. The outcome comes back in the device's note as `request` with that id."""
    rid = secrets.token_hex(4)
    write_note(f"requests/{name}", {**fields, "id": rid})
    return rid


async def take_request(dev: HanDevice, name: str) -> dict[str, Any] | None:
    """Carry out the request waiting for this device, if any, as a consumer at the PPMID's keypad
    would; its outcome for the note."""
    p = request_path(name)
    try:
        req = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    p.unlink(missing_ok=True)
    out: dict[str, Any] = {"id": req.get("id")}
    try:
        if not isinstance(dev, Ppmid):
            raise ValueError(f"{name} is a {dev.kind}: top-ups and emergency credit are entered on a PPMID")
        if "top_up" in req:
            result, value = await dev.top_up(str(req["top_up"]))
            out.update(result=result.name, value=value, accepted=result == TopUpResult.Accepted)
        else:
            out["accepted"] = await dev.emergency_credit()
        out["display"] = dict(dev.display)
    except (ValueError, ConnectionError, TimeoutError) as exc:
        out.update(accepted=False, error=str(exc) or repr(exc))
    return out


def ncp_path(spec: DeviceSpec) -> str:
    """The NCP to drive: a new one on the air (control port), or the port given."""
    if spec.port:
        return spec.port
    if not spec.air:
        raise ValueError("give --air HOST:PORT (a `commshub air serve` control port) or --port NCP")
    from commshub.radio.control import request  # noqa: PLC0415  (only with --air)

    host, _, port = spec.air.rpartition(":")
    host = host or "127.0.0.1"
    # The device's radio may still be on the air from an earlier run (a restart of the
    # device, not of its radio): use it, with the network it keeps in its tokens.
    radios = request(host, int(port), {"cmd": "list"}).get("radios", [])
    mine = next((r for r in radios if r["eui64"] == spec.eui64 and r.get("port")), None)
    if mine is None:
        mine = request(host, int(port), {"cmd": "add_ncp", "eui64": spec.eui64, "ezsp": spec.ezsp})
        if not mine.get("ok"):
            raise ValueError(f"the air refused a new NCP for {spec.eui64}: {mine.get('error')}")
    return f"socket://{host}:{mine['port']}"


def build(spec: DeviceSpec, path: str) -> HanDevice:
    """The device model for `spec`, on the NCP at `path`."""
    from commshub.images import keys  # noqa: PLC0415

    if spec.kind not in KINDS:
        raise ValueError(f"unknown kind {spec.kind!r} (esme, gsme, ppmid)")
    trusted = keys.load_public(spec.trusted_key) if spec.trusted_key else keys.dev_key().public_key()
    cls = KINDS[spec.kind]
    identity = Identity(model=f"{spec.kind.upper()} emulator", manufacturer_code=spec.manufacturer_code,
                        image_type=spec.image_type if spec.image_type is not None else IMAGE_TYPES[spec.kind],
                        file_version=spec.file_version, power_source=3 if spec.kind == "gsme" else 1)
    kw: dict[str, Any] = dict(install_code=bytes.fromhex(spec.install_code), identity=identity,
                              clock=SimClock(spec.time_scale), trusted_key=trusted, **spec.options)
    if spec.kind in ("esme", "gsme"):
        kw.setdefault("top_up_key", DEV_TOP_UP_KEY)
    dev = cls(path, **kw)
    state = None if spec.fresh else saved_state(spec.name)
    if state is not None:
        if state.get("eui64") not in (None, spec.eui64):
            raise ValueError(f"{spec.name} was {state.get('eui64')}, not {spec.eui64}: use another "
                             "--name, or --fresh to start over")
        persist.restore(dev, state)
        dev.note(f"restored its memory from {state_path(spec.name)}")
    return dev


def status(dev: HanDevice, spec: DeviceSpec, state: str, path: str) -> dict[str, Any]:
    """What `han list` shows about a running device."""
    out: dict[str, Any] = {
        "name": spec.name, "kind": spec.kind, "pid": os.getpid(), "eui64": spec.eui64,
        "install_code": spec.install_code, "ncp": path, "state": state,
        "nwk": f"{dev.radio.node_id:#06x}" if dev.radio.node_id is not None else None,
        "version": version_text(dev.identity.file_version), "updated": time.time(),
        "log": dev.log[-5:],
    }
    if dev.ota is not None:
        out["ota"] = {"status": dev.ota.status.name, "progress": dev.ota.progress,
                      "outcome": dev.ota.outcome}
    for attr in ("display", "wakes", "commands"):
        if hasattr(dev, attr):
            value = getattr(dev, attr)
            out[attr] = len(value) if attr == "commands" else value
    if hasattr(dev, "account"):
        out["credit_p"] = dev.account.credit_remaining()  # type: ignore[attr-defined]
    return out


async def run_device(spec: DeviceSpec) -> int:
    """Run until SIGTERM/SIGINT; 0 when stopped, 1 when the NCP could not be used."""
    path = ncp_path(spec)
    dev = build(spec, path)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    state = "joining"
    write_note(spec.name, status(dev, spec, state, path))

    async def join() -> None:
        nonlocal state
        while True:
            try:
                await dev.start(spec.network)
                state = "joined"
                return
            except (JoinError, TimeoutError) as exc:
                state = f"not joined ({exc}); admit {spec.eui64} with its install code; retrying"
                await dev.stop()
                await asyncio.sleep(JOIN_RETRY_S)

    joiner = asyncio.ensure_future(join())
    request: dict[str, Any] | None = None  # the outcome of the last `han top-up`
    try:
        while not stop.is_set():
            if state == "joined":
                request = await take_request(dev, spec.name) or request
            write_note(spec.name, {**status(dev, spec, state, path), "request": request})
            if state == "joined":
                save_state(spec, dev)
            if joiner.done() and joiner.exception() is not None:
                state = f"failed: {joiner.exception()!r}"
                write_note(spec.name, status(dev, spec, state, path))
                return 1
            try:
                await asyncio.wait_for(stop.wait(), STATUS_PERIOD_S)
            except TimeoutError:
                pass
    finally:
        joiner.cancel()
        if state == "joined":
            save_state(spec, dev)
        await dev.stop()
        note_path(spec.name).unlink(missing_ok=True)
    return 0


def _main(argv: list[str]) -> int:
    """`python -m commshub.han.launch SPEC_JSON`: what `han start` runs in the background."""
    raw = json.loads(argv[0])
    raw["network"] = Network(**raw["network"])
    return asyncio.run(run_device(DeviceSpec(**raw)))


if __name__ == "__main__":
    import sys

    sys.exit(_main(sys.argv[1:]))
