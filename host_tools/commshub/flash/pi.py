"""Install the hub on a Raspberry Pi, run on the Pi itself (`make flash BOARD=raspberry-pi`).

The Pi's "flash" is a file: the same littlefs image as every board, in
<state>/flash.bin, booted by the MicroPython Unix port that `make setup`
built on the Pi, under systemd (scripts/pi/commshub-hub.service). The
commands are plain `sudo install` / `systemctl` lines so `--dry-run` shows
exactly what changes on the system.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from .. import paths
from ..emulator.board import ROM
from . import hubfs
from .plans import Unit
from .runner import Step
from .spec import BoardSpec

UNIT_TEMPLATE = paths.REPO / "scripts" / "pi" / "commshub-hub.service"


def machine_hub_id() -> str:
    """The hub ID the Linux firmware falls back to: the first 16 digits of /etc/machine-id."""
    try:
        mid = Path("/etc/machine-id").read_text().strip().upper()
    except OSError:
        mid = ""
    if len(mid) < 16:
        raise RuntimeError("no /etc/machine-id to derive a hub ID from: give --hub-id")
    return mid[:16]


def render_unit(spec: BoardSpec, port: str, radio: str | None = None) -> str:
    """The systemd unit for this Pi, from the template and the board description.

    `radio` is the NCP dongle's tty (default: the board's `radio.uart`).
    """
    inst = spec.host["install"]
    b = spec.board
    values = {"PREFIX": inst["prefix"], "STATE": inst["state"], "USER": inst["user"], "PORT": port,
              "BAUD": str(spec.console.baud), "HEAP": str(b.heap_bytes), "BS": b.rom_fs_arg,
              "BC": str(b.block_count), "RADIO": radio or str(spec.ncp.uart), "RADIO_BAUD": str(spec.ncp.baud)}
    text = UNIT_TEMPLATE.read_text()
    for k, v in values.items():
        text = text.replace(f"@{k}@", v)
    return text


def steps(unit: Unit) -> list[Step]:
    """Install (or reinstall: the hub's filesystem is replaced, like a reflash) on this Pi."""
    spec, port = unit.spec, unit.port
    inst = spec.host["install"]
    prefix, state, user, service = inst["prefix"], inst["state"], inst["user"], inst["service"]
    unit_file = hubfs.OUT_DIR / f"{service}.service"
    mp = paths.micropython()

    def render() -> None:
        unit_file.parent.mkdir(parents=True, exist_ok=True)
        unit_file.write_text(render_unit(spec, port, unit.radio_port))

    def started() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            log = subprocess.run(["journalctl", "-u", service, "-n", "40", "--no-pager", "-o", "cat"],
                                 capture_output=True, text=True).stdout
            if "commshub ready" in log:
                print("   " + [ln for ln in log.splitlines() if "commshub ready" in ln][-1])
                return
            time.sleep(1)
        raise RuntimeError(f"no 'commshub ready' in `journalctl -u {service}` within 30 s:\n{log[-1500:]}")

    sudo = ["sudo"]
    return [
        Step("build the hub filesystem (littlefs)", action=unit.build_fs, shown=f"littlefs image -> {unit.image_path}"),
        Step("render the systemd unit", action=render, shown=f"scripts/pi/commshub-hub.service -> {unit_file}"),
        Step("create the service user", argv=sudo + ["sh", "-c", f"id -u {user} >/dev/null 2>&1 || useradd "
                                                     f"--system --home-dir {state} --groups dialout {user}"]),
        Step("install MicroPython (the Unix port `make setup` built)",
             argv=sudo + ["install", "-D", "-m", "0755", mp, f"{prefix}/micropython"]),
        Step("install the ROM script", argv=sudo + ["install", "-D", "-m", "0644", str(ROM), f"{prefix}/rom.py"]),
        Step("stop a running hub", argv=sudo + ["sh", "-c", f"systemctl stop {service}.service 2>/dev/null || true"]),
        Step("install the hub filesystem (replaces the old one)",
             argv=sudo + ["install", "-D", "-m", "0640", "-o", user, "-g", "dialout", str(unit.image_path),
                          f"{state}/flash.bin"]),
        Step("install the systemd unit",
             argv=sudo + ["install", "-m", "0644", str(unit_file), f"/etc/systemd/system/{service}.service"]),
        Step("reload systemd", argv=sudo + ["systemctl", "daemon-reload"]),
        Step("enable and start the hub", argv=sudo + ["systemctl", "enable", "--now", f"{service}.service"]),
        Step("wait for the hub to start", action=started, shown=f"journalctl -u {service}: expect 'commshub ready'"),
    ]
