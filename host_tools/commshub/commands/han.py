"""`commshub han`: start, list and stop emulated HAN devices (ESME, GSME, PPMID); make UTRNs and enter
them (and emergency credit) on a running PPMID."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from typing import Any

EPILOG = """\
examples:
  commshub air serve --port 7700 &                  an air (the hub's NCP and the devices' NCPs live on it)
  commshub han start --kind esme --air 127.0.0.1:7700 --eui64 000D6F000ABCDE01
      an electricity meter on a new NCP of that air; prints its EUI-64 and install code: add both
      to the hub's device log (8.11 Update HAN Device Log) and it joins
  commshub han start --kind gsme --air 127.0.0.1:7700 --wake-interval 60 --time-scale 10
      a gas meter that wakes every minute of meter time, with meter time 10x faster than real time
  commshub han start --kind ppmid --port /dev/ttyUSB0
      a PPMID on a real EZSP dongle (its EUI-64 is the dongle's)
  commshub han list [--json]        running devices: state, short address, firmware version, OTA, credit
  commshub han stop esme-1 | --all
  commshub han top-up ppmid-1 00050000000112345678
      enter a UTRN on a running PPMID: it goes through the hub to the meter; the result and the new
      credit on the PPMID's display are printed (`han emergency-credit ppmid-1` likewise)
  commshub han utrn --value 1000 --counter 1
      a 20-digit top-up code the emulated meters accept (emulator scheme, docs/HAN_DEVICES.md)

models, clusters, OTA and limits: docs/HAN_DEVICES.md
"""


def _int(text: str) -> int:
    return int(text, 0)


def _version(text: str) -> int:
    parts = [int(p) for p in text.split(".")]
    if not 1 <= len(parts) <= 4 or any(not 0 <= p <= 255 for p in parts):
        raise argparse.ArgumentTypeError(f"a version is MAJOR.MINOR.PATCH[.BUILD] (0-255 each), got {text!r}")
    parts += [0] * (4 - len(parts))
    return parts[0] << 24 | parts[1] << 16 | parts[2] << 8 | parts[3]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "han", help="emulated HAN devices (ESME, GSME, PPMID) on the virtual air or a real EZSP dongle",
        description="Emulated smart-metering HAN devices: real Zigbee nodes on bellows' EZSP that join the "
        "hub with their install code and speak Smart Energy ZCL (Metering, Prepayment, Tunneling, OTA).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    hs = p.add_subparsers(dest="han_command", metavar="SUBCOMMAND")

    s = hs.add_parser("start", help="start a device in the background (or --foreground)",
                      epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--kind", required=True, choices=["esme", "gsme", "ppmid"], help="device type")
    where = s.add_mutually_exclusive_group(required=True)
    where.add_argument("--air", metavar="HOST:PORT", help="control port of a `commshub air serve`: "
                       "the device gets a new virtual NCP there")
    where.add_argument("--port", metavar="NCP", help="an NCP bellows can open: socket://HOST:PORT, "
                       "or a serial port with a real EZSP dongle (/dev/ttyUSB0)")
    s.add_argument("--eui64", help="the device's EUI-64 on the air (16 hex digits; default random). "
                   "With --port the dongle's own EUI-64 is used")
    s.add_argument("--install-code", help="16-byte install code, 32 hex digits (default random)")
    s.add_argument("--name", help="a name for list/stop (default KIND-N)")
    s.add_argument("--ezsp", type=int, default=8, help="EZSP version of the virtual NCP (8-13, default 8)")
    s.add_argument("--ext-pan-id", help="the hub's extended PAN ID = its EUI-64 (default: the first "
                   "network that lets it join)")
    s.add_argument("--channel", type=int, help="the hub's channel (default: found by an active scan)")
    s.add_argument("--pan-id", type=_int, help="the hub's PAN ID (default: found by an active scan)")
    s.add_argument("--time-scale", type=float, default=1.0,
                   help="meter time runs this many times faster than real time (default 1)")
    s.add_argument("--version", dest="file_version", type=_version, default=_version("1.0.0"),
                   help="running firmware version (default 1.0.0)")
    s.add_argument("--manufacturer-code", type=_int, default=0x1234, help="for OTA images (default 0x1234)")
    s.add_argument("--image-type", type=_int, help="for OTA images (default esme 0x0101, gsme 0x0201, "
                   "ppmid 0x0501)")
    s.add_argument("--trusted-key", help="image-signing public key the device trusts: 128 hex digits or a "
                   "PEM file (default: the development key, `commshub keys`)")
    s.add_argument("--wake-interval", type=float, default=1800.0,
                   help="gsme: seconds of meter time between wakes (default 1800)")
    s.add_argument("--meter-nwk", type=_int, help="ppmid: talk to this meter directly (default: via the hub)")
    s.add_argument("--fresh", action="store_true", help="forget what a previous device of this name "
                   "kept (firmware version, register, credit); default: resume it")
    s.add_argument("--foreground", action="store_true", help="run in this terminal until Ctrl-C")
    s.set_defaults(func=_start)

    ls = hs.add_parser("list", help="running devices and their state")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=_list)

    st = hs.add_parser("stop", help="stop devices (their virtual NCPs stay on the air)")
    st.add_argument("names", nargs="*", help="device names (see `han list`)")
    st.add_argument("--all", action="store_true", help="stop every running device")
    st.set_defaults(func=_stop)

    t = hs.add_parser("top-up", help="enter a top-up code (UTRN) on a running PPMID, as at its keypad",
                      description="The PPMID sends Consumer Top Up to the hub, which passes it to the meter; "
                      "prints the meter's result and the PPMID's display. Exit status 1 when refused.")
    t.add_argument("name", help="the PPMID (see `han list`)")
    t.add_argument("utrn", help="20 digits (spaces and dashes ignored)")
    t.set_defaults(func=lambda a: _ask(a.name, {"top_up": a.utrn}))
    e = hs.add_parser("emergency-credit", help="ask for emergency credit on a running PPMID")
    e.add_argument("name", help="the PPMID (see `han list`)")
    e.set_defaults(func=lambda a: _ask(a.name, {"emergency_credit": True}))

    u = hs.add_parser("utrn", help="make a 20-digit top-up code (UTRN) the emulated meters accept")
    u.add_argument("--value", type=int, required=True, help="pence (1..999999)")
    u.add_argument("--counter", type=int, required=True, help="supplier counter: a new one per code")
    u.add_argument("--key", help="the meter's top-up key (default: the emulators' development key)")
    u.set_defaults(func=_utrn)
    p.set_defaults(func=lambda a: (p.print_help(), 0)[1])


def _spec(a: argparse.Namespace) -> Any:
    from commshub.han.launch import DeviceSpec, read_notes, saved_state  # noqa: PLC0415
    from commshub.han.runtime import Network  # noqa: PLC0415
    from commshub.radio.ncp import to_eui64  # noqa: PLC0415

    taken = {n["name"] for n in read_notes()}
    name = a.name or next(f"{a.kind}-{i}" for i in range(1, 1000) if f"{a.kind}-{i}" not in taken)
    if name in taken:
        raise ValueError(f"a device called {name!r} is already running")
    saved = None if a.fresh else saved_state(name)  # the same device again: same EUI-64 and code
    if saved is not None and saved.get("kind") != a.kind:
        raise ValueError(f"{name} was a {saved.get('kind')}: use another --name, or --fresh")
    code = a.install_code or (saved or {}).get("install_code") or secrets.token_hex(16)
    try:
        if len(bytes.fromhex(code)) not in (16, 18):
            raise ValueError
    except ValueError:
        raise ValueError(f"--install-code is 32 hex digits (16 bytes), got {code!r}") from None
    eui = (str(to_eui64(a.eui64)) if a.eui64 else (saved or {}).get("eui64")
           or str(to_eui64(b"\x00\x0d\x6f" + os.urandom(5))))
    options: dict[str, Any] = {}
    if a.kind == "gsme":
        options["wake_interval_s"] = a.wake_interval
    if a.kind == "ppmid" and a.meter_nwk is not None:
        options["meter_nwk"] = a.meter_nwk
    return DeviceSpec(kind=a.kind, name=name, eui64=eui, install_code=code, air=a.air, port=a.port,
                      ezsp=a.ezsp, network=Network(a.channel, a.pan_id, a.ext_pan_id),
                      time_scale=a.time_scale, file_version=a.file_version,
                      manufacturer_code=a.manufacturer_code, image_type=a.image_type,
                      trusted_key=a.trusted_key, options=options, fresh=a.fresh)


def _start(a: argparse.Namespace) -> int:
    import dataclasses  # noqa: PLC0415

    from commshub.han import launch  # noqa: PLC0415

    spec = _spec(a)
    print(f"{spec.name}: {spec.kind} EUI-64 {spec.eui64} install code {spec.install_code}")
    if a.foreground:
        return asyncio.run(launch.run_device(spec))
    blob = json.dumps(dataclasses.asdict(spec))
    proc = subprocess.Popen([sys.executable, "-m", "commshub.han.launch", blob],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # wait until it has its NCP and is joining
        note = next((n for n in launch.read_notes() if n["name"] == spec.name), None)
        if note is not None:
            print(f"{spec.name}: pid {proc.pid}, NCP {note['ncp']}, {note['state']}")
            return 0
        if proc.poll() is not None:
            raise ConnectionError(f"{spec.name} exited at once (status {proc.returncode}); "
                                  "run it with --foreground to see why")
        time.sleep(0.2)
    raise ConnectionError(f"{spec.name} did not report within 15 s (pid {proc.pid})")


def _list(a: argparse.Namespace) -> int:
    from commshub.han.launch import read_notes  # noqa: PLC0415

    notes = read_notes()
    if a.json:
        print(json.dumps(notes, indent=1))
        return 0
    if not notes:
        print("no HAN devices running (commshub han start --help)")
    for n in notes:
        extra = ""
        shown = n.get("display") or {}
        if "credit_p" in n:
            extra += f" credit {n['credit_p'] / 100:.2f}"
        elif "credit_p" in shown:  # a PPMID: what its screen shows, read from the meter through the hub
            extra += f" display credit {shown['credit_p'] / 100:.2f}"
        if shown.get("last_top_up"):
            extra += f" last top-up {shown['last_top_up'][0]} {shown['last_top_up'][1] / 100:.2f}"
        if n.get("ota") and n["ota"]["status"] != "Normal":
            extra += f" ota {n['ota']['status']} {n['ota']['progress'][0]}/{n['ota']['progress'][1]}"
        print(f"{n['name']:<10} {n['kind']:<6} {n['eui64']} nwk {n['nwk'] or '-':<6} "
              f"v{n['version']} {n['state']}{extra}")
    return 0


def _ask(name: str, fields: dict[str, Any], timeout: float = 30.0) -> int:
    """Leave a request for running PPMID `name` and print its outcome; 0 when the meter accepted it."""
    from commshub.han.launch import post_request, read_notes  # noqa: PLC0415

    def note() -> dict[str, Any]:
        n = next((n for n in read_notes() if n["name"] == name), None)
        if n is None:
            raise ValueError(f"not running: {name} (see `commshub han list`)")
        return n

    if note()["kind"] != "ppmid":
        raise ValueError(f"{name} is not a PPMID: top-ups are entered on the PPMID")
    rid = post_request(name, fields)
    deadline = time.monotonic() + timeout
    while (done := note().get("request") or {}).get("id") != rid:
        if time.monotonic() > deadline:
            raise ConnectionError(f"{name} did not take the request within {timeout:.0f} s (is it joined?)")
        time.sleep(0.2)
    if "error" in done:
        print(f"{name}: {done['error']}")
        return 1
    shown = done["display"]
    what = f"{done['result']} {done['value'] / 100:.2f}" if "result" in done else \
        f"emergency credit {'granted' if done['accepted'] else 'refused'}"
    print(f"{name}: {what}; display credit {shown.get('credit_p', 0) / 100:.2f}")
    return 0 if done["accepted"] else 1


def _stop(a: argparse.Namespace) -> int:
    from commshub.han.launch import read_notes  # noqa: PLC0415

    notes = {n["name"]: n for n in read_notes()}
    names = list(notes) if a.all else a.names
    if not names:
        raise ValueError("name the devices to stop (see `commshub han list`) or give --all")
    unknown = [n for n in names if n not in notes]
    if unknown:
        raise ValueError(f"not running: {', '.join(unknown)}")
    for name in names:
        os.kill(int(notes[name]["pid"]), signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(n["name"] in names for n in read_notes()):
        time.sleep(0.1)
    print(f"stopped {', '.join(names)}")
    return 0


def _utrn(a: argparse.Namespace) -> int:
    from commshub.han.launch import DEV_TOP_UP_KEY  # noqa: PLC0415
    from commshub.han.utrn import make_utrn  # noqa: PLC0415

    print(make_utrn(a.value, a.counter, a.key.encode() if a.key else DEV_TOP_UP_KEY))
    return 0
