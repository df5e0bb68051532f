"""Options and helpers shared by the commands that talk to a hub."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .. import boards, instances
from ..links.base import Link
from ..links.mqtt_link import MqttLink
from ..links.serial_link import SerialLink
from ..protocol.errors import HubError, HubTimeout

EXIT_OK, EXIT_HUB_ERROR, EXIT_TIMEOUT, EXIT_USAGE = 0, 2, 3, 64


def hub_failure(e: HubError | HubTimeout) -> int:
    """Say what went wrong with the hub on stderr; return the exit code for it."""
    if isinstance(e, HubTimeout):
        print(f"timeout: {e}", file=sys.stderr)
        return EXIT_TIMEOUT
    print(f"hub error {e.code}: {e.message}", file=sys.stderr)
    return EXIT_HUB_ERROR


def add_link_options(p: argparse.ArgumentParser, via: bool = True) -> None:
    g = p.add_argument_group("which hub")
    g.add_argument("--port", help="serial port or URL: /dev/ttyUSB0, a pty path, socket://host:port")
    g.add_argument("--baud", type=int, default=None, help="baud rate (default: the board's, else 115200)")
    g.add_argument("--board", help="board description, for its baud rate")
    g.add_argument("--broker", help="mqtt://host:port, for --via mqtt")
    g.add_argument("--hub", help="hub ID (16 hex digits), for --via mqtt")
    g.add_argument("--instance", help="a running emulated board by name (default: the only one running)")
    g.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for an answer (default 5)")
    if via:
        g.add_argument("--via", choices=["serial", "mqtt"], default="serial", help="link to use (default serial)")


def resolve(args: argparse.Namespace) -> dict[str, Any]:
    """Fill port/broker/hub from a running emulator when not given explicitly."""
    found: dict[str, Any] = {"port": args.port, "broker": args.broker, "hub": args.hub}
    if not args.port or (getattr(args, "via", "serial") == "mqtt" and not (args.broker and args.hub)):
        note = instances.find(args.instance)
        if note:
            found["port"] = found["port"] or note.get("uart_path")
            found["broker"] = found["broker"] or note.get("broker_url")
            found["hub"] = found["hub"] or note.get("hub_id")
        elif args.instance:
            raise SystemExit(f"error: no running emulated board called {args.instance!r} (start one with `commshub emulate`)")
    return found


def open_link(args: argparse.Namespace, via: str | None = None, **kw: Any) -> Link:
    """Open the link the options point at, or exit with a message that says what to do."""
    via = via or getattr(args, "via", "serial")
    where = resolve(args)
    if via == "serial":
        if not where["port"]:
            raise SystemExit("error: which hub? give --port (e.g. /dev/ttyUSB0) or start one with `commshub emulate` / `make run`")
        baud = args.baud or (boards.load(args.board).baud if args.board else 115200)
        return SerialLink(where["port"], baud=baud, timeout=args.timeout, **kw)
    if not (where["broker"] and where["hub"]):
        raise SystemExit("error: --via mqtt needs --broker mqtt://host:port and --hub HUB_ID (or a running emulator)")
    return MqttLink(where["broker"], where["hub"], timeout=args.timeout, **kw)


def parse_args_words(words: list[str]) -> dict[str, Any]:
    """`key=value ...` (values parsed as JSON when they are JSON) or one JSON object."""
    if len(words) == 1 and words[0].lstrip().startswith("{"):
        doc = json.loads(words[0])
        if not isinstance(doc, dict):
            raise ValueError("arguments must be a JSON object")
        return doc
    out: dict[str, Any] = {}
    for w in words:
        if "=" not in w:
            raise ValueError(f"argument {w!r} is not key=value")
        k, v = w.split("=", 1)
        try:
            out[k] = json.loads(v)
        except ValueError:
            out[k] = v
    return out


def print_result(result: Any, as_json: bool) -> None:
    """Print a result as JSON, or as a readable table for flat objects."""
    if as_json or not isinstance(result, dict):
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold cyan")
    t.add_column()
    for k, v in result.items():
        t.add_row(str(k), v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
    Console(file=sys.stdout).print(t)
