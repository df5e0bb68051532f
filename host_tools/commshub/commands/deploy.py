"""`commshub deploy`: update only the firmware files on a flashed board (development)."""

from __future__ import annotations

import argparse

from ..flash import deploy, ports, spec as specs
from ..flash.runner import execute, fail


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "deploy", help="copy the current firmware to a flashed board over serial (mpremote)",
        description="Compile the firmware for the board, stop the running hub at the MicroPython REPL and copy "
        "boot.py, main.py, board.json and slot A with mpremote (unchanged files are skipped). The hub's "
        "identity, config and logs stay. For a first install use `commshub flash`.",
        epilog="example: commshub deploy --port /dev/ttyUSB0")
    p.add_argument("--port", required=True, help="serial port of the board")
    p.add_argument("--board", help="board description (default: asked from the running hub)")
    p.add_argument("--dry-run", action="store_true", help="print the steps and touch nothing")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    info = None
    if not args.dry_run:
        try:
            ports.check_port(args.port)
        except ports.PortError as e:
            return fail(str(e))
    board = args.board
    if board is None:
        info = None if args.dry_run else deploy.ask_hub(args.port, 115200)
        if info is None:
            return fail(f"no hub answered on {args.port} to say which board it is: give --board "
                        f"({', '.join(specs.flashable())})")
        board = info.get("board")
    try:
        spec = specs.load(board)
        steps = deploy.steps(spec, args.port, hub_running=info is not None or
                             (not args.dry_run and deploy.ask_hub(args.port, spec.console.baud) is not None))
    except (specs.BoardSpecError, ValueError) as e:
        return fail(str(e))
    return execute(steps, args.dry_run, "deployed")
