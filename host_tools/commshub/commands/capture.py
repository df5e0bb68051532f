"""`commshub capture`: read captures of the virtual air."""

from __future__ import annotations

import argparse

from ..radio.capture import Timeline, read_records


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "capture",
        help="show a capture of the virtual air as a timeline",
        description="Captures of the virtual air are JSON-lines files (one AirEvent per line) written by "
        "tests and by `commshub` next to a readable .txt timeline. This prints the timeline: air time, "
        "event, who to whom, APS header, ZDO/ZCL decoded.",
        epilog="examples:\n"
        "  commshub capture show run/air.jsonl\n"
        "  commshub capture show run/air.jsonl --follow     # keep printing as events arrive\n"
        "  commshub capture show air.jsonl --name 00:0d:6f:00:00:c0:ff:ee=hub",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cs = p.add_subparsers(dest="capture_command", metavar="ACTION")
    s = cs.add_parser("show", help="print a capture file as a timeline")
    s.add_argument("file", help="capture file (.jsonl)")
    s.add_argument("-f", "--follow", action="store_true", help="wait for new events (Ctrl-C stops)")
    s.add_argument("--name", action="append", default=[], metavar="EUI64=NAME",
                   help="show a radio by name (repeatable; names in the file apply too)")
    s.set_defaults(func=run_show)
    p.set_defaults(func=lambda a: (p.print_help(), 0)[1])


def run_show(args: argparse.Namespace) -> int:
    """Print the timeline of a capture file."""
    names = {}
    for item in args.name:
        eui, sep, label = item.partition("=")
        if not sep or not label:
            raise ValueError(f"--name wants EUI64=NAME, not {item!r}")
        names[eui] = label
    timeline = Timeline(names)
    for rec in read_records(args.file, follow=args.follow):
        line = timeline.render(rec)
        if line is not None:
            print(line, flush=args.follow)
    return 0
