"""`commshub emulate`: power on one emulated board and stream its console."""

from __future__ import annotations

import argparse
import signal
import sys
import time

from .. import boards


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `emulate` subcommand to the `commshub` parser."""
    p = sub.add_parser(
        "emulate",
        help="run one emulated board (the firmware on the MicroPython Unix port) and show its console",
        description="Build the board's filesystem image exactly as it would be flashed, boot it on the "
        "MicroPython Unix port with the board's heap cap, and expose its control UART as a pty "
        "(and optionally TCP). The console streams here until Ctrl-C, which powers the board off. "
        "Several boards can run at once under different --name values.",
        epilog="examples:\n"
        "  commshub emulate --board emulator --no-mqtt\n"
        "  commshub emulate --board esp32-devkitc --name bench2 --broker mqtt://127.0.0.1:1883 --pace\n"
        "  commshub emulate --board emulator --tcp 7001   # then: socket://127.0.0.1:7001\n"
        "  commshub emulate --board emulator --radio /dev/ttyUSB0   # the hub drives a real EFR32 dongle",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--board", required=True, metavar="NAME",
                   help=f"board description to emulate: {', '.join(boards.names())}")
    p.add_argument("--name", default="hub1",
                   help="instance name: keeps its own flash, console log and hub ID (default hub1)")
    mq = p.add_mutually_exclusive_group()
    mq.add_argument("--broker", metavar="URL", default=None,
                    help="MQTT broker the hub is provisioned with, mqtt://host:port "
                    "(default mqtt://127.0.0.1:1883)")
    mq.add_argument("--no-mqtt", action="store_true", help="provision without a broker: serial only")
    p.add_argument("--pace", action="store_true",
                   help="pace the UART at the board's baud rate (10 bits per byte), as a real line")
    p.add_argument("--tcp", type=int, metavar="PORT", default=None,
                   help="also serve the UART on 127.0.0.1:PORT (pyserial URL socket://127.0.0.1:PORT); "
                   "0 picks a free port")
    p.add_argument("--radio", metavar="DEV", default=None,
                   help="the hub's Zigbee NCP: a real Silicon Labs dongle on this host (e.g. /dev/ttyUSB0), "
                   "'none' for no radio; default: a virtual NCP on a virtual air when the board has a radio")
    p.add_argument("--keep-flash", action="store_true",
                   help="boot from the instance's existing flash instead of a freshly built image")
    p.set_defaults(func=run)


def _check_board(name: str) -> boards.Board:
    try:
        return boards.load(name)
    except boards.UnknownBoard as e:
        raise ValueError(str(e)) from None


def run(args: argparse.Namespace) -> int:
    """Build, power on, print where to reach the board, stream its console until Ctrl-C."""
    from ..emulator.board import EmulatedBoard

    board = _check_board(args.board)
    broker = None if args.no_mqtt else (args.broker or "mqtt://127.0.0.1:1883")
    emu = EmulatedBoard(board.name, name=args.name, broker_url=broker, pace=args.pace,
                        tcp_port=args.tcp, fresh=not args.keep_flash, radio=args.radio)
    # SIGTERM/SIGHUP (a closed terminal, a CI timeout) power off like Ctrl-C
    # instead of leaving the MicroPython process running without its UART.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    t0 = time.monotonic()
    print(f"building the filesystem image for {board.name} ...", file=sys.stderr, flush=True)
    emu.start()
    try:
        _table(emu, board, broker, time.monotonic() - t0)
        mark = 0
        while True:
            lines = emu.console_since(mark)
            mark += len(lines)
            for line in lines:
                print(line, flush=True)
            time.sleep(0.05)
    except KeyboardInterrupt:
        print("\npowering off ...", file=sys.stderr, flush=True)
    finally:
        emu.stop()
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _table(emu: object, board: boards.Board, broker: str | None, build_s: float) -> None:
    from ..emulator.board import EmulatedBoard

    assert isinstance(emu, EmulatedBoard)
    rows = [
        ("board", f"{board.name}  ({board.raw.get('title', '')})"),
        ("hub id", emu.hub_id),
        ("serial", f"{emu.uart_path}  (also {emu.uart_link})"),
        ("socket", emu.uart_url if emu.tcp_port is not None else "- (use --tcp PORT)"),
        ("baud", f"{board.baud}" + (" paced" if emu.pace else " (not paced)")),
        ("mqtt", f"{broker}  topics commshub/{emu.hub_id}/" if broker else "off (--no-mqtt)"),
        ("radio", {"virtual": "virtual NCP (EZSP, hub's EUI-64) on a private virtual air",
                   "none": "none"}.get(emu.radio_mode, f"real NCP on {emu.radio_mode}")),
        ("heap", f"{board.heap_bytes} bytes ({board.heap_bytes // 1024} KiB)"),
        ("flash", f"{emu.flash_path}  ({board.fs_bytes // 1024} KiB)"),
        ("console", str(emu.console_path)),
        ("powered", f"pid {emu.pid}, start took {build_s * 1000:.0f} ms"),
    ]
    try:
        from rich.console import Console
        from rich.table import Table

        t = Table(show_header=False, box=None, pad_edge=False)
        t.add_column(style="bold cyan")
        t.add_column()
        for k, v in rows:
            t.add_row(k, v)
        Console(stderr=True).print(t)
    except ImportError:
        for k, v in rows:
            print(f"{k:>8}  {v}", file=sys.stderr)
    print("console follows; Ctrl-C powers off", file=sys.stderr, flush=True)
