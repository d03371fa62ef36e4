"""Ed25519 signature verification (RFC 8032, section 5.1, PureEdDSA) in plain Python integers.

Only verification lives on the edge: it handles public data only (the key, the file, the
signature), so the variable-time big-integer arithmetic leaks nothing secret. Signing handles
the secret key and is done on the training side by the ``cryptography`` package (OpenSSL's
constant-time code); the tests check this module against it and against RFC 8032's vectors.

Points are kept in extended twisted Edwards coordinates ``(X, Y, Z, T)`` with ``x = X/Z``,
``y = Y/Z`` and ``x*y = T/Z`` (Hisil, Wong, Carter and Dawson, 2008): the addition law below
is complete on this curve (a = -1, d not a square), so it doubles and handles the neutral
point too, and no step divides until the final encoding. One verification costs about
250 doublings and 190 additions, a few milliseconds in CPython.
"""

from __future__ import annotations

import hashlib

P = 2**255 - 19  # the field
L = 2**252 + 27742317777372353535851937790883648493  # the prime order of the base point
D = -121665 * pow(121666, -1, P) % P  # the curve: -x^2 + y^2 = 1 + d x^2 y^2
SQRT_M1 = pow(2, (P - 1) // 4, P)  # a square root of -1 mod p
KEY_BYTES = 32
SIGNATURE_BYTES = 64

Point = tuple[int, int, int, int]
NEUTRAL: Point = (0, 1, 1, 0)


def _add(p: Point, q: Point) -> Point:
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = 2 * D * t1 * t2 % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return e * f % P, g * h % P, f * g % P, e * h % P


def _neg(p: Point) -> Point:
    x, y, z, t = p
    return -x % P, y, z, -t % P


def _recover_x(y: int, sign: int) -> int | None:
    """The x with ``x mod 2 == sign`` on the curve at ``y``, or None (RFC 8032, 5.1.3)."""
    u = (y * y - 1) % P
    v = (D * y * y + 1) % P
    # x = sqrt(u/v) = u v^3 (u v^7)^((p-5)/8), times sqrt(-1) when that gives -u/v.
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    vx2 = v * x * x % P
    if vx2 == (-u) % P:
        x = x * SQRT_M1 % P
    elif vx2 != u:
        return None
    if x == 0 and sign:
        return None
    return P - x if x & 1 != sign else x


def decode_point(data: bytes) -> Point | None:
    """A 32-byte encoded point, or None when it is not one (including y >= p: one encoding
    per point, so a signature cannot be altered into another valid one)."""
    if len(data) != KEY_BYTES:
        return None
    y = int.from_bytes(data, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    if y >= P:
        return None
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % P)


def has_small_order(p: Point) -> bool:
    """True for the 8 points whose order divides the cofactor 8 ([8]p is the neutral point).

    Such a point as a public key "verifies" forged signatures (R neutral and S = 0 pass
    [S]B = R + [k]A whenever [k]A is neutral: always for the neutral key), and as R it lets a
    signature be changed without the key; libsodium refuses both, and so do we."""
    for _ in range(3):
        p = _add(p, p)
    x, y, z, _ = p
    return x == 0 and y == z  # _add reduces mod P: the neutral point is (0 : Z : Z : 0)


def point_problem(data: bytes) -> str | None:
    """Why ``data`` is not a usable public key (or R), in a few words; None when it is one:
    32 bytes, the canonical encoding of a point of the curve, not of small order."""
    if len(data) != KEY_BYTES:
        return "not 32 bytes"
    y = int.from_bytes(data, "little") & ((1 << 255) - 1)
    if y >= P:
        return "a non-canonical encoding (y >= p)"
    point = decode_point(data)
    if point is None:
        if _recover_x(y, 0) == 0:  # y = 1 or p - 1 with the sign bit set: x = -0
            return "a non-canonical encoding (x = 0 with the sign bit set)"
        return "not on the curve"
    return "a point of small order (it lets forged signatures verify)" if has_small_order(point) else None


def encode_point(p: Point) -> bytes:
    x, y, z, _ = p
    zi = pow(z, -1, P)
    x, y = x * zi % P, y * zi % P
    return (y | (x & 1) << 255).to_bytes(KEY_BYTES, "little")


BASE: Point = decode_point((4 * pow(5, -1, P) % P).to_bytes(KEY_BYTES, "little"))  # y = 4/5, x even


def _double_scalar(a: int, p: Point, b: int, q: Point) -> Point:
    """``[a]p + [b]q`` with one shared chain of doublings (Straus / Shamir's trick)."""
    table = (NEUTRAL, p, q, _add(p, q))
    acc = NEUTRAL
    for i in range(max(a.bit_length(), b.bit_length()) - 1, -1, -1):
        acc = _add(acc, acc)
        pick = (a >> i & 1) | (b >> i & 1) << 1
        if pick:
            acc = _add(acc, table[pick])
    return acc


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` is ``public_key``'s Ed25519 signature of ``message``.

    Strict where RFC 8032 allows a choice, as libsodium's ``crypto_sign_verify_detached``:
    the scalar S must be below L, both encodings canonical (R is compared byte for byte with
    the canonical encoding of [S]B - [k]A), and neither A nor R of small order
    (:func:`has_small_order`); malformed lengths or keys are False, never an exception.
    """
    if len(public_key) != KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    r, s = signature[:32], int.from_bytes(signature[32:], "little")
    if s >= L or point_problem(public_key) or point_problem(r):
        return False
    a = decode_point(public_key)
    k = int.from_bytes(hashlib.sha512(r + public_key + message).digest(), "little") % L
    return encode_point(_double_scalar(s, BASE, k, _neg(a))) == r
