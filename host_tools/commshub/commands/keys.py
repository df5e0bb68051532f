"""`commshub keys`: image-signing key pairs (ECDSA P-256)."""

from __future__ import annotations

import argparse
import sys

from ..images import keys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "keys",
        help="make and show image-signing keys (ECDSA P-256)",
        description="Image-signing keys. Hubs trust the public keys listed in their /provision.json "
        "(`trusted_keys`, 128 hex digits X||Y); emulated hubs trust this checkout's development key.",
        epilog=(
            "examples:\n"
            "  commshub keys new --out ~/keys            # writes signing-key-XXXXXXXX.pem (0600) and .pub\n"
            "  commshub keys show ~/keys/signing-key-1a2b3c4d.pem\n"
            "  commshub keys show supplier-ds.pem        # a certificate works too\n"
            "  commshub keys dev                         # the development key emulated hubs trust\n"
            "Private keys are never written into the repository: keep them out of git."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ks = p.add_subparsers(dest="keys_command", metavar="ACTION")
    n = ks.add_parser("new", help="make a new key pair", description="Make a P-256 key pair: NAME.pem "
                      "(private, mode 0600) and NAME.pub (public key as hubs are provisioned with it).")
    n.add_argument("--out", default=".", help="directory to write to (default: the current one)")
    n.add_argument("--name", help="file name stem (default signing-key-<first 8 hex of the public key>)")
    n.set_defaults(func=run_new)
    s = ks.add_parser("show", help="print the public key (raw X||Y hex) of a key or certificate file")
    s.add_argument("key", help="PEM private key, public key or certificate, or a .pub hex file")
    s.set_defaults(func=run_show)
    d = ks.add_parser("dev", help="where the development key is and its public key (creates it if missing)")
    d.set_defaults(func=run_dev)
    p.set_defaults(func=lambda a: (p.print_help(), 0)[1])


def run_new(args: argparse.Namespace) -> int:
    try:
        pem, pub = keys.new_keypair(args.out, args.name)
    except FileExistsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"private key: {pem} (mode 0600: keep it secret, keep it out of git)")
    print(f"public key:  {pem.with_suffix('.pub')}")
    print(pub)
    print("sign with:   commshub image build --board BOARD --key " + str(pem) + " -o FILE")
    return 0


def run_show(args: argparse.Namespace) -> int:
    try:
        print(keys.public_raw_hex(keys.load_public(args.key)))
    except keys.BadKey as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def run_dev(args: argparse.Namespace) -> int:
    pub = keys.dev_public_hex()
    print(f"development key: {keys.dev_key_path()} (this checkout only; for emulated and lab hubs)")
    print(pub)
    return 0
