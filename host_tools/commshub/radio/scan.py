"""startScan: energy and active scans on the virtual air, with 802.15.4 timing.

A scan visits each channel of the mask for (2^duration + 1) superframes
(15.36 ms each) of air time, as an EmberZNet NCP does, then reports:
- energy scan: energyScanResultHandler(channel, maxRssiValue) per channel;
  the strongest radio up on another network on that channel, at the RSSI the
  air's link model gives for its link to us (-40 dBm minus 50 dB x loss, as
  `delivery` reports lastHopRssi), else the noise floor (-100 dBm).
- active scan: networkFoundHandler per beacon, i.e. per coordinator or router
  up on a network on that channel (allowingJoin: its permitJoining window).
Then scanCompleteHandler(channel, SUCCESS). One scan at a time (INVALID_CALL
while one runs); a reset cancels it.
"""

from __future__ import annotations

from typing import Any

import bellows.types as t

from commshub.radio.ncp import VirtualNcp, handles

NOISE_FLOOR_DBM = -100
SUPERFRAME_S = 0.01536  # aBaseSuperframeDuration: 960 symbols of 16 us
MAX_DURATION = 14
ROUTERS = (t.EmberNodeType.COORDINATOR, t.EmberNodeType.ROUTER)


def channel_time(duration: int) -> float:
    """Air time (s) a scan stays on one channel."""
    return (2**duration + 1) * SUPERFRAME_S


def _heard(ncp: VirtualNcp, channel: int) -> list[tuple[VirtualNcp, float]]:
    """Radios up on another network on `channel`, with the loss of their link to us."""
    out = []
    for other in ncp.air.radios.values():
        tok = other.tokens
        if other is ncp or not other.up or tok is None or int(tok.parameters.radioChannel) != channel:
            continue
        if ncp.network is not None and other in ncp.air.on_network(ncp.network):
            continue  # our own network's traffic is not interference
        out.append((other, ncp.air.link(ncp, other).loss))
    return out


def rssi(loss: float) -> int:
    """The RSSI of a link with this loss, as the air reports it to hosts."""
    return int(-40 - 50 * loss)


async def _scan(ncp: VirtualNcp, scan_type: t.EzspNetworkScanType, channels: list[int],
                duration: int) -> None:
    try:
        for channel in channels:
            await ncp.air.sleep(channel_time(duration))
            heard = [(n, loss) for n, loss in _heard(ncp, channel) if loss < 1.0]
            if scan_type == t.EzspNetworkScanType.ENERGY_SCAN:
                strongest = max((rssi(loss) for _, loss in heard), default=NOISE_FLOOR_DBM)
                ncp.send_callback("energyScanResultHandler", channel=channel, maxRssiValue=strongest)
                continue
            now = ncp.air.now()
            for other, loss in heard:
                tok = other.tokens
                if tok is None or tok.node_type not in ROUTERS:
                    continue
                beacon = t.EmberZigbeeNetwork(
                    channel=channel, panId=tok.parameters.panId, extendedPanId=tok.parameters.extendedPanId,
                    allowingJoin=t.Bool(other.permit_until > now), stackProfile=2,
                    nwkUpdateId=tok.parameters.nwkUpdateId)
                ncp.send_callback("networkFoundHandler", networkFound=beacon,
                                  lastHopLqi=int(255 * (1 - loss)), lastHopRssi=rssi(loss))
        ncp.send_callback("scanCompleteHandler", channel=channels[-1] if channels else 0,
                          status=t.EmberStatus.SUCCESS)
    finally:
        ncp.ram.pop("scanning", None)


@handles("startScan")
def _start_scan(ncp: VirtualNcp, args: dict[str, Any] | None, raw: bytes) -> dict[str, Any]:
    assert args is not None
    scan_type = args["scanType"]
    channels = [c for c in range(11, 27) if t.Channels.from_channel_list([c]) & args["channelMask"]]
    duration = int(args["duration"])
    if scan_type not in (t.EzspNetworkScanType.ENERGY_SCAN, t.EzspNetworkScanType.ACTIVE_SCAN) \
            or not channels or duration > MAX_DURATION:
        return {"status": t.EmberStatus.BAD_ARGUMENT}
    if ncp.ram.get("scanning"):
        return {"status": t.EmberStatus.INVALID_CALL}
    ncp.ram["scanning"] = ncp.start(_scan(ncp, scan_type, channels, duration))
    return {"status": t.EmberStatus.SUCCESS}
