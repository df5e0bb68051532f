"""802.15.4 link model: airtime at 250 kbit/s, CSMA-CA backoff, MAC acks and retries.

A frame on air is the PHY's synchronisation header and length (6 bytes) plus
the MAC frame: MAC header (9: frame control, sequence, PAN, short
destination and source) and FCS (2), the NWK header (8) with its security
auxiliary header (14) and MIC (4), the APS header (8) and the payload. One
MAC try costs a random CSMA-CA backoff (0..2^3-1 unit periods of 320 us,
plus the 128 us clear-channel assessment), the frame's airtime, the
turnaround (192 us) and the ACK (11 bytes), or the ACK wait (864 us) when no
ACK comes. A frame is lost with the link's `loss`, and so is its ACK: a
frame whose ACK is lost arrives but the sender tries again (the receiver's
MAC drops the duplicate). After `mac_retries` retries the sender gives up.
Collisions and channel contention are not modelled.
"""

from __future__ import annotations

import dataclasses
import random

BIT_RATE = 250_000
SYMBOL_S = 16e-6
PHY_OVERHEAD = 6  # preamble 4, SFD 1, PHR 1
MAC_OVERHEAD = 11  # header 9 + FCS 2
NWK_OVERHEAD = 8 + 14 + 4  # header, security auxiliary header, MIC
APS_OVERHEAD = 8
ACK_BYTES = PHY_OVERHEAD + 5
UNIT_BACKOFF_S = 20 * SYMBOL_S
CCA_S = 8 * SYMBOL_S
TURNAROUND_S = 12 * SYMBOL_S
ACK_WAIT_S = 54 * SYMBOL_S
MIN_BE = 3
DATA_REQUEST_BYTES = PHY_OVERHEAD + MAC_OVERHEAD + 1 + 6  # MAC command (long source)


def airtime(n_bytes: int) -> float:
    """Seconds on air for `n_bytes` at 250 kbit/s."""
    return n_bytes * 8 / BIT_RATE


def aps_frame_bytes(payload_len: int) -> int:
    """Bytes on air of an APS data frame carrying `payload_len` bytes."""
    return PHY_OVERHEAD + MAC_OVERHEAD + NWK_OVERHEAD + APS_OVERHEAD + payload_len


@dataclasses.dataclass
class HopResult:
    """One MAC transmission with retries: did the receiver get it, did the sender get an ACK."""

    received: bool
    acked: bool
    tries: int
    elapsed_s: float


def mac_hop(rng: random.Random, loss: float, latency_s: float, frame_bytes: int,
            retries: int, acked: bool = True) -> HopResult:
    """Model sending one frame over one link (unicast: `acked`; broadcast: one try, no ACK)."""
    elapsed = latency_s
    received = False
    tries = 0
    for tries in range(1, (retries + 1 if acked else 1) + 1):
        elapsed += rng.randrange(1 << MIN_BE) * UNIT_BACKOFF_S + CCA_S + airtime(frame_bytes)
        got = rng.random() >= loss
        received = received or got
        if not acked:
            return HopResult(received, False, tries, elapsed)
        if got and rng.random() >= loss:
            return HopResult(True, True, tries, elapsed + TURNAROUND_S + airtime(ACK_BYTES))
        elapsed += ACK_WAIT_S
    return HopResult(received, False, tries, elapsed)
