"""The esptool and mpremote command lines, checked against each board's description."""

from __future__ import annotations

import json
from pathlib import Path

from commshub import boards
from commshub.flash import plans, spec, tools

PORT = "/dev/ttyUSB7"


def _opt(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_esp32_commands_follow_the_board_description(tmp_path: Path) -> None:
    s = spec.load("esp32-devkitc")
    raw = json.loads((Path(boards.paths.BOARDS) / "esp32-devkitc.json").read_text())
    flash, mp, fs = raw["host"]["flash"], raw["host"]["micropython"], raw["fs"]
    unit = plans.Unit(spec=s, port=PORT, firmware=tmp_path / mp["file"])
    steps = {st.title: st.argv for st in plans.esp32(unit) if st.argv}
    assert len(steps) == 3
    for argv in steps.values():
        assert Path(argv[0]).name == "esptool" or argv[1:3] == ["-m", "esptool"]
        assert (_opt(argv, "--chip"), _opt(argv, "--port"), int(_opt(argv, "--baud"))) == \
            (flash["chip"], PORT, flash["baud"])
    erase, fw, fsw = steps.values()
    assert erase[-1] == "erase-flash"
    assert fw[-3:] == ["write-flash", hex(mp["offset"]), str(tmp_path / mp["file"])]
    assert fsw[-3:] == ["write-flash", hex(fs["offset"]), str(unit.image_path)]
    # Only the last write resets the board into the hub; nothing boots a half-written flash.
    assert [_opt(a, "--after") for a in (erase, fw, fsw)] == ["no-reset", "no-reset", "hard-reset"]
    assert int(_opt(tools.esp_erase(s, PORT, 115200), "--baud")) == 115200


def test_merge_bin_lays_each_part_at_its_offset() -> None:
    s = spec.load("esp32-devkitc")
    argv = tools.esp_merge(s, Path("fw.bin"), Path("fs.bin"), Path("out.bin"))
    i = argv.index("merge-bin")
    assert argv[i + 1:] == ["--output", "out.bin", "0x1000", "fw.bin", "0x200000", "fs.bin"]


def test_mpremote_copies_every_file_to_its_path_and_makes_its_directories() -> None:
    files = [("/boot.py", Path("/s/boot.py")), ("/slots/a/lib/hub/app.mpy", Path("/s/slots/a/lib/hub/app.mpy")),
             ("/slots/boot.json", Path("/s/slots/boot.json"))]
    argv = tools.mpremote_put("/dev/ttyACM0", files, resume=True)
    base = len(tools.mpremote())
    assert argv[base:base + 4] == ["connect", "/dev/ttyACM0", "resume", "exec"]
    code = argv[base + 4]
    made: list[str] = []

    class FakeOs:  # the code runs on the board; here we only record what it would create, in order
        @staticmethod
        def mkdir(d: str) -> None:
            made.append(d)

    exec(code.replace("import os", ""), {"os": FakeOs})
    assert made == ["/slots", "/slots/a", "/slots/a/lib", "/slots/a/lib/hub"]
    cps = [argv[i + 1:i + 5] for i, a in enumerate(argv) if a == "+" and argv[i + 1] == "fs"]
    assert cps == [["fs", "cp", str(local), ":" + remote] for remote, local in files]
    assert argv[-2:] == ["+", "reset"]
    assert "resume" not in tools.mpremote_put("/dev/ttyACM0", files, resume=False)


def test_pico_and_pi_plans_use_their_ports() -> None:
    pico = plans.rp2(plans.Unit(spec=spec.load("rpi-pico-w"), port="/dev/ttyACM3", firmware=Path("mp.uf2")))
    assert all("/dev/ttyACM3" in st.describe() or "UF2" in st.title or "build" in st.title for st in pico)
    from commshub.flash import pi

    s = spec.load("raspberry-pi")
    unit_text = pi.render_unit(s, "/dev/ttyAMA0")
    assert "@" not in unit_text  # every placeholder filled
    assert f"-X heapsize={s.board.heap_bytes} /opt/commshub/rom.py /var/lib/commshub/flash.bin " \
           f"{s.board.rom_fs_arg} {s.board.block_count} /dev/ttyAMA0 raspberry-pi power_on /dev/ttyUSB0" in unit_text
    assert "stty -F /dev/ttyAMA0 115200 raw" in unit_text
    # The NCP dongle: the board's default, or the one the user names; a missing one must not stop the hub.
    assert "ExecStartPre=-/bin/stty -F /dev/ttyUSB0 115200 raw" in unit_text
    by_id = "/dev/serial/by-id/usb-Silicon_Labs_EFR32-if00"
    assert unit_text.replace("/dev/ttyUSB0", by_id) == pi.render_unit(s, "/dev/ttyAMA0", by_id)
