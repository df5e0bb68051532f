"""`commshub console`: an interactive session with a hub."""

from __future__ import annotations

import argparse
import json
import shlex
import sys

from ..links.base import Event
from ..protocol.errors import HubError, HubTimeout
from . import common

HELP = """\
Type a command and its arguments, e.g.
  ping echo=hello
  config.set key=label value="bench 3"
  time.set iso=2030-01-01T00:00:00Z
  log.tail n=10
Events and the board's console text are shown as they arrive.
  :json      toggle raw JSON output        :quit   leave (Ctrl-D too)"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("console", help="interactive session: type commands, watch events and console text",
                       description="Talk to a hub interactively over serial or MQTT.\n\n" + HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_link_options(p)
    p.set_defaults(func=run)


def _show_event(e: Event) -> None:
    body = {k: v for k, v in e.body.items() if k != "event"}
    print(f"\r<< event {e.name} {json.dumps(body, ensure_ascii=False)}", flush=True)


def _show_console(line: str) -> None:
    print(f"\r|| {line}", flush=True)


def run(args: argparse.Namespace) -> int:
    kw = {"on_event": _show_event}
    if getattr(args, "via", "serial") == "serial":
        kw["on_console"] = _show_console
    as_json = False
    with common.open_link(args, **kw) as link:
        try:
            info = link.request("info").result
            print(f"connected over {link.name} to hub {info.get('hub_id')} ({info.get('board')}, firmware {info.get('fw_version')})")
        except (HubError, HubTimeout) as e:
            print(f"warning: the hub did not answer `info` ({e}); commands may still work", file=sys.stderr)
        print(HELP)
        while True:
            try:
                line = input("hub> ").strip()
            except (EOFError, KeyboardInterrupt):
                print()
                return 0
            if not line:
                continue
            if line in (":quit", ":q", "quit", "exit"):
                return 0
            if line == ":json":
                as_json = not as_json
                continue
            if line in (":help", "help", "?"):
                print(HELP)
                continue
            words = shlex.split(line)
            try:
                cmd_args = common.parse_args_words(words[1:])
                reply = link.request(words[0], cmd_args or None)
            except ValueError as e:
                print(f"!! {e}")
                continue
            except HubError as e:
                print(f"!! {e.code}: {e.message}")
                continue
            except HubTimeout as e:
                print(f"!! timeout: {e}")
                continue
            common.print_result(reply.result, as_json)
            print(f"   [{reply.rtt_s * 1000:.1f} ms]")
