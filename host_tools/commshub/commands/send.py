"""`commshub send COMMAND [key=value ...]`: one command, one answer."""

from __future__ import annotations

import argparse
import sys

from ..protocol.errors import HubError, HubTimeout
from . import common


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "send",
        help="send one command to a hub and print the answer",
        description="Send one control-plane command (see docs/PROTOCOL.md) over serial or MQTT.",
        epilog=(
            "examples:\n"
            "  commshub send ping\n"
            "  commshub send config.set key=label value='bench 3'\n"
            "  commshub send time.set iso=2030-01-01T00:00:00Z --via mqtt\n"
            "  commshub send info --port /dev/ttyUSB0 --board esp32-devkitc --json\n"
            "exit codes: 0 ok, 2 the hub answered with an error, 3 no answer in time"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("command", help="ping, info, status, reboot, time.get, time.set, log.tail, config.get, config.set")
    p.add_argument("args", nargs="*", help="key=value pairs (values parsed as JSON when possible) or one JSON object")
    p.add_argument("--data-file", help="send this file's bytes as the command's raw data")
    p.add_argument("--json", action="store_true", help="print the raw JSON result")
    common.add_link_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        cmd_args = common.parse_args_words(args.args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return common.EXIT_USAGE
    data = open(args.data_file, "rb").read() if args.data_file else b""
    with common.open_link(args) as link:
        try:
            reply = link.request(args.command, cmd_args or None, data)
        except (HubError, HubTimeout) as e:
            return common.hub_failure(e)
    common.print_result(reply.result, args.json)
    if reply.data:
        print(f"(+{len(reply.data)} bytes of data)", file=sys.stderr)
    if not args.json:
        print(f"[{link.name}, {reply.rtt_s * 1000:.1f} ms]", file=sys.stderr)
    return common.EXIT_OK
