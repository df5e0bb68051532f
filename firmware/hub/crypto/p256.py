"""ECDSA P-256 / SHA-256 signature verification, pure MicroPython.

    verify(pub, digest, sig) -> bool

`pub` is the 64-byte raw public key X || Y, `digest` the 32-byte SHA-256 of
the message, `sig` the 64-byte raw r || s. Returns False, never raises, on a
key of the wrong length or off the curve, r or s out of [1, n-1], or a
signature that does not verify.

R = u1*G + u2*Q is computed with Shamir's trick (one pass over the bits of
both scalars, adding G, Q or G+Q) in Jacobian coordinates with mixed
additions of affine points (a = -3 doubling). Only G+Q needs a modular
inverse (pow(x, p-2, p)); the final x-coordinate test r == X/Z^2 mod n is
done without one: X == r*Z^2 (mod p), or (r+n)*Z^2 when r+n < p.
No tables beyond the three affine points: a few KB of short-lived big ints.
"""

P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
GX = 0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296
GY = 0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5


def on_curve(x, y):
    """True if (x, y) is an affine point of P-256 (coordinates in [0, p))."""
    if not (0 <= x < P and 0 <= y < P):
        return False
    return (y * y - (x * x * x - 3 * x + B)) % P == 0


def _double(X, Y, Z):
    """2*(X, Y, Z) in Jacobian coordinates, a = -3 (dbl-2001-b)."""
    p = P
    if Z == 0 or Y == 0:
        return 0, 1, 0
    delta = Z * Z % p
    gamma = Y * Y % p
    beta = X * gamma % p
    alpha = 3 * (X - delta) * (X + delta) % p
    X3 = (alpha * alpha - 8 * beta) % p
    Z3 = ((Y + Z) * (Y + Z) - gamma - delta) % p
    Y3 = (alpha * (4 * beta - X3) - 8 * gamma * gamma) % p
    return X3, Y3, Z3


def _add_affine(X1, Y1, Z1, x2, y2):
    """(X1, Y1, Z1) + affine (x2, y2) in Jacobian coordinates (madd, 8M + 3S)."""
    p = P
    if Z1 == 0:
        return x2, y2, 1
    t1 = Z1 * Z1 % p
    t2 = t1 * Z1 % p
    h = (t1 * x2 - X1) % p
    r = (t2 * y2 - Y1) % p
    if h == 0:
        if r == 0:
            return _double(x2, y2, 1)
        return 0, 1, 0
    hh = h * h % p
    hhh = hh * h % p
    v = X1 * hh % p
    X3 = (r * r - hhh - 2 * v) % p
    Y3 = (r * (v - X3) - Y1 * hhh) % p
    Z3 = Z1 * h % p
    return X3, Y3, Z3


def _to_affine(X, Y, Z):
    if Z == 0:
        return None
    zi = pow(Z, P - 2, P)
    zi2 = zi * zi % P
    return X * zi2 % P, Y * zi2 * zi % P


def _verify(pub, digest, sig):
    if len(pub) != 64 or len(digest) != 32 or len(sig) != 64:
        return False
    qx = int.from_bytes(pub[:32], "big")
    qy = int.from_bytes(pub[32:], "big")
    if not on_curve(qx, qy):
        return False
    r = int.from_bytes(sig[:32], "big")
    s = int.from_bytes(sig[32:], "big")
    if not (0 < r < N and 0 < s < N):
        return False
    e = int.from_bytes(digest, "big")  # 256 bits: no truncation for P-256
    w = pow(s, N - 2, N)
    u1 = e * w % N
    u2 = r * w % N
    # The three points Shamir's trick adds: G (bit of u1), Q (u2), G+Q (both).
    gq = _to_affine(*_add_affine(GX, GY, 1, qx, qy))  # None if Q == -G
    p = P
    X, Y, Z = 0, 1, 0
    i = 255  # u1, u2 < n < 2**256; leading zero bits only double infinity
    while i >= 0:
        # Inlined doubling (see _double); skip while at infinity.
        if Z != 0:
            if Y == 0:
                X, Y, Z = 0, 1, 0
            else:
                delta = Z * Z % p
                gamma = Y * Y % p
                beta = X * gamma % p
                alpha = 3 * (X - delta) * (X + delta) % p
                X3 = (alpha * alpha - 8 * beta) % p
                Z = ((Y + Z) * (Y + Z) - gamma - delta) % p
                Y = (alpha * (4 * beta - X3) - 8 * gamma * gamma) % p
                X = X3
        b = ((u1 >> i) & 1) | (((u2 >> i) & 1) << 1)
        i -= 1
        if b == 0:
            continue
        if b == 1:
            x2, y2 = GX, GY
        elif b == 2:
            x2, y2 = qx, qy
        elif gq is None:  # G + Q is the point at infinity
            continue
        else:
            x2, y2 = gq
        if Z == 0:
            X, Y, Z = x2, y2, 1
            continue
        # Inlined mixed addition (see _add_affine).
        t1 = Z * Z % p
        h = (t1 * x2 - X) % p
        r2 = (t1 * Z % p * y2 - Y) % p
        if h == 0:
            if r2 == 0:
                X, Y, Z = _double(x2, y2, 1)
            else:
                X, Y, Z = 0, 1, 0
            continue
        hh = h * h % p
        hhh = hh * h % p
        v = X * hh % p
        X3 = (r2 * r2 - hhh - 2 * v) % p
        Y = (r2 * (v - X3) - Y * hhh) % p
        Z = Z * h % p
        X = X3
    if Z == 0:
        return False
    zz = Z * Z % p
    if (r * zz - X) % p == 0:
        return True
    # x(R) in [n, p) also reduces to r mod n.
    return r + N < p and ((r + N) * zz - X) % p == 0


def verify(pub, digest, sig):
    """True iff `sig` (raw r||s) is a valid ECDSA P-256 signature of `digest` by `pub`."""
    try:
        return _verify(pub, digest, sig)
    except Exception:  # a wrong type (None, str): not a valid signature
        return False
