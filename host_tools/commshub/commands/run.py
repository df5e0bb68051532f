"""`commshub run`: the emulated installation (broker + hub + HAN devices) with a live view."""

from __future__ import annotations

import argparse
import sys
import time

from .. import boards, instances
from ..broker import EmbeddedBroker, free_port, wait_port
from ..installation import Installation, han_summary
from ..links.mqtt_link import MqttLink, topic_prefix
from ..protocol.errors import HubError, HubTimeout
from ..status_view import StatusView
from ..targets import EmulatorTarget


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="bring up broker + emulated hub + ESME, GSME and PPMID and show a live status view (what `make run` does)",
        description="Start the embedded MQTT broker and an emulated Comms Hub with its HAN: an ESME, a GSME "
        "and a PPMID emulator on the hub's virtual air, added to its device log so they join with their "
        "install codes. Then show the live status until Ctrl-C. In another terminal: `commshub console`, "
        "`commshub send han.devices --via mqtt`, `commshub han list`.",
    )
    p.add_argument("--board", default="emulator", help=f"board to emulate ({', '.join(boards.names())}); default emulator")
    p.add_argument("--name", default="hub1", help="instance name (default hub1)")
    p.add_argument("--broker", help="use this broker (mqtt://host:port) instead of starting one")
    p.add_argument("--port", type=int, default=1883, help="port for the embedded broker (default 1883, or a free one if taken)")
    p.add_argument("--pace", action="store_true", help="pace the UART at the board's baud rate")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds (default: until Ctrl-C)")
    p.add_argument("--no-han", action="store_true", help="no HAN device emulators (the hub alone)")
    p.add_argument("--capture", metavar="FILE.jsonl", help="write a capture of the HAN's air (and a readable "
                   ".txt beside it; `commshub capture show FILE.jsonl --follow` while it runs)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    board = boards.load(args.board)
    broker = None
    broker_url = args.broker
    if not broker_url:
        port = args.port if not wait_port("127.0.0.1", args.port, 0.1) else free_port()
        print(f"starting the embedded MQTT broker on 127.0.0.1:{port} ...", flush=True)
        broker = EmbeddedBroker(port=port).start()
        broker_url = broker.url
    target = EmulatorTarget(board.name, broker_url, name=args.name, pace=args.pace)
    print(f"building the firmware image for {board.name} and powering on ...", flush=True)
    target.start()
    try:
        boot_s = target.wait_ready(30)
        print(f"hub {target.hub_id} ready in {boot_s * 1000:.0f} ms", flush=True)
        instances.record(args.name, hub_id=target.hub_id, board=board.name, uart_path=target.serial_url,
                         broker_url=broker_url)
        setup = {"board": board.name, "broker": broker_url, "serial": target.serial_url,
                 "topics": topic_prefix(target.hub_id) + "{cmd,rsp,evt,status}"}
        view = StatusView(setup)
        link = MqttLink(broker_url, target.hub_id, on_event=view.add_event,
                        on_status=lambda s: view.online.update(s))
        han = None
        try:
            han = _start_han(args, target, link)
            _loop(view, link, board.heap_bytes, args.duration)
        finally:
            if han:
                han.stop()
            link.close()
    finally:
        instances.forget(args.name)
        target.stop()
        if broker:
            broker.stop()
    print("stopped.")
    return 0


def _start_han(args: argparse.Namespace, target: EmulatorTarget, link: MqttLink) -> Installation | None:
    air = getattr(target.emu, "air", None)
    if args.no_han or air is None:
        return None
    han = Installation(args.name, target.hub_id, air)
    if args.capture:
        han.capture_to(args.capture)
        print(f"capturing the air to {args.capture} (timeline: {args.capture.rsplit('.', 1)[0]}.txt)", flush=True)
    try:
        link.wait_status(lambda s: s.get("state") == "online", 20)
        members = han.start(link)
    except (HubError, HubTimeout) as e:
        han.stop()
        print(f"no HAN devices: the hub did not take them ({e}); is its radio up? (`commshub send han.status`)",
              flush=True)
        return None
    for m in members:
        print(f"{m.kind} {m.eui64} install code {m.install_code} in the device log; its log: {m.log}", flush=True)
    port = han.open_air()
    print(f"the HAN's air: control port 127.0.0.1:{port} (add a device: commshub han start --kind esme "
          f"--air 127.0.0.1:{port}, then han.log.add it on the hub)", flush=True)
    return han


def _poll(view: StatusView, link: MqttLink) -> None:
    try:
        view.info = link.request("info", timeout=2).result
        view.status = link.request("status", timeout=2).result
        view.han = han_summary(link)
        view.error = None
    except (HubError, HubTimeout) as e:
        view.error = f"hub not answering over MQTT: {e}"


def _loop(view: StatusView, link: MqttLink, budget: int, duration: float | None) -> None:
    end = time.monotonic() + duration if duration else None
    if sys.stdout.isatty():
        from rich.live import Live

        with Live(view.render(budget), refresh_per_second=4, screen=False) as live:
            while end is None or time.monotonic() < end:
                _poll(view, link)
                live.update(view.render(budget))
                time.sleep(1)
    else:  # piped or in CI: a line every few seconds tells the same story
        while end is None or time.monotonic() < end:
            _poll(view, link)
            print(view.line(), flush=True)
            time.sleep(min(5, max(0.5, (end - time.monotonic()) if end else 5)))
