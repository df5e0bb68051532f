"""OTA benchmarks (issue 5): device images from the hub's OTA Upgrade server to the emulated
HAN devices, on the emulated board's virtual air with 802.15.4 airtime modelled, in real time
(air and device clocks at time_scale 1: nothing is scaled).

- ESME (always-on router): bytes per second from Image Notify to the hub's 0x8F8A alert (query,
  every Image Block, the meter's check of the signature, Upgrade End), per block size and with
  10 % frame loss on the hub <-> meter link (before the MAC's retries).
- GSME (sleepy): the same transfer spread over wakes; GSMEs with different wake intervals fetch
  one image at once, awake `GSME_AWAKE_S` per wake. Measured: wakes used, time, bytes per wake;
  the time for a larger image at field wake intervals is derived from the bytes per wake.
- Hub heap: live heap (`info` heap_used, after a collection) sampled during the ESME runs, with
  an ESME, a GSME and a PPMID joined and MQTT up, and the firmware's own high-water mark.

`run(broker_url, log)` returns the numbers; `report(res)` makes the BENCHMARKS.md section;
`python -m commshub.bench_ota` runs it alone (with an embedded broker) and prints the section.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
import time
from typing import Any, Callable

ESME_IMAGE = 24 * 1024
ESME_RUNS = ((48, 0.0), (64, 0.0), (48, 0.1), (64, 0.1))  # (block size, loss)
GSME_IMAGE = 6 * 1024
GSME_AWAKE_S = 1.0
GSME_INTERVALS = (2.0, 5.0, 10.0)
FIELD = ((100 * 1024, 1800.0), (100 * 1024, 300.0))  # (image bytes, wake interval s) to derive
MFR = 0x1234
V0 = 0x01000000


class Devices:
    """Emulated HAN devices on one event loop in a thread, joined to `hub` on its air."""

    def __init__(self, hub: Any) -> None:
        self.hub = hub
        self.air = hub.target.emu.air
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True, name="bench-han").start()
        self.devs: list[Any] = []

    def run(self, coro: Any, timeout: float = 90.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def join(self, cls: type, **kw: Any) -> Any:
        """A new device of `cls`, in the hub's log and joined."""
        from .han.clock import SimClock
        from .han.runtime import Network
        from .hil_radio import random_eui
        from .radio.aesmmo import with_crc

        eui, code = random_eui(), os.urandom(16)
        path = f"socket://127.0.0.1:{self.air.serve_tcp(self.air.add_ncp(eui))}"
        dev = cls(path, install_code=with_crc(code), clock=SimClock(), **kw)
        self.devs.append(dev)
        t0 = time.monotonic()
        self.hub.request("han.log.add", {"eui64": eui, "type": {"gsme": 0, "esme": 1, "ppmid": 5}[dev.kind],
                                         "install_code": code.hex(), "join_s": 300})
        while not [e for e in self.hub.request("han.log").result["log"] if e["eui64"] == eui and e["can_join"]]:
            time.sleep(0.05)
        st = self.hub.request("han.status").result
        self.run(dev.start(Network(st["channel"], st["pan_id"], st["ext_pan_id"])))
        self.hub.serial.wait_event("alert", 20, since=t0, where=lambda e: e.body.get("code") == 0x8F49
                                   and e.body.get("eui64") == eui)
        dev.eui64 = eui
        return dev

    def close(self) -> None:
        for dev in self.devs:
            try:
                self.run(dev.stop(), 10)
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass
        self.loop.call_soon_threadsafe(self.loop.stop)


def _image(key: Any, size: int, image_type: int, version: int) -> bytes:
    from .images import gbcs

    return gbcs.build_image(os.urandom(size), manufacturer=MFR, image_type=image_type, file_version=version,
                            header_string="bench %x" % version, key=key)


def _outcome(hub: Any, eui: str, since: float, timeout: float) -> float:
    """When (monotonic) the hub alerted the device's OTA outcome; AssertionError if it failed."""
    ev = hub.serial.wait_event("alert", timeout, since=since, where=lambda e: e.body.get("code") in (
        0x8F8A, 0x8F89) and e.body.get("eui64") == eui)
    assert ev.body["code"] == 0x8F8A, f"OTA to {eui} failed: {ev.body}"
    return ev.received


def _esme_runs(hub: Any, han: Devices, esme: Any, key: Any, log: Callable[[str], None]) -> tuple[list, dict]:
    from .images.push import push

    runs, heap = [], {"samples": 0, "max_used": 0}
    version = V0
    for block, loss in ESME_RUNS:
        version += 0x100
        img = _image(key, ESME_IMAGE, 0x0101, version)
        push(hub.serial, img, commands="han.image")
        han.air.call(han.air.air.set_link, hub.hub_id, esme.eui64, loss=loss)
        han.run(_set(esme.ota, "block_size", block))
        asked = esme.ota.blocks_asked
        t0 = time.monotonic()
        hub.request("han.ota.notify", {"device": esme.eui64})
        while True:  # the heap, sampled while the blocks flow
            try:
                t1 = _outcome(hub, esme.eui64, t0, 0.5)
                break
            except TimeoutError:
                assert time.monotonic() - t0 < 300, "ESME OTA did not finish in 300 s"
                used = hub.request("info").result["heap_used"]
                heap["samples"] += 1
                heap["max_used"] = max(heap["max_used"], used)
        han.air.call(han.air.air.set_link, hub.hub_id, esme.eui64, loss=0.0)
        r = {"block": block, "loss": loss, "size": len(img), "s": t1 - t0, "bps": len(img) / (t1 - t0),
             "requests": esme.ota.blocks_asked - asked}
        runs.append(r)
        log(f"  OTA to the ESME, {block}-byte blocks, loss {loss:.0%}: {len(img)} bytes in {r['s']:.2f} s = "
            f"{r['bps'] / 1024:.2f} KiB/s ({r['requests']} block requests)")
    return runs, heap


async def _set(obj: Any, name: str, value: Any) -> None:
    setattr(obj, name, value)


def _gsme_runs(hub: Any, han: Devices, gsmes: list[Any], key: Any, log: Callable[[str], None]) -> list[dict]:
    from .images.push import push

    img = _image(key, GSME_IMAGE, 0x0201, V0 + 0x100)
    wakes0 = {g.eui64: g.wakes for g in gsmes}
    push(hub.serial, img, commands="han.image")
    t0 = time.monotonic()
    out = []
    for g in sorted(gsmes, key=lambda g: g.wake_interval_s):
        t1 = _outcome(hub, g.eui64, t0, 60 + 20 * g.wake_interval_s)
        starts = g.ota.starts  # the offset each wake's fetch began at
        got = [b - a for a, b in zip(starts, starts[1:] + [len(img)])]
        full = got[:-1] or got  # the last wake fetched what was left
        r = {"interval_s": g.wake_interval_s, "awake_s": g.awake_s, "size": len(img), "s": t1 - t0,
             "wakes": g.wakes - wakes0[g.eui64], "fetching": len(starts),
             "per_wake": sorted(full)[len(full) // 2]}
        out.append(r)
        log(f"  OTA to a GSME waking every {g.wake_interval_s:g} s, awake {g.awake_s:g} s: {len(img)} bytes in "
            f"{r['s']:.1f} s, {r['fetching']} wakes fetching ({got} bytes)")
    return out


def run(broker_url: str, log: Callable[[str], None] = print, board: str = "emulator") -> dict[str, Any]:
    """Every OTA benchmark on one emulated hub (see the module docstring)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from .boards import load
    from .han.esme import Esme
    from .han.gsme import Gsme
    from .han.ppmid import Ppmid
    from .hub import Hub
    from .targets import EmulatorTarget

    key = ec.generate_private_key(ec.SECP256R1())
    hub = Hub(EmulatorTarget(board, broker_url, name="bench-ota"), broker_url, timeout=15)
    hub.start()
    han = None
    try:
        while hub.request("han.status").result["state"] != "up":
            time.sleep(0.1)
        han = Devices(hub)
        esme = han.join(Esme, trusted_key=key.public_key())
        gsmes = [han.join(Gsme, trusted_key=key.public_key(), wake_interval_s=GSME_INTERVALS[0],
                          awake_s=GSME_AWAKE_S, ota_query_every=1)]
        han.join(Ppmid)
        before = hub.request("info").result["heap_used"]  # three devices joined, no OTA code loaded yet
        esme_runs, heap = _esme_runs(hub, han, esme, key, log)
        heap["before_ota"] = before
        info = hub.request("info").result
        heap.update(peak=info["heap_peak"], total=info["heap_total"], budget=load(board).heap_bytes,
                    esp32=load("esp32-devkitc").heap_bytes)
        log(f"  hub heap with ESME, GSME, PPMID joined and an OTA running: live max {heap['max_used']} "
            f"({heap['samples']} samples), peak {heap['peak']} bytes")
        for iv in GSME_INTERVALS[1:]:
            gsmes.append(han.join(Gsme, trusted_key=key.public_key(), wake_interval_s=iv, awake_s=GSME_AWAKE_S,
                                  ota_query_every=1))
        gsme_runs = _gsme_runs(hub, han, gsmes, key, log)
    finally:
        if han:
            han.close()
        hub.stop()
    return {"board": board, "esme": esme_runs, "gsme": gsme_runs, "heap": heap}


def report(r: dict[str, Any]) -> list[str]:
    """Markdown lines for the OTA benchmarks (run's numbers)."""
    L = ["", "## HAN device firmware over the OTA Upgrade cluster (issue 5)", "",
         f"The hub (`{r['board']}` board, MQTT up) serves a GBCS image from its flash to emulated devices on its "
         "virtual air, 802.15.4 airtime and MAC/APS retries modelled, air and device clocks in real time "
         "(`commshub.bench_ota`). Loss is per frame on the hub <-> meter link, before the MAC's retries. "
         "Time runs from Image Notify to the hub's 0x8F8A alert: query, every block, the meter's signature "
         "check and Upgrade End. Target: >= 2 KB/s to a mains-powered device.", "",
         "| ESME, block size | loss | image | time | throughput | block requests |", "|---|---|---|---|---|---|"]
    for e in r["esme"]:
        L.append(f"| {e['block']} bytes | {e['loss']:.0%} | {e['size']} bytes | {e['s']:.2f} s | "
                 f"**{e['bps'] / 1000:.2f} KB/s** ({e['bps'] / 1024:.2f} KiB/s) | {e['requests']} |")
    L += ["", f"GSME (sleepy end device) awake {r['gsme'][0]['awake_s']:g} s a wake, querying on every wake; "
          "the GSMEs fetch the same image at once, from its upload on (the time includes the wait for the "
          "first wake). Bytes per wake: the median of the wakes that ran out of awake time (not the last).", "",
          "| wake interval | image | wakes fetching | time to the 0x8F8A alert | bytes per wake |",
          "|---|---|---|---|---|"]
    for g in r["gsme"]:
        L.append(f"| {g['interval_s']:g} s | {g['size']} bytes | {g['fetching']} | {g['s']:.1f} s | "
                 f"{g['per_wake']:.0f} |")
    per_wake = min(g["per_wake"] for g in r["gsme"])
    L += ["", f"Derived, not measured, from the smallest bytes per wake above ({per_wake:.0f}) and the same "
          "1 s awake:", ""]
    for size, iv in FIELD:
        n = math.ceil(size / per_wake)
        L.append(f"- a {size // 1024} KiB image at a wake every {iv / 60:g} min: {n} wakes, about {n * iv / 3600:.1f} h")
    h = r["heap"]
    L += ["", f"Hub heap with an ESME, a GSME and a PPMID joined, MQTT up and an OTA to the ESME running: live heap "
          f"after a collection at most **{h['max_used'] / 1024:.1f} KiB** ({h['samples']} samples during the "
          f"transfers; {h['before_ota'] / 1024:.1f} KiB with the devices joined before any OTA code was loaded), "
          f"the firmware's high-water mark {h['peak'] / 1024:.1f} KiB; the `{r['board']}` board's heap "
          f"is {h['budget'] / 1024:.0f} KiB, an ESP32 without PSRAM's budget {h['esp32'] / 1024:.0f} KiB.", ""]
    return L


if __name__ == "__main__":
    from .broker import EmbeddedBroker

    with EmbeddedBroker() as b:
        print("\n".join(report(run(b.url))))
