"""The hub's filesystem for a real board: the same littlefs image the emulated board boots from.

`build` calls the emulator's image builder (`emulator.fsimage`) with the
board's description and the unit's provisioning, so what is flashed is what
the HIL suite ran. Boards that take files over mpremote instead of a raw
partition write (Pico W, deploys) get the files read back out of that image,
never a second list of what goes on a board.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from .. import paths
from ..emulator.fsimage import Provision, build_fs_image, read_image
from ..images import keys
from .spec import BoardSpec
from .tools import DEPLOY_ROOT_FILES

OUT_DIR = paths.BUILD / "flash"


@dataclass(frozen=True)
class HubFs:
    """A built filesystem image and what it holds."""

    path: Path
    provision: Provision
    files: dict[str, bytes]  # absolute path on the board -> bytes
    dev_key: bool  # True: the hub trusts the development key (fine on a bench, not in the field)


def eui64_from_mac(mac: str) -> str:
    """The hub ID the ESP32 firmware falls back to: the 6-byte MAC, FFFE, as 16 hex digits."""
    digits = mac.replace(":", "").replace("-", "").upper()
    if len(digits) != 12 or any(c not in "0123456789ABCDEF" for c in digits):
        raise ValueError(f"not a MAC address: {mac!r}")
    return digits + "FFFE"


def provision(hub_id: str, mqtt_url: str = "", trusted: list[str] | None = None) -> tuple[Provision, bool]:
    """The unit's identity; trusted keys default to the development key (flagged in the result)."""
    if trusted:
        raw = tuple(keys.public_raw_hex(keys.load_public(k)) for k in trusted)
        return Provision(hub_id=hub_id, mqtt_url=mqtt_url, trusted_keys=raw), False
    return Provision(hub_id=hub_id, mqtt_url=mqtt_url, trusted_keys=(keys.dev_public_hex(),)), True


def build(spec: BoardSpec, prov: Provision, dev_key: bool, out: Path | None = None) -> HubFs:
    """Build the board's littlefs image for this unit into images/build/flash/."""
    b = spec.board
    out = out or OUT_DIR / f"{b.name}-{prov.hub_id}.fs.bin"
    build_fs_image(b, prov, out)
    files = read_image(out, b.block_size, b.block_count)
    return HubFs(path=out, provision=prov, files=files, dev_key=dev_key)


def stage(fs: HubFs, only_code: bool = False) -> list[tuple[str, Path]]:
    """Write the image's files under a staging directory; (remote path, local file) for mpremote.

    `only_code` keeps what a development deploy replaces: boot.py, main.py,
    the board description and slot A with the boot record pointing at it;
    never provision.json, the config or the logs.
    """
    digest = hashlib.sha256(fs.path.read_bytes()).hexdigest()[:16]
    root = fs.path.with_name(f"{fs.path.name}.stage-{digest}")
    out = []
    for remote, data in sorted(fs.files.items()):
        rel = remote.lstrip("/")
        if only_code and not (rel in DEPLOY_ROOT_FILES or rel.startswith("slots/a/") or rel == "slots/boot.json"):
            continue
        local = root / rel
        local.parent.mkdir(parents=True, exist_ok=True)
        if not local.exists() or local.read_bytes() != data:
            local.write_bytes(data)
        out.append((remote, local))
    return out
