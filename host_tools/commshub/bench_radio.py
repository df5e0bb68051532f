"""Radio benchmarks: EZSP command round trip through a virtual NCP, APS unicast round trip
hub <-> device on the virtual air with 802.15.4 airtime modelled. `run(log)` returns the
numbers; `commshub bench` calls it; `python -m commshub.bench_radio` prints them."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

EUI_HUB = "02AABBCCDDEEFF01"
EUI_DEV = "000D6F000ABCDE01"
CODE16 = bytes.fromhex("83FED3407A939723A5C639B26916D505")


def _stats(samples_s: list[float]) -> dict[str, float]:
    from .bench import rtt_stats  # lazily: bench imports this module

    return rtt_stats(samples_s)


async def _ezsp_rtt(version: int, n: int, pty: bool, baud: int | None = None) -> list[float]:
    from .radio.air import VirtualAir
    from .radio.device import BellowsDevice

    air = VirtualAir()
    ncp = air.add_ncp(EUI_HUB, protocol_version=version, startup_rstack_delay=0.0, baud=baud)
    await ncp.serve_tcp()
    dev = BellowsDevice(ncp.open_pty() if pty else f"socket://127.0.0.1:{ncp.port}")
    await dev.connect()
    samples = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            await dev.api.getEui64()
            samples.append(time.perf_counter() - t0)
    finally:
        await dev.close()
        await ncp.close()
    return samples


async def _aps_rtt(n: int, payload_len: int, loss: float) -> dict[str, Any]:
    import bellows.types as t

    from .radio.air import AirEvent, VirtualAir
    from .radio.device import BellowsDevice

    air = VirtualAir(seed=1)
    hub_ncp = air.add_ncp(EUI_HUB, protocol_version=8, startup_rstack_delay=0.0)
    dev_ncp = air.add_ncp(EUI_DEV, protocol_version=8, startup_rstack_delay=0.0)
    await hub_ncp.serve_tcp()
    await dev_ncp.serve_tcp()
    hub = BellowsDevice(f"socket://127.0.0.1:{hub_ncp.port}")
    dev = BellowsDevice(f"socket://127.0.0.1:{dev_ncp.port}", install_code=CODE16)
    events: list[AirEvent] = []
    try:
        await hub.connect()
        await dev.connect()
        await hub.form(channel=15, pan_id=0x1A62, ext_pan_id=EUI_HUB)
        await hub.allow(dev.eui64, CODE16)
        nwk = await dev.join(channel=15, pan_id=0x1A62)
        await hub.receive(cluster=0x0013)
        air.set_link(hub_ncp, dev_ncp, loss=loss)
        air.add_listener(events.append)
        samples, failed = [], 0
        body = bytes(payload_len)
        for _ in range(n):
            t0 = time.perf_counter()
            if await hub.send_unicast(nwk, body, cluster=0x0702) != t.EmberStatus.SUCCESS:
                failed += 1
                continue
            await dev.receive(cluster=0x0702)
            if await dev.send_unicast(0x0000, body, cluster=0x0702) != t.EmberStatus.SUCCESS:
                failed += 1
                continue
            await hub.receive(cluster=0x0702)
            samples.append(time.perf_counter() - t0)
    finally:
        await hub.close()
        await dev.close()
        await hub_ncp.close()
        await dev_ncp.close()
    # Modelled air time of one APS-acked unicast: its start to its APS ack.
    starts = {(e.src, e.aps.seq): e.t for e in events if e.kind == "unicast" and e.aps}
    air_s = [e.t - starts[(e.dst, e.aps.seq)] for e in events
             if e.kind == "aps_ack" and e.aps and (e.dst, e.aps.seq) in starts]
    return {"rtt": _stats(samples) if samples else None, "failed": failed,
            "air_unicast_ms": 1000 * sorted(air_s)[len(air_s) // 2] if air_s else None}


def run(log: Callable[[str], None] = print, n_ezsp: int = 300, n_aps: int = 50) -> dict[str, Any]:
    """All radio benchmarks; returns {'ezsp': {...}, 'aps': {...}} with ms statistics."""
    from .radio.linkmodel import ACK_BYTES, TURNAROUND_S, airtime, aps_frame_bytes

    out: dict[str, Any] = {"ezsp": {}, "aps": {}}
    for version, pty, baud in ((8, False, None), (13, False, None), (13, True, None),
                               (8, False, 115200)):
        key = f"v{version} {'pty' if pty else 'tcp'}" + (f" paced {baud} baud" if baud else "")
        out["ezsp"][key] = _stats(asyncio.run(_ezsp_rtt(version, n_ezsp, pty, baud)))
        s = out["ezsp"][key]
        log(f"  EZSP round trip (getEui64, bellows) {key}: p50 {s['p50']:.2f} ms, p99 {s['p99']:.2f} ms")
    frame = airtime(aps_frame_bytes(40)) + TURNAROUND_S + airtime(ACK_BYTES)
    out["aps"]["one_hop_airtime_ms"] = 1000 * frame
    for loss in (0.0, 0.1):
        res = asyncio.run(_aps_rtt(n_aps, 40, loss))
        out["aps"][f"loss {loss}"] = res
        rtt = res["rtt"]
        log(f"  APS unicast round trip hub->device->hub, 40-byte payload, APS acks, loss {loss}: "
            f"p50 {rtt['p50']:.1f} ms, p99 {rtt['p99']:.1f} ms, {res['failed']} failed of {n_aps}; "
            f"modelled air time of one acked unicast (median) {res['air_unicast_ms']:.2f} ms")
    log(f"  (one 40-byte APS frame + MAC ack on air: {1000 * frame:.2f} ms at 250 kbit/s)")
    return out


if __name__ == "__main__":
    run()
