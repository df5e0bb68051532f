"""The hub filesystem flashed to each real board: the emulator's image, built for that board."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from commshub import boards
from commshub.emulator.fsimage import Provision, build_fs_image
from commshub.flash import hubfs, spec

# .mpy header byte 2: arch << 2 | sub-version (MicroPython py/persistentcode.h); 0 = bytecode only.
ARCH_CODE = {"x86": 1, "x64": 2, "armv6m": 4, "xtensawin": 10}


@pytest.mark.parametrize("name", spec.flashable())
def test_each_board_image_mounts_and_holds_the_firmware_for_its_arch(name: str, tmp_path: Path) -> None:
    s = spec.load(name)
    prov, dev = hubfs.provision("0200112233445566", "mqtt://192.0.2.1:1883")
    fs = hubfs.build(s, prov, dev, out=tmp_path / "fs.bin")
    assert dev and fs.path.stat().st_size == s.board.fs_bytes
    files = fs.files
    assert {"/boot.py", "/main.py", "/board.json", "/provision.json", "/slots/boot.json",
            "/slots/a/manifest.json", "/slots/a/lib/hub/app.mpy"} <= set(files)
    on_board = json.loads(files["/board.json"])
    assert on_board == s.board.raw and "host" not in on_board  # flashing data costs the board no heap
    assert json.loads(files["/provision.json"])["hub_id"] == "0200112233445566"
    manifest = json.loads(files["/slots/a/manifest.json"])
    assert manifest["boards"] == [name] and manifest["arch"] == s.board.mpy_arch
    mpys = {p: d for p, d in files.items() if p.endswith(".mpy")}
    assert len(mpys) > 20
    allowed = {0, ARCH_CODE.get(s.board.mpy_arch or "", 0)}
    for p, d in mpys.items():
        assert d[:2] == b"M\x06", p  # .mpy v6: MicroPython 1.25 loads it
        assert d[2] >> 2 in allowed, f"{p} is compiled for arch {d[2] >> 2}, board {name} is {s.board.mpy_arch}"


@pytest.mark.parametrize("name", ["esp32-devkitc", "rpi-pico-w"])
def test_the_flashed_image_is_the_emulator_image(name: str, tmp_path: Path) -> None:
    """Same builder, same inputs, same bytes: what is flashed is what the emulated board booted."""
    s = spec.load(name)
    prov = Provision(hub_id="0200112233445566", trusted_keys=hubfs.provision("0200112233445566")[0].trusted_keys)
    flashed = hubfs.build(s, prov, True, out=tmp_path / "a.bin").path.read_bytes()
    emulated = build_fs_image(boards.load(name), prov, tmp_path / "b.bin").read_bytes()
    assert flashed == emulated


def test_deploy_stages_only_code_never_the_units_identity(tmp_path: Path) -> None:
    s = spec.load("esp32-devkitc")
    prov, dev = hubfs.provision("0200112233445566")
    fs = hubfs.build(s, prov, dev, out=tmp_path / "fs.bin")
    code = dict(hubfs.stage(fs, only_code=True))
    everything = dict(hubfs.stage(fs))
    assert "/provision.json" in everything and "/provision.json" not in code
    assert {"/boot.py", "/main.py", "/board.json", "/slots/boot.json"} <= set(code)
    assert {p for p in everything if p.startswith("/slots/a/")} <= set(code)
    for remote, local in everything.items():
        assert local.read_bytes() == fs.files[remote]


def test_hub_id_from_mac_matches_the_firmware_fallback() -> None:
    # firmware/hub/hal/esp32.py: hexlify(unique_id()).upper() + "FFFE", cut to 16.
    assert hubfs.eui64_from_mac("24:0a:c4:12:34:56") == "240AC4123456FFFE"
    with pytest.raises(ValueError):
        hubfs.eui64_from_mac("24:0a:c4")


def test_ncp_wiring_uses_the_uarts_the_pages_document() -> None:
    esp = spec.load("esp32-devkitc")
    assert (esp.ncp.uart, esp.ncp.tx, esp.ncp.rx, esp.ncp.rts, esp.ncp.cts, esp.ncp.flow) == (2, 17, 16, 4, 5, "rtscts")
    assert {esp.console.tx, esp.console.rx}.isdisjoint({esp.ncp.tx, esp.ncp.rx, esp.ncp.rts, esp.ncp.cts})
    pico = spec.load("rpi-pico-w")
    # RP2040 pin functions: GP4 UART1 TX, GP5 UART1 RX, GP6 UART1 CTS, GP7 UART1 RTS.
    assert (pico.ncp.uart, pico.ncp.tx, pico.ncp.rx, pico.ncp.cts, pico.ncp.rts) == (1, 4, 5, 6, 7)
    for name in ("esp32-devkitc", "rpi-pico-w"):
        doc = (Path(boards.paths.REPO) / "docs" / "boards" / f"{name}.md").read_text()
        n = spec.load(name).ncp
        for pin in (n.tx, n.rx, n.rts, n.cts):
            assert f"GPIO{pin}" in doc or f"GP{pin}" in doc, (name, pin)
