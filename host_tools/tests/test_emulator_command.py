"""`commshub emulate`: options, the board list in errors, a clean power-off on Ctrl-C."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from commshub import paths
from commshub.commands import emulate


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="commshub")
    emulate.register(ap.add_subparsers(dest="command"))
    return ap


def test_options_parse() -> None:
    a = _parser().parse_args(["emulate", "--board", "emulator", "--no-mqtt", "--pace", "--tcp", "0",
                              "--keep-flash", "--name", "x"])
    assert (a.board, a.no_mqtt, a.pace, a.tcp, a.keep_flash, a.name) == ("emulator", True, True, 0, True, "x")
    assert callable(a.func)
    with pytest.raises(SystemExit):
        _parser().parse_args(["emulate", "--board", "emulator", "--no-mqtt", "--broker", "mqtt://h:1"])


def test_unknown_board_lists_the_boards() -> None:
    a = _parser().parse_args(["emulate", "--board", "nope"])
    with pytest.raises(ValueError, match="esp32-devkitc"):
        a.func(a)


def test_runs_until_interrupted_and_powers_off() -> None:
    env = dict(os.environ, PYTHONPATH=str(paths.REPO / "host_tools"))
    code = ("import sys; from commshub.commands import emulate; import argparse;"
            "ap = argparse.ArgumentParser(); emulate.register(ap.add_subparsers());"
            "a = ap.parse_args(sys.argv[1:]); sys.exit(a.func(a))")
    p = subprocess.Popen([sys.executable, "-c", code, "emulate", "--board", "emulator", "--no-mqtt",
                          "--name", "pytest-emulate", "--tcp", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert p.stdout is not None
        deadline = time.monotonic() + 30
        line = ""
        while "[emulator] power on" not in line and time.monotonic() < deadline:
            line = p.stdout.readline()
        assert "[emulator] power on" in line
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=15)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    assert "socket://127.0.0.1:" in err and "off (--no-mqtt)" in err
    assert "powering off" in err
    assert not (paths.EMULATORS / "pytest-emulate" / "instance.json").exists()
    assert not Path(paths.EMULATORS / "pytest-emulate" / "uart").is_symlink()
