"""Where the firmware's heap goes: each module's loaded cost on the MicroPython VM.

`commshub bench --heap-map BOARD` prints it. The modules are imported in the
order the hub loads them, phase by phase, by `emulator/heapmap_vm.py` on the
32-bit VM from the tree compiled for the board (mpy-cross options included),
so the figures are what the board's heap holds as code: bytecode, constants,
module globals and their names' qstrs. Run-time objects (buffers, tasks,
records) come on top: `info`'s heap_used on a running hub says the rest.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import paths

VM_SCRIPT = Path(__file__).parent / "emulator" / "heapmap_vm.py"
# Normal mode, in load order: what each phase adds (modules dropped again after use are marked).
NORMAL: list[tuple[str, list[str]]] = [
    ("ready, serial only", ["hub.app"]),
    ("ready, MQTT up", ["hub.links.mqtt"]),
    ("download under way", ["hub.services.transfer"]),
    ("start-up handover (dropped after)", ["hub.services.handover"]),
    ("image.status (dropped after)", ["hub.services.image_status"]),
    ("other image command (dropped after)", ["hub.services.activation"]),
]
# Verify mode is a boot of its own: nothing else is loaded.
VERIFY: list[tuple[str, list[str]]] = [
    ("verify boot: checks", ["hub.boot", "hub.services.verify", "hub.images.gbcs"]),
    ("verify boot: signature", ["hub.crypto.p256"]),
]


@dataclass
class Row:
    depth: int
    module: str
    own: int
    total: int


def _args(phases: list[tuple[str, list[str]]]) -> list[str]:
    out: list[str] = []
    for name, mods in phases:
        out += mods + ["=" + name]
    return out


def heap_map(board: str, args: list[str], heap: str = "1024K") -> tuple[list[tuple[str, int, list[Row]]], str]:
    """Run the VM script on `board`'s compiled tree: [(phase, heap so far, rows)], qstr line."""
    from .emulator.fsimage import build_app

    lib = build_app(board) / "lib"
    out = subprocess.run([paths.micropython(), "-X", f"heapsize={heap}", str(VM_SCRIPT), str(lib), *args],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"heap map failed:\n{out.stdout}{out.stderr}")
    phases: list[tuple[str, int, list[Row]]] = []
    rows: list[Row] = []
    qstr = ""
    for line in out.stdout.splitlines():
        f = line.split()
        if f[:1] == ["MOD"]:
            rows.append(Row(int(f[1]), f[2], int(f[3]), int(f[4])))
        elif f[:1] == ["PHASE"]:
            phases.append((" ".join(f[2:]), int(f[1]), rows))
            rows = []
        elif line.startswith("qstr pool"):
            qstr = line.strip()
    return phases, qstr


def report(board: str) -> list[str]:
    """Markdown: per phase, each module's own heap (load order), and the running total."""
    L = [f"Heap map, board `{board}`: heap each module takes once loaded, in bytes on the 32-bit VM "
         "(bytecode, constants, globals, qstrs; a qstr pool lands on the module that overflowed the last one)", "",
         "| phase | module | own | heap of all code loaded |", "|---|---|---|---|"]
    for group in (NORMAL, VERIFY):
        phases, qstr = heap_map(board, _args(group))
        for name, so_far, rows in phases:
            for r in rows:
                L.append(f"| {name} | {'. ' * r.depth}{r.module} | {r.own} | |")
            L.append(f"| {name} | **total** | | **{so_far}** |")
        L.append(f"| | {qstr} | | |")
    return L


def main() -> None:  # python -m commshub.heapmap BOARD
    import sys

    print("\n".join(report(sys.argv[1] if len(sys.argv) > 1 else "esp32-devkitc")))


if __name__ == "__main__":
    main()


def live_phases(board: str, broker_url: str, heap: int = 256 * 1024,
                radio: str = "none") -> list[tuple[str, int, int]]:
    """[(phase, heap used after a collection, high-water so far)] of a running hub on `board`
    with a generous heap (and no radio unless `radio` says): ready, mid-download (MQTT), verify
    boot, after activation and confirm."""
    import re

    from .bench_images import _bump, padded_image, wait_confirmed
    from .hub import Hub
    from .images import push
    from .targets import EmulatorTarget

    target = EmulatorTarget(board, broker_url, name=f"heapmap-{board}", heap_bytes=heap,
                            radio=radio)
    hub = Hub(target, broker_url, timeout=10).start()
    out: list[tuple[str, int, int]] = []

    def sample(name: str) -> None:
        i = hub.request("info").result
        out.append((name, i["heap_used"], i["heap_peak"]))

    try:
        hub.wait_online()
        sample("ready, MQTT up")
        version = _bump(push.status(hub.mqtt)["running"]["version"])
        img = padded_image(board, version, 0)
        mid = [False]

        def progress(off: int, size: int) -> None:
            if not mid[0] and off >= size // 2:
                mid[0] = True
                sample("download (MQTT), half way")

        res = push.push(hub.mqtt, img, progress=progress, verify_timeout=60)
        m = [re.search(r"heap (\d+) used", ln) for ln in target.console_tail(400) if "staged in slot" in ln]
        if m and m[-1]:
            out.append(("verify boot, after unpacking", int(m[-1].group(1)), 0))
        hub.wait_online()
        sample("after the verify boot (handover)")
        push.activate(hub.mqtt, res.mi_hash)
        wait_confirmed(hub, version)
        hub.wait_online()
        sample("new image confirmed")
    finally:
        hub.stop()
    return out
