"""`commshub air`: a virtual Zigbee air in its own process, and virtual NCPs for your own bellows."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from typing import Any

EPILOG = """\
examples:
  commshub air serve --ncp 02AABBCCDDEEFF01 --ncp 000D6F000ABCDE01,13,pty
      an air with two NCPs (EZSP v8 on TCP; v13 on TCP and a pty); prints where each listens
  commshub air serve --loss 0.05 --time-scale 10 --capture air.jsonl
      a lossy air, ten times faster than real time, captured (see `commshub capture show`)
  commshub air ncp --pty --ezsp 13
      one NCP on a pty for your own bellows / zigpy: bellows -d /dev/pts/N ...
  commshub air ncp --air 127.0.0.1:7700 --eui64 000D6F000ABCDE02
      add an NCP to a running `air serve` (its control port)

control port: JSON lines, e.g.  echo '{"cmd": "list"}' | nc 127.0.0.1 PORT
  add_ncp {eui64, ezsp, pty, port, baud} | list | set_link {a, b, loss, latency_s} |
  set_default_link {loss, latency_s} | reset_ncp {eui64} | faults {eui64, drop, corrupt, nak, drop_rx} | events
model and limits: docs/VIRTUAL_AIR.md
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "air", help="virtual Zigbee air and NCPs (EZSP over ASH) for hubs, bellows and device emulators",
        description="A virtual 802.15.4/Zigbee medium connecting virtual EZSP NCPs (EmberZNet-like, EZSP v8 to "
        "v13). Each NCP listens on TCP (bellows socket://HOST:PORT) and optionally a pty.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    air_sub = p.add_subparsers(dest="air_command", metavar="SUBCOMMAND")

    s = air_sub.add_parser("serve", help="run an air with a JSON-lines control port until Ctrl-C",
                           epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--host", default="127.0.0.1", help="address for the control port and NCPs")
    s.add_argument("--port", type=int, default=0, help="control port (default: any free port)")
    _model_args(s)
    s.add_argument("--ncp", action="append", default=[], metavar="EUI64[,EZSP][,pty]",
                   help="start with this NCP (repeatable), e.g. 02AABBCCDDEEFF01,13,pty")
    s.add_argument("--capture", metavar="FILE.jsonl",
                   help="write a capture of the air (JSON lines + readable .txt next to it)")
    s.set_defaults(func=lambda a: _run(_serve(a)))

    n = air_sub.add_parser("ncp", help="one virtual NCP for your own bellows/zigpy (own air, or --air's)",
                           epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    n.add_argument("--eui64", default="000D6F0000C0FFEE", help="the NCP's EUI-64 (16 hex digits)")
    n.add_argument("--ezsp", type=int, default=8, choices=range(8, 14), metavar="8..13",
                   help="EZSP protocol version (default 8)")
    n.add_argument("--pty", action="store_true", help="also serve it on a pty (path printed)")
    n.add_argument("--host", default="127.0.0.1", help="TCP address (default 127.0.0.1)")
    n.add_argument("--tcp-port", type=int, default=0, help="TCP port (default: any free port)")
    n.add_argument("--air", metavar="HOST:PORT",
                   help="add the NCP to a running `commshub air serve` instead of a new air")
    _model_args(n)
    n.set_defaults(func=_ncp)
    p.set_defaults(func=lambda a: (p.print_help(), 0)[1])


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--time-scale", type=float, default=1.0,
                   help="run modelled air time this many times faster than real time (default 1)")
    p.add_argument("--loss", type=float, default=0.0, help="default per-frame loss, 0..1 (default 0)")
    p.add_argument("--latency", type=float, default=0.0, help="default extra latency per hop, s")
    p.add_argument("--seed", type=int, help="random seed, for reproducible runs")
    p.add_argument("--baud", type=int, metavar="BPS",
                   help="pace each NCP's UART like a real one at this rate, e.g. 115200 (default: unpaced)")


def _run(coro: Any) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        return int(asyncio.run(coro))
    return 0


def _new_air(a: argparse.Namespace) -> Any:
    from ..radio.air import VirtualAir

    return VirtualAir(time_scale=a.time_scale, seed=a.seed, loss=a.loss, latency_s=a.latency)


def _ncp_spec(spec: str) -> dict[str, Any]:
    parts = [x.strip() for x in spec.split(",") if x.strip()]
    if not parts:
        raise ValueError(f"--ncp {spec!r}: give EUI64[,EZSP][,pty]")
    out: dict[str, Any] = {"eui64": parts[0], "ezsp": 8, "pty": False}
    for part in parts[1:]:
        if part == "pty":
            out["pty"] = True
        elif part.isdigit():
            out["ezsp"] = int(part)
        else:
            raise ValueError(f"--ncp {spec!r}: {part!r} is neither an EZSP version nor 'pty'")
    return out


def _print_ncp(info: dict[str, Any], host: str) -> None:
    line = f"ncp {info['eui64']} EZSP v{info['ezsp']}  socket://{host}:{info['port']}"
    if info.get("pty"):
        line += f"  pty {info['pty']}"
    print(line, flush=True)


async def _serve(a: argparse.Namespace) -> int:
    from ..radio.control import AirControl

    air = _new_air(a)
    control = AirControl(air, ncp_host=a.host, baud=a.baud)
    specs = [_ncp_spec(s) for s in a.ncp]  # refuse bad specs before anything starts
    port = await control.serve(a.host, a.port)
    print(f"air control {a.host}:{port}  (time scale {a.time_scale}, loss {a.loss}, "
          f"latency {a.latency} s)", flush=True)
    async with contextlib.AsyncExitStack() as stack:
        if a.capture:
            from ..radio.capture import capture_to

            stack.enter_context(capture_to(air, a.capture))
            print(f"capture {os.path.abspath(a.capture)}", flush=True)
        stack.push_async_callback(control.close)
        for spec in specs:
            _print_ncp(await control.add_ncp(**spec), a.host)
        await asyncio.Event().wait()  # until Ctrl-C / SIGTERM
    return 0


def _ncp(a: argparse.Namespace) -> int:
    if a.air:
        from ..radio.control import request

        host, _, port = a.air.rpartition(":")
        answer = request(host or "127.0.0.1", int(port), {"cmd": "add_ncp", "eui64": a.eui64,
                                                         "ezsp": a.ezsp, "pty": a.pty,
                                                         "baud": a.baud})
        if not answer.get("ok"):
            raise ValueError(answer.get("error", "the air server refused"))
        _print_ncp(answer, host or "127.0.0.1")
        return 0

    async def one() -> int:
        from ..radio.control import AirControl

        control = AirControl(_new_air(a), ncp_host=a.host, baud=a.baud)
        try:
            _print_ncp(await control.add_ncp(a.eui64, a.ezsp, a.pty, a.tcp_port), a.host)
            await asyncio.Event().wait()
        finally:
            await control.close()
        return 0

    return _run(one())
