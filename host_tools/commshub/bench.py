"""Benchmarks: measured, never asserted. Results go to docs/BENCHMARKS.md."""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from contextlib import contextmanager
from typing import Callable, Iterator

from . import boards, paths
from .broker import EmbeddedBroker, free_port, wait_port
from .hub import Hub
from .protocol.errors import HubError
from .targets import EmulatorTarget


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def rtt_stats(samples_s: list[float]) -> dict[str, float]:
    ms = [x * 1000 for x in samples_s]
    return {"n": len(ms), "p50": pct(ms, 50), "p99": pct(ms, 99), "max": max(ms)}


@contextmanager
def mosquitto() -> Iterator[str | None]:
    """A Mosquitto on a free loopback port when one is installed, else None."""
    exe = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
    if not exe:
        yield None
        return
    port = free_port()
    with tempfile.TemporaryDirectory() as d:
        conf = os.path.join(d, "m.conf")
        with open(conf, "w") as f:
            # set_tcp_nodelay: Mosquitto leaves Nagle on by default, which adds ~40 ms per hop.
            f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nset_tcp_nodelay true\n")
        proc = subprocess.Popen([exe, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            yield f"mqtt://127.0.0.1:{port}" if wait_port("127.0.0.1", port, 5) else None
        finally:
            proc.terminate()
            proc.wait(5)


def machine_notes() -> list[str]:
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mp = subprocess.run([paths.micropython(), "-c", "import sys; print(sys.version)"], capture_output=True, text=True).stdout.strip()
    return [
        f"- machine: {platform.node() or 'host'}, {os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}",
        f"- host Python {platform.python_version()}; MicroPython `{mp}`",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
    ]


def bench_board(board_name: str, broker_url: str, pings: int, boots: int, log) -> dict:
    """Boot-to-ready, round trips over both links, heap: one emulated board."""
    board = boards.load(board_name)
    res: dict = {"board": board_name, "budget": board.heap_bytes, "baud": board.baud}
    target = EmulatorTarget(board_name, broker_url, name=f"bench-{board_name}", pace=True)
    hub = Hub(target, broker_url, timeout=5)
    hub.start()
    try:
        boot = [hub.boot_s]
        fw_boot = []
        for _ in range(boots - 1):
            since = time.monotonic()
            boot.append(hub.power_cycle())
            fw_boot.append(hub.serial.wait_event("ready", timeout=10, since=since).body.get("boot_ms", 0))
        res["boot_s"] = boot
        res["boot_ms_fw"] = fw_boot
        log(f"  {board_name}: boot to ready median {statistics.median(boot) * 1000:.0f} ms over {len(boot)} power-ons")
        hub.wait_online()
        for via in ("serial", "mqtt"):
            link = hub.link(via)
            for _ in range(20):
                link.request("ping")  # warm-up
            rtts = [link.request("ping").rtt_s for _ in range(pings)]
            res[f"{via}_rtt"] = rtt_stats(rtts)
            log(f"  {board_name}: {via} ping p50 {res[f'{via}_rtt']['p50']:.2f} ms p99 {res[f'{via}_rtt']['p99']:.2f} ms")
        workload(hub)
        res["radio"] = radio_state(hub)
        info = hub.request("info").result
        res["heap"] = {k: info[k] for k in ("heap_used", "heap_peak", "heap_total", "heap_free")}
        log(f"  {board_name}: heap peak {info['heap_peak']} of budget {board.heap_bytes}")
    finally:
        hub.stop()
    return res


def radio_state(hub: Hub) -> str:
    """The HAN as the hub reports it after the workload: up (with how many joined), down, or absent."""
    try:
        st = hub.request("han.status").result
    except HubError as e:
        return "no radio" if e.code == "unknown_command" else e.code
    return f"{st.get('state')}, EZSP v{st.get('ezsp')}" if st.get("state") == "up" else str(st.get("state"))


def workload(hub: Hub, rounds: int = 20) -> None:
    """Everyday traffic over both links, with the largest arguments the commands take."""
    big = "n" * 2048
    for i in range(rounds):
        for via in ("serial", "mqtt"):
            for cmd in ("status", "info", "time.get", "config.get"):
                hub.request(cmd, via=via)
            hub.request("ping", {"echo": i}, data=bytes(1500), via=via)
            hub.request("log.tail", {"n": 200}, via=via)
            hub.request("config.set", {"key": "notes", "value": big[: 1024 + i]}, via=via)


def heap_fits(board_name: str, broker_url: str, heap: int, han: bool = False) -> bool:
    """Does the hub boot, connect and run the workload in `heap` bytes without a restart
    (and, with `han`, with its HAN up: the hub runs without its radio when that does not fit)?"""
    target = EmulatorTarget(board_name, broker_url, name=f"heapfit-{board_name}", heap_bytes=heap)
    hub = Hub(target, broker_url, timeout=3)
    try:
        hub.start(ready_timeout=10)
        workload(hub, rounds=5)
        st = hub.request("status").result
        if han and not radio_state(hub).startswith("up"):
            return False
        return st["boot_count"] == 1 and not any("MemoryError" in line for line in target.console_tail(500))
    except Exception:
        return False
    finally:
        hub.stop()


def bisect_heap(fits: Callable[[int], bool], lo: int, hi: int, step: int = 2048) -> int | None:
    """The smallest heap in (lo, hi] (to `step` bytes) for which `fits` holds; None if not even `hi`."""
    if not fits(hi):
        return None
    while hi - lo > step:
        mid = (lo + hi) // 2 // 1024 * 1024
        if fits(mid):
            hi = mid
        else:
            lo = mid
    return hi


def smallest_han_heap(board_name: str, broker_url: str) -> int | None:
    """The smallest heap in which the hub runs the workload with its HAN up (None: not within the budget)."""
    if not boards.load(board_name).raw.get("radio"):
        return None
    return bisect_heap(lambda h: heap_fits(board_name, broker_url, h, han=True), 16 * 1024,
                       boards.load(board_name).heap_bytes)


def smallest_heap(board_name: str, broker_url: str) -> int | None:
    """The smallest heap that runs the workload; None if the board's budget does not."""
    return bisect_heap(lambda h: heap_fits(board_name, broker_url, h), 16 * 1024, boards.load(board_name).heap_bytes)


def broker_rtt(broker_url: str, n: int) -> dict[str, float]:
    """paho -> broker -> paho round trip for a ping-sized QoS 1 message: the floor under MQTT RTTs."""
    import threading

    from .links.mqtt_link import ready_client

    got = threading.Event()
    c = ready_client(broker_url, f"bench-{os.getpid()}", [("bench/echo", 1)],
                     lambda _c, _u, m: m.topic == "bench/echo" and got.set())
    rtts = []
    for _ in range(n):
        got.clear()
        t = time.perf_counter()
        c.publish("bench/echo", b'{"id":"x","cmd":"ping"}', qos=1)
        got.wait(5)
        rtts.append(time.perf_counter() - t)
    c.disconnect()
    c.loop_stop()
    return rtt_stats(rtts)


def radio_report(r: dict) -> list[str]:
    """Markdown lines for the radio benchmarks (bench_radio.run's numbers)."""
    L = ["", "## Radio (issue 4)", "",
         "| what | p50 | p99 |", "|---|---|---|"]
    for key, s in r["ezsp"].items():
        L.append(f"| EZSP command round trip through the virtual NCP (getEui64 from stock bellows), {key} | "
                 f"{s['p50']:.2f} ms | {s['p99']:.2f} ms |")
    for key, res in r["aps"].items():
        if not isinstance(res, dict):
            continue
        rtt = res["rtt"]
        L.append(f"| APS unicast round trip hub -> device -> hub on the virtual air, 40-byte payload, APS acks, "
                 f"{key} ({res['failed']} failed) | {rtt['p50']:.1f} ms | {rtt['p99']:.1f} ms |")
    L += ["", f"One 40-byte APS frame and its MAC ack take {r['aps']['one_hop_airtime_ms']:.2f} ms of air at "
          "250 kbit/s (802.15.4 airtime as the virtual air models it); the round trips above include the "
          "bellows hosts, ASH on both NCPs and the modelled air.", ""]
    return L


def write_report(out: str, runs: list[dict], floors: dict, notes: list[str], command: str,
                 images: dict | None = None, radio: dict | None = None, ota: dict | None = None) -> None:
    L = [
        "# Benchmarks",
        "",
        f"Made by `{command}` (`make bench`). Numbers are measurements on the machine below, not test",
        "assertions; CI machines are shared and noisy, so compare ratios and percentiles within one run.",
        "",
        *notes,
        "",
        "## Foundation: boot, command round trips, heap (emulated boards, UART paced at the board's baud)",
        "",
        "| board | broker | boot to ready, median (max) | serial ping p50 / p99 | MQTT ping p50 / p99 | HAN (radio) | peak heap / budget |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        b = r["boot_s"]
        L.append(
            f"| {r['board']} | {r['broker']} | {statistics.median(b) * 1000:.1f} ms ({max(b) * 1000:.1f} ms) "
            f"| {r['serial_rtt']['p50']:.2f} / {r['serial_rtt']['p99']:.2f} ms "
            f"| {r['mqtt_rtt']['p50']:.2f} / {r['mqtt_rtt']['p99']:.2f} ms | {r.get('radio', '-')} "
            f"| {r['heap']['heap_peak'] / 1024:.1f} / {r['budget'] / 1024:.0f} KiB ({100 * r['heap']['heap_peak'] / r['budget']:.0f} %) |"
        )
    fits = [r for r in runs if "smallest_heap" in r]
    if fits:
        L += ["", "Smallest heap (`-X heapsize`, bisected to 2 KiB) on which the hub boots, connects to the broker and runs",
              "the workload below with no restart and no MemoryError: the real measure of fitting a board. The hub",
              "starts without its radio when the radio's code does not fit, so the last column asks for the HAN up",
              "too (the board's NCP is a virtual one on a virtual air).", "",
              "| board | smallest working heap | with the HAN up | budget | headroom |", "|---|---|---|---|---|"]
        for r in fits:
            sh, hh = r["smallest_heap"], r.get("smallest_han_heap")
            cell = f"{sh / 1024:.0f} KiB" if sh else "does not fit"
            han = f"{hh / 1024:.0f} KiB" if hh else "no radio" if r.get("radio") == "no radio" else "**does not fit the budget**"
            room = f"{(r['budget'] - (hh or sh)) / 1024:.0f} KiB" if (hh or sh) else "-"
            L.append(f"| {r['board']} | {cell} | {han} | {r['budget'] / 1024:.0f} KiB | {room} |")
    L += ["", "Reference measured in the same run: a paho -> broker -> paho QoS 1 round trip of a ping-sized message,", "the floor under any MQTT command round trip.", ""]
    L += ["| broker | p50 | p99 |", "|---|---|---|"]
    for name, s in floors.items():
        L.append(f"| {name} | {s['p50']:.2f} ms | {s['p99']:.2f} ms |")
    L += [
        "",
        "Targets (../shared/docs/targets.md): boot to ready < 1 s; command p99 < 20 ms over serial and MQTT;",
        "everything inside the heap of an ESP32 without PSRAM (100 KiB).",
        "",
        "How it is measured: boot to ready is power-on (process start) to the firmware's `commshub ready` console",
        "line, over several power cycles; pings are sequential round trips of the `ping` command after 20",
        "warm-up pings; peak heap is the firmware's high-water mark of live heap (`gc.mem_alloc()` right after",
        "`gc.collect()`) after the workload: status, info, time.get, config.get, a ping with 1500 bytes of data,",
        "log.tail of 200 lines and a config.set of about 1 KiB, over both links, 20 rounds.",
        "The emulated boards run a 32-bit MicroPython, as the ESP32 and RP2040 are 32-bit.",
        "",
    ]
    if images:
        from .bench_images import report

        L += report(images)
    if radio:
        L += radio_report(radio)
    if ota:
        from .bench_ota import report as ota_report

        L += ota_report(ota)
    with open(out, "w") as f:
        f.write("\n".join(L))


def run(out: str, boards_to_run: list[str], pings: int, boots: int, command: str, log=print) -> None:
    notes = machine_notes()
    runs: list[dict] = []
    floors: dict[str, dict] = {}
    with EmbeddedBroker() as amqtt, mosquitto() as mq:
        log("benchmark: embedded amqtt broker" + (", and Mosquitto" if mq else
                                                 "; Mosquitto not installed, skipped (apt-get install mosquitto)"))
        floors["amqtt (embedded)"] = broker_rtt(amqtt.url, pings)
        from . import bench_images

        log("benchmark: firmware images")
        images = bench_images.run(amqtt.url, log, broker_pid=amqtt.proc.pid if amqtt.proc else None,
                                  mosquitto_url=mq)
        for b in boards_to_run:
            r = bench_board(b, amqtt.url, pings, boots, log)
            r["broker"] = "amqtt"
            r["smallest_heap"] = smallest_heap(b, amqtt.url)
            r["smallest_han_heap"] = smallest_han_heap(b, amqtt.url)
            log(f"  {b}: smallest working heap {r['smallest_heap']}, with the HAN up {r['smallest_han_heap']}")
            runs.append(r)
        if mq:
            floors["Mosquitto"] = broker_rtt(mq, pings)
            r = bench_board(boards_to_run[0], mq, pings, boots, log)
            r["broker"] = "Mosquitto"
            runs.append(r)
        from . import bench_ota

        log("benchmark: HAN device firmware over OTA (emulated hub, virtual air, emulated devices)")
        ota = bench_ota.run(amqtt.url, log)
    from . import bench_radio

    log("benchmark: radio (virtual NCP and air)")
    radio = bench_radio.run(log)
    write_report(out, runs, floors, notes, command, images, radio, ota)
    log(f"wrote {out}")
