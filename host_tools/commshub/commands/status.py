"""`commshub status`: what a hub says about itself (info + status)."""

from __future__ import annotations

import argparse

from ..protocol.errors import HubError, HubTimeout
from . import common


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="show a hub's identity, health and links",
                       description="Ask a hub for `info` and `status` and show them together.")
    p.add_argument("--json", action="store_true", help="print raw JSON")
    common.add_link_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with common.open_link(args) as link:
        try:
            info = link.request("info").result
            status = link.request("status").result
        except (HubError, HubTimeout) as e:
            return common.hub_failure(e)
    merged = dict(info)
    merged.update(status)
    common.print_result(merged, args.json)
    return common.EXIT_OK
