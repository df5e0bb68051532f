"""`commshub flash`: put stock MicroPython and the hub on a real board."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import paths
from ..flash import firmware as fwcheck
from ..flash import pi, plans, ports, spec as specs
from ..flash.runner import execute, fail

# Where a downloaded firmware file is looked for when --micropython is not given.
SEARCH = (Path.cwd(), Path.home() / "Downloads", paths.IMAGES / "firmware")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "flash", help="flash a real board: stock MicroPython + the hub's filesystem",
        description="ESP32: esptool erases, writes the stock MicroPython .bin and the hub's littlefs image. "
        "Pico W: the UF2 drive takes MicroPython, mpremote the hub's files. Raspberry Pi (run on the Pi): "
        "installs the hub as a systemd service. The MicroPython file is checked against the board "
        "description before anything is written. Board pages: docs/boards/.",
        epilog="examples:\n"
        "  commshub flash --board esp32-devkitc --port /dev/ttyUSB0 --dry-run\n"
        "  commshub flash --board esp32-devkitc --port /dev/ttyUSB0 --micropython ESP32_GENERIC-20250415-v1.25.0.bin\n"
        "  commshub flash --board rpi-pico-w --port /dev/ttyACM0\n"
        "  commshub flash --board raspberry-pi            (on the Pi)",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--board", required=True, help=f"board description ({', '.join(specs.flashable())})")
    p.add_argument("--port", help="serial port of the board (Raspberry Pi: the control UART, default from the board)")
    p.add_argument("--micropython", metavar="FILE", help="the stock MicroPython file (default: its pinned name in "
                   "., ~/Downloads or images/firmware/)")
    p.add_argument("--radio-port", metavar="TTY",
                   help="Raspberry Pi: the Zigbee NCP dongle, best its /dev/serial/by-id/... name "
                        "(default: the board's, /dev/ttyUSB0); other boards wire the NCP to fixed pins")
    p.add_argument("--dry-run", action="store_true", help="print the exact commands and touch nothing")
    p.add_argument("--hub-id", help="hub EUI-64, 16 hex digits (default: from the chip's MAC / unique ID / machine-id)")
    p.add_argument("--mqtt-url", default="", help="broker the hub connects to, mqtt://host:port (default: none)")
    p.add_argument("--trusted-key", action="append", default=[], metavar="KEY",
                   help="image-signing public key the hub trusts (hex X||Y, PEM, certificate); repeatable. "
                   "Default: the development key")
    p.add_argument("--baud", type=int, help="esptool's flashing baud rate (default: the board's)")
    p.add_argument("--uf2-drive", help="Pico W: where the RPI-RP2 drive is mounted (default: searched)")
    p.add_argument("--record-sha256", action="store_true",
                   help="after the file's checks pass, pin its SHA-256 in boards/BOARD.json")
    p.set_defaults(func=run)


def register_factory(acts: argparse._SubParsersAction) -> None:
    """`commshub image factory`: the merged production image of an ESP32 board."""
    f = acts.add_parser("factory", help="one merged ESP32 image (MicroPython + hub filesystem) for production",
                        description="esptool merge-bin of the stock MicroPython .bin and the unit's littlefs image "
                        "at their flash offsets, into images/build/. Write it with `esptool write-flash 0x0 FILE`.",
                        epilog="example: commshub image factory --board esp32-devkitc --hub-id 0200AABBCCDDEEFF")
    f.add_argument("--board", required=True, help="an ESP32 board description (esp32-devkitc)")
    f.add_argument("--micropython", metavar="FILE", help="the stock MicroPython .bin (default: searched as for flash)")
    f.add_argument("--hub-id", default="0200000000000001", help="the unit's EUI-64 (16 hex digits)")
    f.add_argument("--mqtt-url", default="", help="broker URL to provision (default: none)")
    f.add_argument("--trusted-key", action="append", default=[], metavar="KEY", help="trusted signing key; repeatable")
    f.add_argument("-o", "--output", help="output file (default images/build/factory-BOARD-HUBID.bin)")
    f.set_defaults(func=run_factory)


def run_factory(args: argparse.Namespace) -> int:
    from ..flash import factory, tools

    try:
        spec = specs.load(args.board)
        path = find_firmware(spec, args.micropython)
        if path is None:
            assert spec.firmware is not None
            return fail(f"no MicroPython file: download {spec.firmware.file} from {spec.firmware.url}, "
                        f"or give --micropython FILE")
        made = factory.build(spec, path, args.hub_id.upper(), args.mqtt_url, args.trusted_key,
                             Path(args.output) if args.output else None)
    except (specs.BoardSpecError, fwcheck.FirmwareMismatch, factory.FactoryError, ValueError) as e:
        return fail(str(e))
    lay = spec.esp
    assert lay is not None and spec.firmware is not None
    print(f"factory image {made.path} ({made.path.stat().st_size} bytes): MicroPython {spec.firmware.version} at "
          f"{spec.firmware.offset:#x}, hub filesystem ({len(made.fs.files)} files, hub {args.hub_id.upper()}) "
          f"at {lay.fs_offset:#x}")
    if made.fs.dev_key:
        print("note: the hub trusts the DEVELOPMENT key; give --trusted-key for units leaving the bench")
    print("write it with:\n  " + " ".join(tools.esp_write_factory(spec, "PORT", made.path)))
    return 0


def find_firmware(spec: specs.BoardSpec, given: str | None) -> Path | None:
    """The firmware file to use: the given one, else the pinned file name in the usual places."""
    if given:
        return Path(given)
    assert spec.firmware is not None
    for d in SEARCH:
        if (d / spec.firmware.file).is_file():
            return d / spec.firmware.file
    return None


def run(args: argparse.Namespace) -> int:
    try:
        spec = specs.load(args.board)
    except (specs.BoardSpecError, ValueError) as e:
        return fail(str(e))
    hub_id = args.hub_id.upper() if args.hub_id else None
    if spec.kind == "linux":
        port = args.port or spec.board.raw["control"].get("device", "/dev/ttyAMA0")
        try:
            hub_id = hub_id or pi.machine_hub_id()
        except RuntimeError as e:
            return fail(str(e))
        unit = plans.Unit(spec=spec, port=port, firmware=None, hub_id=hub_id,
                          mqtt_url=args.mqtt_url, trusted=args.trusted_key, radio_port=args.radio_port)
        return execute(pi.steps(unit), args.dry_run)
    if args.radio_port:
        return fail(f"--radio-port is for the Raspberry Pi: {spec.name} has its NCP on fixed pins "
                    f"(see docs/boards/{spec.name}.md)")
    if not args.port:
        return fail(f"which port? give --port (serial ports present: {', '.join(ports.present_ports()) or 'none'})")
    path = find_firmware(spec, args.micropython)
    assert spec.firmware is not None
    if path is None:
        msg = (f"no MicroPython file: download {spec.firmware.file} from {spec.firmware.url} "
               f"into . or ~/Downloads, or give --micropython FILE")
        if not args.dry_run:
            return fail(msg)
        print(f"note: {msg}")
        path = Path(spec.firmware.file)
    else:
        try:
            checked = fwcheck.check(spec, path)
        except fwcheck.FirmwareMismatch as e:
            return fail(str(e))
        how = "SHA-256 matches the pin" if checked.pinned else "SHA-256 not pinned (see the board page)"
        print(f"firmware {path}: {', '.join(checked.facts)}; {how}\n  sha256 {checked.sha256}")
        if args.record_sha256 and not args.dry_run:
            print(f"pinned it in {fwcheck.record_pin(spec.name, checked.sha256)}")
    unit = plans.Unit(spec=spec, port=args.port, firmware=path, hub_id=hub_id, mqtt_url=args.mqtt_url,
                      trusted=args.trusted_key, baud=args.baud, uf2_drive=args.uf2_drive)
    if not args.dry_run:
        try:
            if spec.kind == "esp32":
                ports.check_port(args.port)  # the Pico W's port appears only after the UF2 copy
        except ports.PortError as e:
            return fail(str(e))
    return execute(plans.esp32(unit) if spec.kind == "esp32" else plans.rp2(unit), args.dry_run)
