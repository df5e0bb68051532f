"""20-digit top-up codes (UTRNs) as the emulated meters accept them.

GBCS UTRNs are made with the supplier's top-up key by an algorithm this project
does not reproduce; the emulators use their own documented scheme with the same
shape and the same checks a meter makes (a mistyped code is invalid, a code is
accepted once):

    value (6 digits, pence) | counter (6 digits) | check (8 digits)

check = first 4 bytes of HMAC-SHA256(top-up key, value || counter) mod 10**8.
"""

from __future__ import annotations

import hashlib
import hmac

DIGITS = 20
MAX_VALUE = 999_999
MAX_COUNTER = 999_999


class UtrnError(ValueError):
    """A UTRN a meter refuses; `reason` is 'invalid' or 'duplicate'."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason} UTRN: {detail}")
        self.reason = reason


def _check(key: bytes, body: str) -> str:
    mac = hmac.new(key, body.encode("ascii"), hashlib.sha256).digest()
    return f"{int.from_bytes(mac[:4], 'big') % 10**8:08d}"


def make_utrn(value_pence: int, counter: int, key: bytes) -> str:
    """The UTRN for `value_pence` with the supplier's `counter` (each code needs a new counter)."""
    if not 0 < value_pence <= MAX_VALUE:
        raise ValueError(f"value must be 1..{MAX_VALUE} pence, got {value_pence}")
    if not 0 <= counter <= MAX_COUNTER:
        raise ValueError(f"counter must be 0..{MAX_COUNTER}, got {counter}")
    body = f"{value_pence:06d}{counter:06d}"
    return body + _check(key, body)


def check_utrn(code: str | bytes, key: bytes, used: set[int]) -> tuple[int, int]:
    """(value in pence, counter) of a valid, unused UTRN; raises UtrnError. Does not mark it used."""
    text = code.decode("ascii", "replace") if isinstance(code, bytes) else code
    if len(text) != DIGITS or not text.isdigit():
        raise UtrnError("invalid", f"a UTRN is {DIGITS} digits, got {text[:24]!r}")
    body, check = text[:12], text[12:]
    if not hmac.compare_digest(_check(key, body), check):
        raise UtrnError("invalid", "check digits do not match (mistyped, or for another meter)")
    value, counter = int(body[:6]), int(body[6:])
    if counter in used:
        raise UtrnError("duplicate", f"counter {counter} was already used")
    if value == 0:
        raise UtrnError("invalid", "zero value")
    return value, counter
