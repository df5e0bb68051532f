"""`commshub bench`: measure the hub and write docs/BENCHMARKS.md."""

from __future__ import annotations

import argparse

from .. import boards


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="measure boot time, round trips and heap; write docs/BENCHMARKS.md",
                       description="Run the benchmarks on emulated boards and write a Markdown report.")
    p.add_argument("--out", default="docs/BENCHMARKS.md", help="report file (default docs/BENCHMARKS.md)")
    p.add_argument("--board", action="append", help=f"board(s) to emulate (default: all of {', '.join(boards.names())} that run on this host)")
    p.add_argument("--pings", type=int, default=500, help="round trips per link (default 500)")
    p.add_argument("--boots", type=int, default=5, help="power-ons to time (default 5)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import bench

    chosen = args.board or ["emulator", "esp32-devkitc", "esp32-wrover", "rpi-pico-w"]
    cmd = "commshub bench " + " ".join(f"--board {b}" for b in (args.board or [])) + (f" --pings {args.pings}" if args.pings != 500 else "")
    bench.run(args.out, chosen, args.pings, args.boots, cmd.strip())
    return 0
