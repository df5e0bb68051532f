"""`commshub image`: build, sign, inspect, verify, push and activate hub firmware images."""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path
from typing import Any, Callable

from .. import boards, paths
from ..images import gbcs, keys, push
from ..images.hub_image import DEFAULT_IMAGE_TYPE, DEFAULT_MANUFACTURER, build_hub_image, inspect
from ..images.manifest import TEST_FAULTS, source_version
from ..protocol.errors import HubError, HubTimeout
from . import common
from ..images.view import console, inspection_dict, inspection_table, push_progress, result_table, status_table

EXIT_INVALID = 1


def _int(text: str) -> int:
    return int(text, 0)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "image",
        help="build, sign, inspect, verify, push and activate firmware images",
        description="Hub firmware images: a GBCS image (Zigbee OTA header, manufacturer image, "
        "ECDSA P-256 signature over it) carrying the hub's app bundle. See docs/IMAGES.md.",
        epilog=(
            "typical session (with `make run` up):\n"
            "  commshub image build --board emulator --version 0.2.0 -o new.img\n"
            "  commshub image inspect new.img\n"
            "  commshub image push new.img --activate\n"
            "  commshub image status\n"
            "Images are signed with this checkout's development key unless --key is given;\n"
            "emulated hubs trust that key (see `commshub keys dev`)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    acts = p.add_subparsers(dest="image_command", metavar="ACTION")
    p.set_defaults(func=lambda a: (p.print_help(), 0)[1])
    _register_offline(acts)
    _register_online(acts)


def _register_offline(acts: argparse._SubParsersAction) -> None:
    b = acts.add_parser("build", help="compile the firmware into a signed image",
                        description="Compile the firmware for --board, pack it as an app bundle, wrap it in a "
                        "GBCS image and sign it.", formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog="example: commshub image build --board esp32-devkitc --version 0.2.0 -o fw-0.2.0.img")
    b.add_argument("--board", action="append", required=True, metavar="BOARD",
                   help=f"board to build for; repeat to allow more boards ({', '.join(boards.names())})")
    b.add_argument("--version", help=f"version the hub will report (default FW_VERSION, now {source_version()})")
    b.add_argument("--min-version", default="0.0.0", help="lowest running version this image may replace")
    b.add_argument("--note", default="", help="free text for the manifest")
    b.add_argument("--key", help="private key PEM to sign with (default: the development key)")
    b.add_argument("--unsigned", action="store_true", help="leave the signature empty (sign later with `image sign`)")
    b.add_argument("--manufacturer", type=_int, default=DEFAULT_MANUFACTURER,
                   help=f"OTA manufacturer code (default {DEFAULT_MANUFACTURER:#06x})")
    b.add_argument("--image-type", type=_int, default=DEFAULT_IMAGE_TYPE,
                   help=f"OTA image type (default {DEFAULT_IMAGE_TYPE:#06x})")
    b.add_argument("--force-replace", action="store_true", help="set the GBCS force-replace flag")
    b.add_argument("--test-fault", choices=TEST_FAULTS, help="HIL test builds only: a fault the firmware acts out")
    b.add_argument("-o", "--output", help="output file (default images/build/commshub-VERSION-BOARD.img)")
    b.set_defaults(func=run_build)

    s = acts.add_parser("sign", help="sign (or re-sign) an image file in place or to -o")
    s.add_argument("file")
    s.add_argument("--key", required=True, help="private key PEM")
    s.add_argument("-o", "--output", help="write here instead of replacing FILE")
    s.set_defaults(func=run_sign)

    i = acts.add_parser("inspect", help="show an image's header, hashes, signature and manifest")
    i.add_argument("file")
    i.add_argument("--files", action="store_true", help="also list the bundle's files")
    i.add_argument("--json", action="store_true", help="print JSON instead of tables")
    i.set_defaults(func=run_inspect)

    v = acts.add_parser("verify", help="check an image's signature (exit 0 valid, 1 not)",
                        description="Verify the ECDSA P-256 signature over the manufacturer image. "
                        "Without a key option, checks against the development key.")
    who = v.add_mutually_exclusive_group()
    who.add_argument("--key", help="private key PEM (its public half is used)")
    who.add_argument("--cert", help="X.509 certificate PEM (e.g. a DCC digital-signing certificate)")
    who.add_argument("--pub", help="public key: 128 hex digits X||Y, or a PEM/.pub file")
    v.add_argument("file")
    v.set_defaults(func=run_verify)

    from .flash import register_factory  # `image factory` lives with the flashing commands

    register_factory(acts)


def _register_online(acts: argparse._SubParsersAction) -> None:
    codes = "exit codes: 0 ok, 2 the hub refused (its error code is printed), 3 no answer in time"
    pu = acts.add_parser("push", help="transfer an image to a hub (resumes an interrupted transfer)",
                         description="Offer the image to the hub and answer every block it asks for. "
                         "Run it again after an interruption: the hub resumes where it got to.",
                         epilog=codes)
    pu.add_argument("file")
    pu.add_argument("--window", type=int, help=f"blocks in flight, 1..{push.MQTT_WINDOW} (default {push.MQTT_WINDOW} over "
                    f"MQTT, {push.WINDOW} over serial)")
    pu.add_argument("--ack-every", type=int, help=f"blocks per answer from the hub (default {push.MQTT_ACK_EVERY} over "
                    f"MQTT, {push.ACK_EVERY} over serial; 1 answers every block)")
    pu.add_argument("--block-size", type=int, help="propose a block size (the hub decides)")
    pu.add_argument("--verify-timeout", type=float, default=120.0,
                    help="seconds to wait for the hub to verify the image after the last block (default 120)")
    pu.add_argument("--activate", action="store_true", help="activate it right after a successful transfer")
    pu.add_argument("--han", action="store_true",
                    help="a device image the hub holds for its HAN devices (han.image.*; docs/RADIO.md), "
                    "offered to them over the OTA Upgrade cluster")
    common.add_link_options(pu)
    pu.set_defaults(func=run_push)

    a = acts.add_parser("activate", help="activate a staged image now or at a UTC time", epilog=codes)
    a.add_argument("image", help="manufacturer image hash (64 hex) or the image file")
    a.add_argument("--at", help="UTC time: seconds, or ISO 8601 like 2030-01-01T00:00:00Z (default: now)")
    common.add_link_options(a)
    a.set_defaults(func=run_activate)

    for name, fn, text in (("status", push.status, "slots, running version, transfer, scheduled activation"),
                           ("rollback", push.rollback, "go back to the previous slot (the hub reboots)"),
                           ("cancel", push.cancel, "cancel a scheduled activation"),
                           ("abort", push.abort, "drop the transfer in progress")):
        c = acts.add_parser(name, help=text, epilog=codes)
        c.add_argument("--json", action="store_true", help="print the raw JSON result")
        common.add_link_options(c)
        c.set_defaults(func=functools.partial(run_simple, fn))


# -- offline ------------------------------------------------------------------

def _read(path: str) -> bytes:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no image file {path!r}")
    return p.read_bytes()


def run_build(args: argparse.Namespace) -> int:
    board, *more = args.board
    version = args.version or source_version()
    key = keys.load_private(args.key) if args.key else None
    t0 = time.monotonic()
    data = build_hub_image(board, version=version, boards=more, min_version=args.min_version, note=args.note,
                           test_fault=args.test_fault, key=key, signed=not args.unsigned,
                           manufacturer=args.manufacturer, image_type=args.image_type,
                           force_replace=args.force_replace)
    took = time.monotonic() - t0
    out = Path(args.output or paths.BUILD / f"commshub-{version}-{board}.img")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    signer = "unsigned" if args.unsigned else (f"signed with {args.key}" if args.key else "signed with the dev key")
    console().print(f"[bold green]built[/] {out} ({len(data)} bytes, {signer}) in {took:.2f} s")
    if args.test_fault:
        console().print(f"[bold yellow]test build:[/] the hub will act out {args.test_fault!r} (HIL tests only)")
    console().print(inspection_table(inspect(data), out))
    return 0


def run_sign(args: argparse.Namespace) -> int:
    data = _read(args.file)
    signed = gbcs.sign(data, keys.load_private(args.key))
    out = Path(args.output or args.file)
    out.write_bytes(signed)
    img = gbcs.parse_image(signed)
    console().print(f"[bold green]signed[/] {out}: MI hash {img.mi_hash}")
    return 0


def run_inspect(args: argparse.Namespace) -> int:
    data = _read(args.file)
    try:
        found = inspect(data)
    except gbcs.ImageFormatError as e:
        print(f"{args.file}: not a valid GBCS image: {e}", file=sys.stderr)
        return EXIT_INVALID
    if args.json:
        import json

        print(json.dumps(inspection_dict(found), indent=2))
    else:
        console().print(inspection_table(found, Path(args.file), list_files=args.files))
    return 0 if found.bundle_error is None else EXIT_INVALID


def run_verify(args: argparse.Namespace) -> int:
    source = args.key or args.cert or args.pub
    try:
        public = keys.load_public(source) if source else keys.dev_key().public_key()
        img = gbcs.parse_image(_read(args.file))
    except (keys.BadKey, gbcs.ImageFormatError) as e:
        print(f"INVALID: {e}", file=sys.stderr)
        return EXIT_INVALID
    who = source or "the development key"
    if not img.signed:
        print(f"INVALID: {args.file} is unsigned (sign it with `commshub image sign`)", file=sys.stderr)
        return EXIT_INVALID
    if not gbcs.verify(img, public):
        print(f"INVALID: the signature over the manufacturer image does not verify with {who} "
              f"({keys.public_raw_hex(public)[:16]}...): wrong key, or the image was modified", file=sys.stderr)
        return EXIT_INVALID
    print(f"OK: signature verifies with {who}; MI hash {img.mi_hash}")
    return 0


# -- online -------------------------------------------------------------------

def _on_hub(args: argparse.Namespace, action: Callable[[Any], int]) -> int:
    """Open the link, run `action(link)`, and turn hub errors into messages and exit codes."""
    with common.open_link(args) as link:
        try:
            return action(link)
        except push.PushError as e:
            print(f"push stopped: {e.code}: {e.message}", file=sys.stderr)
            return common.EXIT_TIMEOUT if e.code == "timeout" else common.EXIT_HUB_ERROR
        except (HubError, HubTimeout) as e:
            return common.hub_failure(e)


def run_push(args: argparse.Namespace) -> int:
    data = _read(args.file)

    def action(link: Any) -> int:
        with push_progress(len(data)) as update:
            res = push.push(link, data, update, window=args.window, ack_every=args.ack_every,
                            block_size=args.block_size, verify_timeout=args.verify_timeout,
                            commands="han.image" if args.han else "image")
        resumed = f", resumed at {res.resumed_from}" if res.resumed_from else ""
        console().print(f"[bold green]transferred[/] {res.size} bytes over {link.name} in {res.elapsed_s:.2f} s "
                        f"({res.rate_bps / 1024:.1f} KiB/s sent, {res.blocks_sent} blocks of {res.block_size}"
                        f"{resumed}, {res.resyncs} resyncs)")
        console().print(f"MI hash {res.mi_hash}")
        if args.han:
            console().print(f"held for devices: {res.result.get('image')}")
            return 0
        if args.activate and res.mi_hash:
            return _show_activation(push.activate(link, res.mi_hash))
        return 0

    return _on_hub(args, action)


def _show_activation(result: dict[str, Any]) -> int:
    console().print(result_table(result))
    return 0 if result.get("outcome") == 0 else common.EXIT_HUB_ERROR


def run_activate(args: argparse.Namespace) -> int:
    target = args.image
    if Path(target).is_file():
        target = gbcs.parse_image(Path(target).read_bytes()).mi_hash
    elif len(target) != 64 or any(c not in "0123456789abcdefABCDEF" for c in target):
        print(f"error: {target!r} is neither an image file nor a 64-hex-digit MI hash", file=sys.stderr)
        return common.EXIT_USAGE
    at = push.utc_seconds(args.at) if args.at else None
    return _on_hub(args, lambda link: _show_activation(push.activate(link, target, at)))


def run_simple(fn: Callable[[Any], dict[str, Any]], args: argparse.Namespace) -> int:
    def action(link: Any) -> int:
        result = fn(link)
        if fn is push.status and not args.json:
            console().print(status_table(result))
        else:
            common.print_result(result, args.json)
        return 0

    return _on_hub(args, action)
