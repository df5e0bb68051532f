"""The filesystem image: what a board boots from, for every described board."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from commshub import boards, paths
from commshub.emulator import fsimage

# .mpy v6 header byte 2 for modules holding native code: arch << 2 | sub-version 3.
ARCH_BYTE = {"x86": 0x07, "x64": 0x0B, "xtensawin": 0x2B, "armv6m": 0x13}
PROVISION = {"hub_id": "0200112233445566", "mqtt_url": "mqtt://127.0.0.1:1883"}


def _firmware(tmp: Path, native: bool) -> Path:
    fw = tmp / "fw"
    (fw / "hub" / "sub").mkdir(parents=True)
    (fw / "boot.py").write_text("print('boot')\n")
    (fw / "main.py").write_text("import hub\n")
    (fw / "hub" / "__init__.py").write_text("VERSION = '0'\n")
    (fw / "hub" / "sub" / "deep.py").write_text("X = 1\n")
    if native:
        (fw / "hub" / "fast.py").write_text(
            "import micropython\n@micropython.native\ndef add(a, b):\n    return a + b\n")
    return fw


@pytest.mark.parametrize("name", boards.names())
def test_image_mounts_and_holds_the_flashed_tree(name: str, tmp_path: Path) -> None:
    board = boards.load(name)
    fw = _firmware(tmp_path, native=board.mpy_arch is not None)
    mplib = tmp_path / "mplib"  # micropython-lib modules go beside the hub package
    (mplib / "xlib").mkdir(parents=True)
    (mplib / "xlib" / "mod.py").write_text("Y = 2\n")
    out = fsimage.build_fs_image(name, PROVISION, tmp_path / "img.bin", firmware=fw, mplib=mplib)
    assert out.stat().st_size == board.block_size * board.block_count
    files = fsimage.read_image(out, board.block_size, board.block_count)
    assert files["/boot.py"] == b"print('boot')\n"
    assert files["/main.py"] == b"import hub\n"
    assert json.loads(files["/board.json"]) == board.raw
    assert json.loads(files["/provision.json"]) == dict(
        PROVISION, image={"manufacturer": 0x1234, "image_type": 1}, trusted_keys=[])
    assert "/slots/a/lib/xlib/mod.mpy" in files
    # Subpackages are flat in a slot (fewer littlefs directories): hub.sub.deep is hub/m/deep.
    assert "/slots/a/lib/hub/m/deep.mpy" in files and "/slots/a/lib/hub/sub/deep.mpy" not in files
    assert not any(p.endswith(".py") for p in files if p.startswith("/slots/"))
    # Slot A holds exactly what its manifest lists, and the boot record points at it.
    manifest = json.loads(files["/slots/a/manifest.json"])
    listed = {f["path"]: f for f in manifest["files"]}
    held = {p[len("/slots/a/"):]: d for p, d in files.items() if p.startswith("/slots/a/lib/")}
    assert set(listed) == set(held)
    for path, data in held.items():
        assert listed[path]["sha256"] == hashlib.sha256(data).hexdigest() and listed[path]["size"] == len(data)
    assert manifest["boards"] == [name] and manifest["arch"] == board.mpy_arch
    assert json.loads(files["/slots/boot.json"])["active"] == "a"
    for path, data in files.items():
        if path.endswith(".mpy"):
            assert data[:2] == b"M\x06", path  # mpy v6: what MicroPython 1.25 loads
    if board.mpy_arch:
        assert files["/slots/a/lib/hub/fast.mpy"][2] == ARCH_BYTE[board.mpy_arch]


def test_image_is_deterministic(tmp_path: Path) -> None:
    fw = _firmware(tmp_path, native=True)
    a = fsimage.build_fs_image("emulator", PROVISION, tmp_path / "a.bin", firmware=fw)
    # Bypass the image cache: pack again from the same files.
    app = fsimage.build_app("emulator", fw)
    files = fsimage._files(app, boards.load("emulator"), fsimage.Provision(**PROVISION))
    again = fsimage.pack_littlefs(files, 4096, 512, boards.load("emulator").prog_size)
    assert a.read_bytes() == again
    b = fsimage.build_fs_image("emulator", PROVISION, tmp_path / "b.bin", firmware=fw)
    assert a.read_bytes() == b.read_bytes()
    other = fsimage.build_fs_image("emulator", dict(PROVISION, hub_id="0200112233445567"),
                                   tmp_path / "c.bin", firmware=fw)
    assert other.read_bytes() != a.read_bytes()


def test_changed_source_rebuilds(tmp_path: Path) -> None:
    fw = _firmware(tmp_path, native=False)
    first = fsimage.build_app("emulator", fw)
    (fw / "hub" / "sub" / "deep.py").write_text("X = 2\n")
    second = fsimage.build_app("emulator", fw)
    assert first != second
    assert (second / "lib" / "hub" / "m" / "deep.mpy").read_bytes() != \
        (first / "lib" / "hub" / "m" / "deep.mpy").read_bytes()


def test_two_modules_of_one_name_in_two_subpackages_are_refused(tmp_path: Path) -> None:
    # A slot keeps subpackages flat (hub/m): hub.sub.deep and hub.other.deep would be one file.
    fw = _firmware(tmp_path, native=False)
    (fw / "hub" / "other").mkdir()
    (fw / "hub" / "other" / "deep.py").write_text("X = 3\n")
    with pytest.raises(fsimage.BuildError, match="hub/sub/deep.py and hub/other/deep.py would both be lib/hub/m/deep.py"):
        fsimage.build_app("emulator", fw)


def test_a_flat_slot_imports_subpackage_modules_on_the_vm(tmp_path: Path) -> None:
    # The package's __init__ (lib/hub/sub.mpy) points its __path__ at lib/hub/m, as the hub's do.
    fw = _firmware(tmp_path, native=False)
    (fw / "hub" / "sub" / "__init__.py").write_text(
        '__path__ = globals().get("__path__") or __file__[:__file__.rfind("/")] + "/m"\n')
    app = fsimage.build_app("emulator", fw)
    assert (app / "lib" / "hub" / "sub.mpy").is_file() and not (app / "lib" / "hub" / "sub").exists()
    script = f"import sys; sys.path.insert(0, {str(app / 'lib')!r}); import hub.sub.deep; print(hub.sub.deep.X)"
    out = subprocess.run([paths.micropython(), "-c", script], capture_output=True, text=True, timeout=20)
    assert out.stdout.strip() == "1", out.stderr


def test_syntax_error_names_the_file(tmp_path: Path) -> None:
    fw = _firmware(tmp_path, native=False)
    (fw / "hub" / "broken.py").write_text("def f(:\n")
    with pytest.raises(fsimage.BuildError, match="broken.py"):
        fsimage.build_app("emulator", fw)


def test_provision_is_validated() -> None:
    with pytest.raises(ValueError):
        fsimage.Provision(hub_id="02aabbccddeeff00")
    with pytest.raises(ValueError):
        fsimage.Provision(hub_id="0200112233445566", mqtt_url="http://x")
