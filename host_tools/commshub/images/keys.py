"""Image-signing keys: ECDSA P-256, private keys in PEM, public keys as raw X||Y hex.

The hub's `/provision.json` lists trusted public keys as 128 hex digits (the
64-byte uncompressed point without its 0x04 prefix). A public key can be given
to the tools as that hex, or as a PEM file: public key, certificate (as the
DCC's digital-signing certificates are) or private key.

The *development key* (`dev_key()`) is created on first use in
`.cache/keys/dev-signing-key.pem` (git-ignored, mode 0600). Emulated hubs are
provisioned to trust it, so `commshub image build` output installs on them out
of the box. It is per checkout and never committed; it must never sign an
image for a real deployment.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .. import paths

PUBLIC_HEX_RE = re.compile(r"^(04)?[0-9a-fA-F]{128}$")
DEV_KEY_NAME = "dev-signing-key.pem"

PrivateKey = ec.EllipticCurvePrivateKey
PublicKey = ec.EllipticCurvePublicKey


class BadKey(ValueError):
    """A key file or value is not a usable P-256 key; the message says what was found."""


def keys_dir() -> Path:
    """Where the development key lives (`.cache/keys`, git-ignored)."""
    return paths.CACHE / "keys"


def generate() -> PrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def private_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def public_raw_hex(key: PrivateKey | PublicKey) -> str:
    """The public key as provisioned on hubs: X||Y, 128 lowercase hex digits."""
    pub = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    point = pub.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return point[1:].hex()


def public_from_hex(text: str) -> PublicKey:
    """A public key from 128 hex digits X||Y (a leading `04` is accepted)."""
    text = text.strip()
    if not PUBLIC_HEX_RE.match(text):
        raise BadKey(f"a raw public key is 128 hex digits (X||Y), got {len(text)} characters")
    raw = bytes.fromhex(text[-128:])
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + raw)
    except ValueError as e:
        raise BadKey(f"{text[:16]}... is not a point on P-256: {e}") from e


def _write_private(path: Path, key: PrivateKey) -> None:
    """Write a private key PEM with mode 0600 from the first byte; never overwrite."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private_pem(key))


def new_keypair(directory: Path | str, name: str | None = None) -> tuple[Path, str]:
    """Make a P-256 key pair in `directory`; returns (private PEM path, public hex).

    Writes `<name>.pem` (private, mode 0600) and `<name>.pub` (the public hex,
    for provisioning). `name` defaults to `signing-key-<first 8 hex of the public key>`.
    """
    key = generate()
    pub = public_raw_hex(key)
    name = name or f"signing-key-{pub[:8]}"
    directory = Path(directory)
    pem = directory / f"{name}.pem"
    if pem.exists():
        raise FileExistsError(f"{pem} exists; pick another --name or directory (keys are never overwritten)")
    _write_private(pem, key)
    (directory / f"{name}.pub").write_text(pub + "\n")
    return pem, pub


def load_private(path: Path | str) -> PrivateKey:
    """A P-256 private key from a PEM file (unencrypted PKCS#8 or SEC1)."""
    path = Path(path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as e:
        raise BadKey(f"{path} is not an unencrypted PEM private key: {e}") from e
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise BadKey(f"{path} holds a {type(key).__name__}, not a P-256 key")
    return key


def load_public(source: Path | str) -> PublicKey:
    """A P-256 public key from hex X||Y, or a file: PEM certificate, public or private key, or hex."""
    path = Path(source)
    if not path.is_file():
        if isinstance(source, str) and PUBLIC_HEX_RE.match(source.strip()):
            return public_from_hex(source)
        raise BadKey(f"{source!s} is neither a key file nor 128 hex digits of a public key")
    data = path.read_bytes()
    try:
        if b"CERTIFICATE" in data:
            key = x509.load_pem_x509_certificate(data).public_key()
        elif b"PRIVATE KEY" in data:
            key = load_private(path).public_key()
        elif b"PUBLIC KEY" in data:
            key = serialization.load_pem_public_key(data)
        else:
            return public_from_hex(data.decode("ascii", "replace"))
    except ValueError as e:
        raise BadKey(f"{path}: {e}") from e
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise BadKey(f"{path} holds a {type(key).__name__}, not a P-256 key")
    return key


def dev_key_path() -> Path:
    return keys_dir() / DEV_KEY_NAME


def dev_key() -> PrivateKey:
    """The development signing key; created (mode 0600) on first use.

    Safe when several processes start at once: the key is written to a temp
    file and hard-linked into place, so exactly one of them wins and everybody
    loads the winner's key.
    """
    path = dev_key_path()
    if not path.exists():
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        _write_private(tmp, generate())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return load_private(path)


def dev_public_hex() -> str:
    """The development key's public half as hubs are provisioned with it."""
    return public_raw_hex(dev_key())
