#!/usr/bin/env python3
"""Write firmware/tests/vectors/p256.json: ECDSA P-256 test vectors for the hub.

    .venv/bin/python scripts/make-firmware-vectors.py

Runs on the host (CPython + cryptography). Every key is fresh and random and
only its public half is written: no private key ever leaves this process.
Valid cases are checked with cryptography before they are written; each
invalid case is derived from a valid one and checked to fail.

The DCC sample image's signing key (the supplier's digital-signing
certificate in ../shared/fixtures/gbcs/) is written as `dcc_pub` so the
firmware test can verify the sample image's signature over its
Manufacturer Image.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed, decode_dss_signature, encode_dss_signature)

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "firmware" / "tests" / "vectors" / "p256.json"
DCC_CERT = ROOT.parent / "shared" / "fixtures" / "gbcs" / "supplier-90b3d51f30010000-ds.pem"
DCC_SAMPLE = ROOT.parent / "shared" / "fixtures" / "gbcs" / "sample-esme-firmware-image.bin"

P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
ALG = ec.ECDSA(Prehashed(hashes.SHA256()))


def raw_pub(key: ec.EllipticCurvePublicKey) -> bytes:
    n = key.public_numbers()
    return n.x.to_bytes(32, "big") + n.y.to_bytes(32, "big")


def sign(priv: ec.EllipticCurvePrivateKey, digest: bytes) -> bytes:
    r, s = decode_dss_signature(priv.sign(digest, ALG))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def host_verify(pub: bytes, digest: bytes, sig: bytes) -> bool:
    """cryptography's answer, or False for what it cannot even load."""
    try:
        key = ec.EllipticCurvePublicNumbers(
            int.from_bytes(pub[:32], "big"), int.from_bytes(pub[32:], "big"), ec.SECP256R1()
        ).public_key()
        r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
        key.verify(encode_dss_signature(r, s), digest, ALG)
        return True
    except (InvalidSignature, ValueError):
        return False


def flip(b: bytes, i: int, bit: int = 0) -> bytes:
    out = bytearray(b)
    out[i] ^= 1 << bit
    return bytes(out)


def case(name: str, pub: bytes, digest: bytes, sig: bytes, valid: bool) -> dict:
    if host_verify(pub, digest, sig) != valid:
        sys.exit(f"vector {name}: cryptography disagrees (expected valid={valid})")
    return {"name": name, "pub": pub.hex(), "digest": digest.hex(), "sig": sig.hex(), "valid": valid}


def main() -> None:
    cases = []
    base = None
    for i in range(4):
        priv = ec.generate_private_key(ec.SECP256R1())
        digest = hashlib.sha256(b"commshub vector %d " % i + os.urandom(16)).digest()
        c = case(f"random_{i}", raw_pub(priv.public_key()), digest, sign(priv, digest), True)
        cases.append(c)
        base = base or (priv, c)
    # Digests at the edges: e = 0 and e > n (reduced mod n).
    for name, digest in (("digest_zero", bytes(32)), ("digest_all_ff", b"\xff" * 32)):
        priv = ec.generate_private_key(ec.SECP256R1())
        cases.append(case(name, raw_pub(priv.public_key()), digest, sign(priv, digest), True))
    # Public keys Q = G and Q = -G: G+Q needs the doubling / is the point at
    # infinity in Shamir's table. These private keys (1 and n-1) are public knowledge.
    for name, d in (("pub_is_G", 1), ("pub_is_minus_G", N - 1)):
        priv = ec.derive_private_key(d, ec.SECP256R1())
        digest = hashlib.sha256(name.encode() + os.urandom(8)).digest()
        cases.append(case(name, raw_pub(priv.public_key()), digest, sign(priv, digest), True))

    _, c = base
    pub, digest, sig = (bytes.fromhex(c[k]) for k in ("pub", "digest", "sig"))
    r, s = sig[:32], sig[32:]
    cases += [
        case("bad_r_bit", pub, digest, flip(sig, 31), False),
        case("bad_s_bit", pub, digest, flip(sig, 40, 3), False),
        case("bad_digest_bit", pub, flip(digest, 0, 7), sig, False),
        case("r_zero", pub, digest, bytes(32) + s, False),
        case("s_zero", pub, digest, r + bytes(32), False),
        case("r_is_n", pub, digest, N.to_bytes(32, "big") + s, False),
        case("s_is_n", pub, digest, r + N.to_bytes(32, "big"), False),
        case("s_all_ff", pub, digest, r + b"\xff" * 32, False),
        case("swapped_r_s", pub, digest, s + r, False),
    ]
    # A different key's signature, and keys off the curve.
    other = ec.generate_private_key(ec.SECP256R1())
    cases.append(case("other_key", raw_pub(other.public_key()), digest, sig, False))
    bad_pub = flip(pub, 63)  # y changed by one bit: off the curve
    cases.append(case("pub_y_bit_off_curve", bad_pub, digest, sig, False))
    cases.append(case("pub_x_bit_off_curve", flip(pub, 5, 2), digest, sig, False))
    cases.append(case("pub_zero", bytes(64), digest, sig, False))
    y = int.from_bytes(pub[32:], "big")
    if y + P < (1 << 256):  # the same point with y not reduced mod p
        cases.append(case("pub_y_plus_p", pub[:32] + (y + P).to_bytes(32, "big"), digest, sig, False))
    # The same point negated (x, p - y) is on the curve but is another key.
    cases.append(case("pub_negated", pub[:32] + (P - y).to_bytes(32, "big"), digest, sig, False))

    # Invalid-curve key: (3, 0) has order 2 on y^2 = x^3 - 3x + b' (b' = -18),
    # and the a = -3 formulas never use b. With e = 0, r = 3, s = 1 a verifier
    # that skips the on-curve check computes R = 3*(3, 0) = (3, 0) and accepts.
    cases.append(case("pub_order2_off_curve", (3).to_bytes(32, "big") + bytes(32), bytes(32),
                      (3).to_bytes(32, "big") + (1).to_bytes(32, "big"), False))
    # A valid signature with a small s (chosen s, nonce k and key d; the
    # "digest" e = s*k - r*d mod n follows), so that s + n still fits 32 bytes:
    # (r, s + n) is the same signature mod n and must be refused (s >= n).
    d = int.from_bytes(os.urandom(32), "big") % (N - 1) + 1
    k = int.from_bytes(os.urandom(32), "big") % (N - 1) + 1
    r_small = ec.derive_private_key(k, ec.SECP256R1()).public_key().public_numbers().x % N
    s_small = int.from_bytes(os.urandom(24), "big") | 1
    e = (s_small * k - r_small * d) % N
    kpub = raw_pub(ec.derive_private_key(d, ec.SECP256R1()).public_key())
    del d, k  # never written
    rb = r_small.to_bytes(32, "big")
    cases.append(case("small_s", kpub, e.to_bytes(32, "big"), rb + s_small.to_bytes(32, "big"), True))
    cases.append(case("s_plus_n", kpub, e.to_bytes(32, "big"), rb + (s_small + N).to_bytes(32, "big"), False))

    cert = x509.load_pem_x509_certificate(DCC_CERT.read_bytes())
    dcc_pub = raw_pub(cert.public_key())
    sample = DCC_SAMPLE.read_bytes()
    mi = sample[60:295]
    mi_digest = hashlib.sha256(mi).digest()
    if not host_verify(dcc_pub, mi_digest, sample[297:361]):
        sys.exit("the DCC sample does not verify with the supplier key")

    doc = {
        "about": "ECDSA P-256/SHA-256 vectors for firmware/tests/test_p256.py, written by "
                 "scripts/make-firmware-vectors.py (fresh random keys; public halves only).",
        "cases": cases,
        "dcc_pub": dcc_pub.hex(),
        "dcc_mi_sha256": mi_digest.hex(),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(cases)} cases")


if __name__ == "__main__":
    main()
