"""The `commshub` command line."""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__

# Subcommands, in the order `--help` lists them. Each module has register(subparsers).
COMMANDS = ["run", "emulate", "console", "send", "status", "image", "keys", "broker", "bench", "capture",
            "flash", "deploy", "air", "han"]


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="commshub",
        description="GB smart-metering Communications Hub emulator: run emulated boards, drive real ones, "
        "test them. Start with `commshub run` (broker + emulated hub + live view).",
        epilog="Each command has its own --help. Protocol: docs/PROTOCOL.md.",
    )
    ap.add_argument("--version", action="version", version=f"commshub {__version__}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f".commands.{name}", __package__)
        except ImportError as e:  # a command whose optional parts are missing stays listed as broken
            p = sub.add_parser(name, help=f"(unavailable: {e})")
            p.set_defaults(func=lambda a, e=e: (print(f"error: {e}", file=sys.stderr), 1)[1])
            continue
        mod.register(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    if not getattr(args, "func", None):
        ap.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except (ConnectionError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
