"""Image benchmarks: download throughput over serial and MQTT, heap during a download,
signature verification time. Called by `commshub bench`; results in docs/BENCHMARKS.md."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
import time
from statistics import median
from typing import Any, Callable, Iterator

from . import boards, paths
from .hub import Hub
from .images import gbcs, keys, push
from .images.bundle import pack
from .images.hub_image import DEFAULT_IMAGE_TYPE, DEFAULT_MANUFACTURER, header_string
from .images.manifest import build_manifest, file_version, slot_files
from .targets import EmulatorTarget

SINK = paths.REPO / "host_tools" / "commshub" / "emulator" / "mqtt_sink.py"


def padded_image(board: str, version: str, size: int) -> bytes:
    """A valid, dev-signed hub image of about `size` bytes: the real app plus a padding file."""
    from .emulator.fsimage import build_app

    b = boards.load(board)
    files = slot_files(build_app(b))
    base = sum(len(d) for _, d in files) + 4096
    if size > base:
        files = files + [("lib/bench/padding.bin", os.urandom(size - base))]
    m = build_manifest(files, version=version, boards=[board], arch=b.mpy_arch, note="benchmark padding")
    mi = pack(m, files)
    return gbcs.build_image(mi, manufacturer=DEFAULT_MANUFACTURER, image_type=DEFAULT_IMAGE_TYPE,
                            file_version=file_version(version), header_string=header_string(version, board),
                            key=keys.dev_key())


def _bump(v: str) -> str:
    a, b, c = (int(x) for x in v.split("."))
    return f"{a}.{b}.{c + 1}"


def cpu_seconds(pid: int | None) -> float:
    """CPU time of process `pid` so far, all its threads, in seconds at nanosecond resolution
    (/proc's schedstat; clock ticks of 10 ms are too coarse for a download of a few tenths of a
    second); 0 if it is gone or unknown."""
    try:
        total = 0
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        return total / 1e9
    except (OSError, TypeError, ValueError, IndexError):
        return 0.0


def _pin(pid: int, cpus: set[int]) -> None:
    for tid in os.listdir(f"/proc/{pid}/task"):  # every thread: affinity is per thread
        with contextlib.suppress(OSError):
            os.sched_setaffinity(int(tid), cpus)


@contextlib.contextmanager
def hub_on_its_own_core(hub_pid: Callable[[], int | None], broker_pid: int | None
                        ) -> Iterator[Callable[[], None] | None]:
    """Run the hub VM on a core of its own and the broker and this process (the head-end, the raw
    reference's clients) on the others, as a board has a CPU of its own. Yields the function that
    pins the hub VM running now: call it before each download, since every verify boot starts a new
    VM process, which the old one's pinning does not cover. Yields None (nothing pinned) on a single core."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2 or hub_pid() is None:
        yield None
        return
    others = [os.getpid()] + ([broker_pid] if broker_pid else [])

    def pin_hub() -> None:
        pid = hub_pid()
        if pid is not None:
            _pin(pid, {cpus[-1]})

    try:
        for p in others:
            _pin(p, set(cpus[:-1]))
        pin_hub()
        yield pin_hub
    finally:
        for p in others + [hub_pid()]:
            if p is not None:
                with contextlib.suppress(OSError):
                    _pin(p, set(cpus))


def download(hub: Hub, via: str, image: bytes, broker_pid: int | None = None) -> dict[str, Any]:
    """Push `image` over `via`; returns timing (blocks alone, and with the verify boot), the heap, and
    the CPU seconds the hub VM, the broker and this process spent on the blocks (they share the machine)."""
    pids = {"hub": getattr(getattr(hub.target, "emu", None), "pid", None), "broker": broker_pid}
    c0 = {k: cpu_seconds(p) for k, p in pids.items()}
    h0 = time.process_time()
    cpu: dict[str, float] = {}

    def progress(off: int, size: int) -> None:
        if off >= size and not cpu:  # the last block's answer: before the verify boot changes the hub's pid
            cpu.update({k: cpu_seconds(p) - c0[k] for k, p in pids.items()}, host=time.process_time() - h0,
                       t=time.monotonic())

    t0 = time.monotonic()
    res = push.push(hub.link(via), image, verify_timeout=600, progress=progress)
    blocks_s = cpu.pop("t", time.monotonic()) - t0
    info = hub.request("info").result
    return {"bytes": res.bytes_sent, "seconds": res.elapsed_s, "rate": res.rate_bps,
            "blocks_s": blocks_s, "blocks_rate": res.bytes_sent / blocks_s if blocks_s > 0 else 0.0,
            "verify_s": res.elapsed_s - blocks_s, "block_size": res.block_size, "heap_peak": info["heap_peak"],
            "cpu": cpu}


def _raw_mqtt_run(broker_url: str, block_size: int, total: int, window: int, tag: str, tries: int = 3) -> float:
    """Bytes/s of paho -> broker -> paho for QoS 1 messages of `block_size`, `window` in flight.

    The same shape as a download (blocks of that size, a few in flight, each
    acknowledged before the window moves), without a hub: the broker's ceiling.
    A run in which either client lost its connection is no reference (paho is back
    only after a reconnect delay of 1 s): it is run again, up to `tries` times.
    """
    for i in range(tries):
        rate = _raw_mqtt_once(broker_url, block_size, total, window, f"{tag}-{i}")
        if rate is not None:
            return rate
    raise RuntimeError(f"the raw MQTT reference lost its connection to {broker_url} in each of {tries} runs")


def _raw_mqtt_once(broker_url: str, block_size: int, total: int, window: int, tag: str) -> float | None:
    """One raw run (see _raw_mqtt_run); None if a client was disconnected during it."""
    from .links.mqtt_link import ready_client

    n = max(1, total // block_size)
    done = threading.Semaphore(0)
    got = [0]
    lost = threading.Event()
    topic = f"bench/blocks/{tag}"

    def on_message(_c, _u, msg) -> None:
        if msg.topic == topic:  # amqtt passes other topics' retained messages to a new client
            got[0] += 1
            done.release()

    pub = ready_client(broker_url, f"bench-pub-{tag}")
    sub = ready_client(broker_url, f"bench-sub-{tag}", [(topic, 1)], on_message)
    for c in (sub, pub):
        c.on_disconnect = lambda *a: lost.set()
    block = os.urandom(block_size)
    t0 = time.perf_counter()
    for i in range(n):
        if i >= window:
            done.acquire(timeout=10)  # keep `window` in flight, like the hub's pull window
        pub.publish(topic, block, qos=1)
    while got[0] < n:
        if not done.acquire(timeout=10):
            break
    dt = time.perf_counter() - t0
    for c in (sub, pub):
        c.on_disconnect = None
        c.disconnect()
        c.loop_stop()
    return None if lost.is_set() else got[0] * block_size / dt


def vm_mqtt_ceiling(broker_url: str, block_size: int, total: int, heap: int, window: int = push.MQTT_WINDOW,
                    every: int = push.MQTT_ACK_EVERY, runs: int = 3) -> float:
    """The MicroPython VM's own MQTT ceiling, best of `runs`: paho -> broker -> a bare MQTT client on the
    VM with the hub's heap, the same blocks, window and answer every `every` blocks, and nothing else done with them
    (emulator/mqtt_sink.py). What any hub firmware on this VM could reach at most."""
    return max(_vm_mqtt_run(broker_url, block_size, total, heap, window, every, f"{os.getpid()}-{i}")
               for i in range(runs))


def _vm_mqtt_run(broker_url: str, block_size: int, total: int, heap: int, window: int, every: int,
                 tag: str) -> float:
    from .links.mqtt_link import parse_broker_url, ready_client

    host, port = parse_broker_url(broker_url)
    n = max(1, total // block_size)
    topic = f"bench/sink/{tag}"
    answered = [0]
    cond = threading.Condition()

    def on_message(_c, _u, msg) -> None:
        if msg.topic != topic + "/ack":  # amqtt has been seen to pass on other clients' retained messages
            return
        with cond:
            answered[0] = max(answered[0], int(msg.payload))
            cond.notify_all()

    pub = ready_client(broker_url, f"bench-vmpub-{tag}", [(topic + "/ack", 0)], on_message)
    sink = subprocess.Popen([paths.micropython(), "-X", f"heapsize={heap}", str(SINK), host, str(port), topic,
                             str(n), str(every)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert sink.stdout is not None
        line = sink.stdout.readline()
        if "sink ready" not in line:
            raise RuntimeError(f"the MQTT sink on the VM did not start: {line}{sink.stdout.read()[:500]}")
        block = os.urandom(block_size)
        t0 = time.perf_counter()
        for i in range(n):
            with cond:
                if not cond.wait_for(lambda: i - answered[0] < window, timeout=10):
                    break
            pub.publish(topic, block, qos=1)
        with cond:
            cond.wait_for(lambda: answered[0] >= n, timeout=10)
        dt = time.perf_counter() - t0
        if answered[0] < n:
            sink.kill()
            raise RuntimeError(f"the MQTT sink on the VM answered {answered[0]} of {n} blocks: "
                               f"{sink.stdout.read()[-500:]}")
        return n * block_size / dt
    finally:
        sink.kill()
        sink.wait()
        pub.disconnect()
        pub.loop_stop()


def verify_time_ms(runs: int = 20) -> dict[str, float]:
    """ECDSA P-256 verify on the MicroPython VM (the DCC sample's signature), in ms."""
    vectors = json.loads((paths.FIRMWARE / "tests" / "vectors" / "p256.json").read_text())
    case = next(c for c in vectors["cases"] if c.get("valid"))
    script = (
        "import time\nfrom binascii import unhexlify as u\nfrom hub.crypto.p256 import verify\n"
        f"p, d, s = u('{case['pub']}'), u('{case['digest']}'), u('{case['sig']}')\n"
        f"ts = []\nfor i in range({runs}):\n    t = time.ticks_us(); assert verify(p, d, s); ts.append(time.ticks_diff(time.ticks_us(), t))\n"
        "ts.sort(); print(ts[len(ts) // 2], ts[0], ts[-1])\n"
    )
    env = dict(os.environ, MICROPYPATH=f"{paths.FIRMWARE}:.frozen")
    out = subprocess.run([paths.micropython(), "-X", "heapsize=100K", "-c", script], capture_output=True,
                         text=True, env=env, timeout=120)
    med, lo, hi = (int(x) / 1000 for x in out.stdout.split())
    return {"median": med, "min": lo, "max": hi}


def mqtt_download(hub: Hub, broker_url: str, version: str, broker_pid: int | None = None,
                  runs: int = 3, pin: Callable[[], None] | None = None) -> tuple[dict[str, Any], str]:
    """`runs` pairs of an MQTT download of 512 KiB and a raw paho -> broker -> paho run of the same
    blocks right after it; returns the best download with the best raw rate, each pair's ratio (both
    halves of a pair see the same moment of a shared machine) and the VM's own MQTT ceiling, and the
    next free version."""
    best: dict[str, Any] | None = None
    size = 512 * 1024
    raws: list[float] = []
    ratios: list[float] = []
    for i in range(runs):
        if pin is not None:
            pin()  # the VM of this moment: the last download's verify boot started a new one
        d = download(hub, "mqtt", padded_image(hub.board.name, version, size), broker_pid)
        version = _bump(version)
        raw = _raw_mqtt_run(broker_url, d["block_size"], size, push.MQTT_WINDOW, f"{os.getpid()}-{i}")
        raws.append(raw)
        ratios.append(d["blocks_rate"] / raw)
        if best is None or d["blocks_rate"] > best["blocks_rate"]:
            best = d
    assert best is not None
    best["runs"] = runs
    best["raw"] = max(raws)
    best["ratios"] = sorted(ratios)
    best["vm"] = vm_mqtt_ceiling(broker_url, best["block_size"], size, hub.board.heap_bytes)
    return best, version


def run(broker_url: str, log: Callable[[str], None], big_mb: float = 1.0,
        broker_pid: int | None = None, mosquitto_url: str | None = None) -> dict[str, Any]:
    """All image benchmarks; returns the numbers write_report prints."""
    out: dict[str, Any] = {"verify_ms": verify_time_ms()}
    log(f"  P-256 verify median {out['verify_ms']['median']:.1f} ms on the MicroPython VM")

    # Serial at the emulated board's real baud rate, and MQTT, on the emulator board.
    target = EmulatorTarget("emulator", broker_url, name="bench-img", pace=True)
    hub = Hub(target, broker_url, timeout=10).start()
    try:
        version = _bump(push.status(hub.serial)["running"]["version"])
        img = padded_image("emulator", version, 256 * 1024)
        s = download(hub, "serial", img)
        baud = hub.board.baud
        s["line_rate"] = baud / 10
        out["serial"] = s
        log(f"  serial download {s['rate'] / 1024:.2f} KiB/s = {100 * s['rate'] / s['line_rate']:.1f} % of line rate")
        push.abort(hub.serial)
        m, version = mqtt_download(hub, broker_url, _bump(version), broker_pid, runs=5)
        out["mqtt"] = m
        out["heap_budget"] = hub.board.heap_bytes
        log(f"  MQTT download (amqtt): blocks {m['blocks_rate'] / 1024:.0f} KiB/s, median {100 * median(m['ratios']):.0f} % "
            f"of the raw run of its pair (best raw {m['raw'] / 1024:.0f} KiB/s), VM ceiling {m['vm'] / 1024:.0f} KiB/s; "
            f"with the verify boot {m['rate'] / 1024:.0f} KiB/s")
        with hub_on_its_own_core(lambda: target.emu.pid, broker_pid) as pin:
            if pin:
                p, version = mqtt_download(hub, broker_url, version, broker_pid, pin=pin)
                out["mqtt_own_core"] = p
                log(f"  the same, hub VM on a core of its own: {p['blocks_rate'] / 1024:.0f} KiB/s, median "
                    f"{100 * median(p['ratios']):.0f} % of the raw run of its pair")
    finally:
        hub.stop()
    if mosquitto_url:
        target = EmulatorTarget("emulator", mosquitto_url, name="bench-img-mq", pace=True)
        hub = Hub(target, mosquitto_url, timeout=10).start()
        try:
            version = _bump(push.status(hub.serial)["running"]["version"])
            q, _ = mqtt_download(hub, mosquitto_url, version, runs=5)
            out["mqtt_mosquitto"] = q
            log(f"  MQTT download (Mosquitto): blocks {q['blocks_rate'] / 1024:.0f} KiB/s, median "
                f"{100 * median(q['ratios']):.0f} % of the raw run of its pair (best raw {q['raw'] / 1024:.0f} KiB/s), "
                f"VM ceiling {q['vm'] / 1024:.0f} KiB/s")
        finally:
            hub.stop()

    # A 1 MB image over serial at 115200 needs a filesystem that holds it twice (staging + slot).
    target = EmulatorTarget("raspberry-pi", broker_url, name="bench-img-1m", pace=True)
    hub = Hub(target, broker_url, timeout=10).start()
    try:
        version = _bump(push.status(hub.serial)["running"]["version"])
        img = padded_image("raspberry-pi", version, int(big_mb * 1024 * 1024))
        out["big"] = download(hub, "serial", img)
        out["big"]["line_rate"] = hub.board.baud / 10
        log(f"  1 MiB over serial at {hub.board.baud} baud: {out['big']['seconds']:.1f} s")
    finally:
        hub.stop()
    out["update_heap"] = {}
    for b in ("esp32-devkitc", "emulator"):
        out["update_heap"][b] = (smallest_update_heap(b, broker_url), boards.load(b).heap_bytes)
        log(f"  {b}: smallest heap for a whole update {out['update_heap'][b][0]}")
    return out


def mqtt_rows(broker: str, m: dict[str, Any]) -> list[str]:
    """The report's rows for one broker's MQTT download."""
    per_block = m["cpu"].get("hub", 0) / max(1, m["bytes"] // m["block_size"]) * 1e6
    return [
        f"| MQTT download, {broker}, {m['block_size']}-byte blocks, window {push.MQTT_WINDOW}, one answer per "
        f"{push.MQTT_ACK_EVERY} blocks, {m['bytes'] // 1024} KiB, {m['runs']} pairs of a download and a raw run right "
        f"after it: the blocks | median **{100 * median(m['ratios']):.0f} %** of the raw rate of its pair "
        f"(pairs {100 * m['ratios'][0]:.0f}-{100 * m['ratios'][-1]:.0f} %); best download "
        f"{m['blocks_rate'] / 1024:.0f} KiB/s, hub VM CPU {per_block:.0f} us per block | "
        f">= 80 % of raw paho -> broker -> paho, same block size and window; best raw run: {m['raw'] / 1024:.0f} KiB/s |",
        f"| the same blocks from {broker} into a bare MQTT client on the same VM and heap, answered every {push.MQTT_ACK_EVERY}th, "
        f"nothing else done (the VM's own MQTT ceiling, best of 3) | {m['vm'] / 1024:.0f} KiB/s: the hub reaches "
        f"**{100 * m['blocks_rate'] / m['vm']:.0f} %** of it | |",
    ]


def report(out: dict[str, Any]) -> list[str]:
    """Markdown lines for docs/BENCHMARKS.md."""
    s, m, big = out["serial"], out["mqtt"], out["big"]
    cpu = m.get("cpu", {})
    own = out.get("mqtt_own_core")
    v = out["verify_ms"]
    L = [
        "## Firmware images (issue 3)",
        "",
        "| what | measured | target / reference |",
        "|---|---|---|",
        f"| serial download, UART paced at 115200 baud, {s['bytes'] // 1024} KiB image, {s['block_size']}-byte blocks | "
        f"{s['rate'] / 1024:.2f} KiB/s = **{100 * s['rate'] / s['line_rate']:.1f} %** of line rate ({s['line_rate'] / 1024:.2f} KiB/s) "
        "| >= 90 % (mpremote cp: 2.9-4.9 KB/s) |",
        f"| 1 MiB image over serial at 115200 (raspberry-pi board: its filesystem holds staging and slot) | "
        f"{big['seconds']:.1f} s ({100 * big['rate'] / big['line_rate']:.1f} % of line rate) | line rate alone: "
        f"{big['bytes'] / big['line_rate']:.1f} s |",
        *mqtt_rows("amqtt", m),
        *([f"| the same with the hub VM on a core of its own, broker and head-end (and the reference) on the other, "
           f"{own['runs']} pairs | median **{100 * median(own['ratios']):.0f} %** of the raw rate of its pair "
           f"(pairs {100 * own['ratios'][0]:.0f}-{100 * own['ratios'][-1]:.0f} %); best download "
           f"{own['blocks_rate'] / 1024:.0f} KiB/s | best raw run on the other core: {own['raw'] / 1024:.0f} KiB/s |"]
          if own else []),
        *(mqtt_rows("Mosquitto", out["mqtt_mosquitto"]) if out.get("mqtt_mosquitto") else []),
        f"| CPU spent on the amqtt blocks (2 cores shared by hub, broker and head-end) | hub VM {cpu.get('hub', 0):.2f} s, "
        f"broker {cpu.get('broker', 0):.2f} s, head-end {cpu.get('host', 0):.2f} s in {m['blocks_s']:.2f} s | "
        f"the hub VM alone: {m['bytes'] / max(cpu.get('hub', 0), 1e-9) / 1024:.0f} KiB per CPU second |",
        f"| the same download, offer to verdict (verify boot included: {m['verify_s']:.2f} s) | "
        f"{m['rate'] / 1024:.0f} KiB/s | |",
        f"| ECDSA P-256 verify on the MicroPython VM | median {v['median']:.1f} ms (min {v['min']:.1f}, max {v['max']:.1f}) | "
        "ESP32: expect 10-100x slower |",
        f"| live heap high-water during the downloads (emulator board) | {m['heap_peak'] / 1024:.1f} KiB | budget {out['heap_budget'] / 1024:.0f} KiB |",
        "",
        "Smallest heap in which a whole update works (push over MQTT, the verify boot, activation, the new",
        "image confirming itself), bisected to 2 KiB:",
        "",
        "| board | smallest heap for an update | budget | fits |",
        "|---|---|---|---|",
    ]
    for b, (need, budget) in out["update_heap"].items():
        cell = f"{need / 1024:.0f} KiB" if need else "over 256 KiB"
        fits = "yes" if need and need <= budget else "**no: over budget**"
        L.append(f"| {b} | {cell} | {budget / 1024:.0f} KiB | {fits} |")
    L += [
        "",
        "Serial throughput counts everything from the offer to the hub's verdict (the verify boot included).",
        f"MQTT: the reference publishes the same blocks QoS 1 with {push.MQTT_WINDOW} in flight from one paho client to "
        "another. \"The blocks\" is offer to the last block's answer; the verify boot follows it. Each download is",
        "followed at once by a raw run of the same blocks, and the ratio is taken within each pair: on a shared",
        "machine the raw rate alone varies by 2x from one minute to the next. The hub VM, the broker and the",
        "head-end share 2 cores, so a",
        "download costs the sum of their CPU times (the CPU row); a real board has a CPU of its own, which the",
        "\"own core\" row models. The VM's ceiling row is a second reference: a bare MQTT client on the same VM",
        "and heap receiving the same blocks and answering as often as the hub does, with nothing else done. It",
        "takes a few tens of microseconds a block, about what paho takes in CPython. The hub's CPU per block",
        "(the rows above) is that plus the envelope and its JSON arguments, the command, the staging write",
        "through littlefs and the emulated flash (`emuflash`, a block device in C built into this VM, as a",
        "board's flash driver is C), the answers, and the garbage collections all that allocation brings, each",
        "marking the whole live heap (about 120 KiB on the emulator board with its HAN up: bytecode lives in",
        "the heap on this VM). Against Mosquitto, a C broker, the raw reference is mostly paho's speed: its two",
        "clients and the broker take about 70 us of CPU per 2 KiB block, where a download takes the hub's ~50,",
        "the head-end's ~47 (paho's publisher alone is most of it) and the broker's ~10, on the same 2 cores.",
        "Against amqtt, a Python broker, the broker's own CPU per block dominates both runs: about 130 us a",
        "block in the raw run, about 147 in a download, which also carries the hub's answers (each costs the",
        "broker about what a block does; an answer per 8 blocks in a window of 16 cost it 157). The raw",
        "reference's clients wait for the broker's CONNACK and SUBACK before the clock starts, and a run in",
        "which a client lost its connection is run again (amqtt used to drop a client connecting while another",
        "subscribed; paho is back only a second later). On an ESP32 the flash itself (tens of ms to program a",
        "4 KiB sector) is far slower than any broker.",
        "",
    ]
    return L


def wait_confirmed(hub: Hub, version: str, timeout: float = 30) -> bool:
    """Wait until the hub runs `version` with no slot left pending (the new image confirmed itself)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            st = push.status(hub.serial, timeout=1)
            if st["running"]["version"] == version and not any(
                    s.get("state") == "pending" for s in st["slots"].values()):
                return True
        except Exception:  # noqa: BLE001 - rebooting: no answer yet
            pass
        time.sleep(0.2)
    return False


def update_fits(board: str, broker_url: str, heap: int) -> bool:
    """Does a whole update (push over MQTT, verify boot, activation, confirm) work in `heap` bytes?"""
    target = EmulatorTarget(board, broker_url, name=f"updfit-{board}", heap_bytes=heap)
    hub = Hub(target, broker_url, timeout=3)
    try:
        hub.start(ready_timeout=10)
        version = _bump(push.status(hub.mqtt)["running"]["version"])
        res = push.push(hub.mqtt, padded_image(board, version, 0), verify_timeout=30, max_resyncs=2)
        if push.activate(hub.mqtt, res.mi_hash)["outcome"] != 0:
            return False
        if not wait_confirmed(hub, version):
            return False
        return not any("MemoryError" in line for line in target.console_tail(2000))
    except Exception:
        return False
    finally:
        hub.stop()


def smallest_update_heap(board: str, broker_url: str, hi: int = 256 * 1024) -> int | None:
    """The smallest heap in which a whole update works; None if not even `hi`."""
    from .bench import bisect_heap

    return bisect_heap(lambda h: update_fits(board, broker_url, h), 48 * 1024, hi)
