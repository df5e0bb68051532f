"""Factory images: one file a production line writes at flash offset 0.

`esptool merge-bin` lays the stock MicroPython .bin and the hub's littlefs
image at their board offsets in one raw file; `commshub image factory`
builds it, and `esptool write-flash 0x0 <file>` writes it.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from .. import paths
from . import firmware as fwcheck
from . import hubfs, tools
from .spec import BoardSpec


class FactoryError(RuntimeError):
    """The merged image could not be built."""


@dataclass(frozen=True)
class Factory:
    path: Path
    fs: hubfs.HubFs
    firmware: fwcheck.CheckedFirmware
    argv: list[str]  # the merge-bin command that made it


def default_path(spec: BoardSpec, hub_id: str) -> Path:
    return paths.BUILD / f"factory-{spec.name}-{hub_id}.bin"


def build(spec: BoardSpec, micropython: Path, hub_id: str, mqtt_url: str = "",
          trusted: list[str] | None = None, out: Path | None = None) -> Factory:
    """Check the firmware, build the unit's filesystem, merge both at their offsets."""
    if spec.kind != "esp32":
        raise FactoryError(f"factory images are for ESP32 boards; {spec.name} is {spec.kind}")
    checked = fwcheck.check(spec, micropython)  # refuses a wrong file before anything is built
    prov, dev = hubfs.provision(hub_id, mqtt_url, trusted)
    fs = hubfs.build(spec, prov, dev, out=hubfs.OUT_DIR / f"{spec.name}-{hub_id}.fs.bin")
    out = Path(out or default_path(spec, hub_id))
    out.parent.mkdir(parents=True, exist_ok=True)
    argv = tools.esp_merge(spec, checked.path, fs.path, out)
    res = subprocess.run(argv, capture_output=True, text=True)
    if res.returncode != 0:
        raise FactoryError(f"esptool merge-bin failed ({res.returncode}):\n{res.stdout[-800:]}{res.stderr[-800:]}")
    return Factory(path=out, fs=fs, firmware=checked, argv=argv)
