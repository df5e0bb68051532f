"""Finding the hub's network by an active scan (what a meter does when it is installed).

`find_network()` asks the NCP for an 802.15.4 active scan (startScan ACTIVE_SCAN:
beacons come back in networkFoundHandler until scanCompleteHandler) and
picks a network that allows joining, with the wanted extended PAN ID (the hub's
EUI-64) when one is given.
"""

from __future__ import annotations

import asyncio
import bellows.types as bt
from bellows.ezsp import EZSP

ALL_CHANNELS = range(11, 27)
SCAN_DURATION = 3  # (2^3 + 1) superframes per channel: ~0.14 s each


class NoNetwork(LookupError):
    """No joinable network (with the wanted extended PAN ID) answered the scan."""


async def find_network(api: EZSP, ext_pan_id: str | None = None,
                       channels: range | list[int] = ALL_CHANNELS,
                       timeout: float = 30.0) -> tuple[int, int, str]:
    """(channel, PAN ID, extended PAN ID) of a joinable network; raises NoNetwork."""
    # bellows' startScan collects the beacons (networkFoundHandler) until scanCompleteHandler
    # and raises a bare Exception when the NCP refuses the scan.
    try:
        async with asyncio.timeout(timeout):
            results = await api.startScan(scanType=bt.EzspNetworkScanType.ACTIVE_SCAN,
                                          channelMask=bt.Channels.from_channel_list(list(channels)),
                                          duration=SCAN_DURATION)
    except TimeoutError:
        raise NoNetwork(f"active scan did not finish within {timeout} s") from None
    except Exception as exc:  # noqa: BLE001  (bellows raises Exception itself)
        raise NoNetwork(f"active scan refused: {exc}") from exc
    found: list[bt.EmberZigbeeNetwork] = [r[0] for r in results]
    want = bt.ExtendedPanId.convert(ext_pan_id) if ext_pan_id else None
    for net in found:
        if net.allowingJoin and (want is None or net.extendedPanId == want):
            return int(net.channel), int(net.panId), str(net.extendedPanId)
    seen = ", ".join(f"{n.extendedPanId} ch {n.channel}{'' if n.allowingJoin else ' (closed)'}"
                     for n in found) or "none"
    raise NoNetwork(f"no joinable network{' ' + ext_pan_id if ext_pan_id else ''}; heard: {seen}")
