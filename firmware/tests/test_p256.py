"""ECDSA P-256 verify: generated vectors and the DCC sample image's signature.

Vectors: vectors/p256.json, written by scripts/make-firmware-vectors.py
(CPython + cryptography, fresh random keys, public halves only).
"""

import binascii
import hashlib
import json

from hub.crypto import p256
from util import dcc_sample as _sample

_HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."

_doc = None


def _vectors():
    global _doc
    if _doc is None:
        with open(_HERE + "/vectors/p256.json") as f:
            _doc = json.load(f)
    return _doc


def _case(c):
    return tuple(binascii.unhexlify(c[k]) for k in ("pub", "digest", "sig"))




def test_valid_vectors_verify():
    cases = [c for c in _vectors()["cases"] if c["valid"]]
    assert len(cases) >= 6
    for c in cases:
        assert p256.verify(*_case(c)) is True, c["name"]


def test_invalid_vectors_fail():
    cases = [c for c in _vectors()["cases"] if not c["valid"]]
    names = [c["name"] for c in cases]
    for need in ("bad_r_bit", "bad_s_bit", "bad_digest_bit", "r_zero", "s_is_n",
                 "pub_y_bit_off_curve", "other_key", "pub_order2_off_curve", "s_plus_n"):
        assert need in names, need
    for c in cases:
        assert p256.verify(*_case(c)) is False, c["name"]


def test_every_sig_byte_matters():
    c = [c for c in _vectors()["cases"] if c["valid"]][0]
    pub, digest, sig = _case(c)
    for i in (0, 17, 31, 32, 50, 63):
        bad = bytearray(sig)
        bad[i] ^= 0x80
        assert p256.verify(pub, digest, bytes(bad)) is False, i


def test_edge_keys_and_digests():
    # Q = G (G+Q is a doubling), Q = -G (G+Q is infinity), e = 0, e > n.
    by_name = {c["name"]: c for c in _vectors()["cases"]}
    for n in ("pub_is_G", "pub_is_minus_G", "digest_zero", "digest_all_ff", "small_s"):
        assert p256.verify(*_case(by_name[n])) is True, n


def test_bad_inputs_return_false_never_raise():
    c = [c for c in _vectors()["cases"] if c["valid"]][0]
    pub, digest, sig = _case(c)
    assert p256.verify(pub[:63], digest, sig) is False
    assert p256.verify(pub + b"\x00", digest, sig) is False
    assert p256.verify(pub, digest[:31], sig) is False
    assert p256.verify(pub, digest, sig[:63]) is False
    assert p256.verify(pub, digest, sig + b"\x00") is False
    assert p256.verify(None, digest, sig) is False
    assert p256.verify(pub, "x" * 32, sig) is False
    assert p256.verify(b"", b"", b"") is False
    # r = n - 1 and s = 1 are in range but do not verify.
    n = p256.N.to_bytes(32, "big")
    r = (p256.N - 1).to_bytes(32, "big")
    assert p256.verify(pub, digest, r + (1).to_bytes(32, "big")) is False
    assert p256.verify(pub, digest, n + n) is False
    # The generator is on the curve, (0, 0) and (G.x, G.y + 1) are not.
    assert p256.on_curve(p256.GX, p256.GY)
    assert not p256.on_curve(0, 0)
    assert not p256.on_curve(p256.GX, p256.GY + 1)
    assert not p256.on_curve(p256.GX + p256.P, p256.GY)


def test_dcc_sample_signature_over_mi():
    img = _sample()
    assert len(img) == 361
    doc = _vectors()
    pub = binascii.unhexlify(doc["dcc_pub"])
    mi = img[60:295]
    digest = hashlib.sha256(mi).digest()
    assert binascii.hexlify(digest).decode() == doc["dcc_mi_sha256"]
    assert binascii.hexlify(digest).decode() == "7542f475e3f12eae887d81e32c46d313741d67076b13caec2f82e00ba5e1bb36"
    assert img[296] == 0x40
    sig = img[297:361]
    assert p256.verify(pub, digest, sig) is True
    # Over the whole file, or over a changed MI, it does not verify.
    assert p256.verify(pub, hashlib.sha256(img[:295]).digest(), sig) is False
    changed = bytearray(mi)
    changed[100] ^= 1
    assert p256.verify(pub, hashlib.sha256(changed).digest(), sig) is False
