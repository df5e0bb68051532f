"""`commshub deploy`: replace only the firmware files on a flashed board (development).

The hub is asked who it is (board, hub ID), the firmware is compiled for
that board through the same image builder as a full flash, the running hub
is stopped at MicroPython's REPL, and mpremote copies boot.py, main.py, the
board description and slot A (with a boot record pointing at it). The
unit's identity, config and logs stay. mpremote skips files whose hash on
the board already matches, so a deploy after a one-line change is quick.
"""

from __future__ import annotations

from . import hubfs, plans, ports, tools
from .runner import Step, console, run_counted
from .spec import BoardSpec

PLACEHOLDER_ID = "0000000000000000"  # deploy never copies provision.json


def ask_hub(port: str, baud: int) -> dict | None:
    """The running hub's `info`, or None when no hub answers (crashed, or already at the REPL)."""
    try:
        return plans.hub_answers(port, baud, timeout=4.0)
    except (RuntimeError, ports.PortError):
        return None


def steps(spec: BoardSpec, port: str, hub_running: bool) -> list[Step]:
    """The deploy plan for a board that already runs MicroPython and the hub's boot.py."""
    if spec.kind == "linux":
        raise ValueError("on a Raspberry Pi, run `make flash BOARD=raspberry-pi` on the Pi itself "
                         "(it rebuilds and reinstalls the hub's filesystem image)")
    unit = plans.Unit(spec=spec, port=port, firmware=None, hub_id=PLACEHOLDER_ID)
    unit_image = hubfs.OUT_DIR / f"{spec.name}.deploy.fs.bin"
    reset_line = spec.board.raw.get("reset") == "rts-en"
    baud = spec.console.baud
    staged: list = []

    def build() -> None:
        prov, dev = hubfs.provision(PLACEHOLDER_ID)
        unit.fs = hubfs.build(spec, prov, dev, out=unit_image)
        staged[:] = hubfs.stage(unit.fs, only_code=True)
        print(f"   {len(staged)} files for {spec.name} ({spec.board.mpy_arch or 'bytecode'})")

    def stop() -> None:
        if hub_running and not reset_line:
            from ..links.serial_link import SerialLink

            link = SerialLink(port, baud=baud, timeout=3.0)
            try:
                link.request("reboot", {"delay_ms": 200})
            finally:
                link.close()
        ports.interrupt_to_repl(port, baud, reset_line=reset_line)

    def copy() -> None:
        run_counted(Step("copy", argv=tools.mpremote_put(port, staged, resume=True), files=len(staged)), console())

    how = "pulse EN (RTS)" if reset_line else "send the hub `reboot`"
    return [
        Step("compile the firmware for the board", action=build,
             shown=f"littlefs image -> {unit_image}; only boot.py, main.py, board.json, slot A are copied"),
        Step("stop the hub at the MicroPython REPL", action=stop,
             shown=f"{how}, then Ctrl-C every 20 ms on {port} until `>>>`",
             after_failure="nothing was copied; the board restarts into its old firmware"),
        Step("copy the firmware files", action=copy,
             shown=f"{' '.join(tools.mpremote())} connect {port} resume exec <mkdir> + fs cp <file> :<path> ... + reset",
             after_failure="slot A is partly copied: run the same command again (it copies only what differs)"),
        plans.check_hub(unit),
    ]
