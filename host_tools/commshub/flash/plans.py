"""Flashing plans per board kind: the ordered steps `commshub flash` runs.

ESP32: identify the chip (esptool), build the unit's filesystem, erase, write
the stock MicroPython .bin, write the filesystem over `vfs`, then wait for the
hub to answer. Pico W: one UF2 (MicroPython plus a filesystem wipe) copied to
the bootloader drive, then mpremote copies the image's files. Every check
that can refuse runs before the first write.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import hubfs, ports, tools, uf2
from .runner import Step
from .spec import BoardSpec

HUB_ANSWER_TIMEOUT_S = 25.0


@dataclass
class Unit:
    """The board being flashed: what the user said and what the steps find out."""

    spec: BoardSpec
    port: str
    firmware: Path | None
    hub_id: str | None = None
    mqtt_url: str = ""
    trusted: list[str] = field(default_factory=list)
    baud: int | None = None
    uf2_drive: str | None = None
    radio_port: str | None = None  # Raspberry Pi: the NCP dongle's tty (default: the board's)
    fs: hubfs.HubFs | None = None
    found: dict[str, str] = field(default_factory=dict)

    @property
    def image_path(self) -> Path:
        return hubfs.OUT_DIR / f"{self.spec.name}.fs.bin"

    def build_fs(self) -> None:
        if self.hub_id is None:
            raise RuntimeError("no hub ID: give --hub-id")
        prov, dev = hubfs.provision(self.hub_id, self.mqtt_url, self.trusted)
        self.fs = hubfs.build(self.spec, prov, dev, out=self.image_path)
        note = " (trusts the DEVELOPMENT key: give --trusted-key for the field)" if dev else ""
        print(f"   {len(self.fs.files)} files, hub ID {prov.hub_id}{note} -> {self.fs.path}")


def hub_answers(port: str, baud: int, timeout: float = HUB_ANSWER_TIMEOUT_S) -> dict:
    """Wait until the hub on `port` answers `info`; its answer, or RuntimeError with its console."""
    from ..links.serial_link import SerialLink
    from ..protocol.errors import HubError, HubTimeout

    deadline = time.monotonic() + timeout
    ports.wait_for_port(port, timeout)
    link = SerialLink(port, baud=baud, timeout=2.0)
    try:
        while True:
            try:
                return link.request("info", timeout=2.0).result
            except (HubTimeout, HubError):
                if time.monotonic() > deadline:
                    tail = "\n".join(f"   | {ln}" for ln in link.console_lines[-12:]) or "   | (nothing)"
                    raise RuntimeError(f"the hub on {port} did not answer within {timeout:g} s; "
                                       f"its console said:\n{tail}") from None
    finally:
        link.close()


def check_hub(unit: Unit) -> Step:
    def act() -> None:
        info = hub_answers(unit.port, unit.spec.console.baud)
        print(f"   hub {info.get('hub_id')} answers: firmware {info.get('fw_version')} on "
              f"{info.get('board')}, MicroPython {info.get('micropython')}, heap free {info.get('heap_free')}")

    return Step("wait for the hub to answer", action=act,
                shown=f"commshub status --port {unit.port} --board {unit.spec.name}",
                after_failure="the board is flashed but the hub does not answer: see its console output above")


def esp32(unit: Unit) -> list[Step]:
    """Steps for an ESP32 board."""
    spec, port = unit.spec, unit.port
    lay = spec.esp
    assert lay is not None and unit.firmware is not None

    def detect() -> None:
        chip = ports.detect_esp(port)
        if chip.name != lay.chip:
            raise ports.PortError(f"the chip on {port} is {chip.description}; board {spec.name} has an "
                                  f"{lay.chip.upper()}: wrong port, or wrong --board")
        unit.found["mac"] = chip.mac
        if unit.hub_id is None:
            unit.hub_id = hubfs.eui64_from_mac(chip.mac)
        print(f"   {chip.description}, MAC {chip.mac}")

    return [
        Step("identify the chip", action=detect,
             shown=f"esptool --chip auto --port {port} read-mac: expect {lay.chip}; hub ID from the MAC"),
        Step("build the hub filesystem (littlefs)", action=unit.build_fs,
             shown=f"littlefs image of {spec.board.block_count} x {spec.board.block_size} bytes -> {unit.image_path}"),
        Step("erase the flash", argv=tools.esp_erase(spec, port, unit.baud)),
        Step(f"write MicroPython {spec.firmware.version if spec.firmware else ''}",
             argv=tools.esp_write_firmware(spec, port, unit.firmware, unit.baud),
             after_failure="the flash is erased or half written: run the same command again"),
        Step(f"write the hub filesystem at {lay.fs_offset:#x}",
             argv=tools.esp_write_fs(spec, port, unit.image_path, unit.baud),
             after_failure="MicroPython is written but the hub filesystem is not: run the same command again"),
        check_hub(unit),
    ]


def rp2(unit: Unit) -> list[Step]:
    """Steps for a Raspberry Pi Pico W."""
    spec, port = unit.spec, unit.port
    flash = spec.host.get("flash", {})
    family, label = int(flash["uf2_family"]), flash.get("uf2_drive", "RPI-RP2")
    fs_offset = int(spec.board.raw["fs"]["offset"])
    assert unit.firmware is not None
    combined = hubfs.OUT_DIR / f"{spec.name}-micropython-fswipe.uf2"
    where = unit.uf2_drive or f"the {label} drive"

    def write_uf2() -> None:
        drive = uf2.find_drive(label, unit.uf2_drive)
        if drive is None:
            raise ports.PortError(f"no {label} drive mounted: hold BOOTSEL while plugging the Pico W in, "
                                  f"wait for the drive, or give --uf2-drive PATH")
        assert unit.firmware is not None
        combined.parent.mkdir(parents=True, exist_ok=True)
        combined.write_bytes(uf2.with_fs_wipe(unit.firmware.read_bytes(), fs_offset, spec.board.block_size, family))
        shutil.copyfile(combined, drive / combined.name)
        print(f"   {combined.stat().st_size} bytes to {drive}; the board restarts into MicroPython")

    def identify() -> None:
        ports.wait_for_port(port, 20.0)
        if unit.hub_id is None:
            unit.hub_id = read_unique_id(port)
        print(f"   MicroPython answers on {port}; hub ID {unit.hub_id}")

    def copy_files() -> None:
        from .runner import run_counted, console

        assert unit.fs is not None
        files = hubfs.stage(unit.fs)
        run_counted(Step("copy", argv=tools.mpremote_put(port, files, resume=False), files=len(files)), console())

    return [
        Step("install MicroPython and blank the filesystem (UF2)", action=write_uf2,
             shown=f"UF2 of {unit.firmware.name} + erase of fs blocks 0-1 at {fs_offset:#x} -> cp {combined} {where}/"),
        Step("wait for MicroPython; hub ID from the board's unique ID", action=identify,
             shown=f"{shlex_mpremote(port)} exec {UNIQUE_ID_CODE!r}"),
        Step("build the hub filesystem (littlefs)", action=unit.build_fs,
             shown=f"littlefs image -> {unit.image_path}; its files are what mpremote copies"),
        Step("copy the hub's files", action=copy_files,
             shown=f"{shlex_mpremote(port)} exec <mkdir> + fs cp <file> :<path> ... + reset",
             after_failure="MicroPython is installed; the files are partly copied: run the same command again"),
        check_hub(unit),
    ]


UNIQUE_ID_CODE = "import machine,binascii;print(binascii.hexlify(machine.unique_id()).decode().upper())"


def read_unique_id(port: str) -> str:
    """The RP2040 flash's 64-bit unique ID, which the rp2 firmware also falls back to as hub ID."""
    import subprocess

    out = subprocess.run(tools.mpremote() + ["connect", port, "exec", UNIQUE_ID_CODE],
                         capture_output=True, text=True, timeout=30)
    found = out.stdout.strip().splitlines()[-1:] if out.returncode == 0 else []
    if not found or len(found[0]) != 16:
        raise ports.PortError(f"MicroPython on {port} did not report its unique ID: {out.stderr.strip()[-200:]}")
    return found[0]


def shlex_mpremote(port: str) -> str:
    return " ".join(tools.mpremote() + ["connect", port])
