"""`commshub air serve` / `commshub air ncp` in their own processes, driven like a user would:
bellows over the printed socket:// and pty, the JSON-lines control port, the capture."""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import json
import os
from pathlib import Path
import re
import subprocess
import sys
import time

import bellows.types as t

from commshub.radio.control import request
from commshub.radio.device import BellowsDevice

from test_virtual_air import CODE, HUB, METER, ZCL_CLUSTER, form_and_join, run


@contextlib.contextmanager
def commshub(*args: str) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """Run `commshub ARGS` in the background; yields (process, stdout lines read so far)."""
    proc = subprocess.Popen([sys.executable, "-m", "commshub.cli", *args], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines: list[str] = []
    try:
        yield proc, lines
    finally:
        proc.terminate()
        proc.wait(10)


def read_until(proc: subprocess.Popen[str], lines: list[str], pattern: str) -> re.Match[str]:
    """Read the process's stdout until a line matches `pattern`."""
    deadline = time.monotonic() + 20
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"exited: {proc.wait()} {proc.stderr.read() if proc.stderr else ''}")
        lines.append(line)
        if m := re.search(pattern, line):
            return m
    raise AssertionError(f"no {pattern!r} in {lines}")


def test_air_serve_with_two_ncps_control_port_and_capture(tmp_path: Path) -> None:
    cap = tmp_path / "air.jsonl"
    with commshub("air", "serve", "--ncp", HUB, "--ncp", f"{METER},13,pty", "--time-scale", "10",
                  "--capture", str(cap)) as (proc, lines):
        port = int(read_until(proc, lines, r"air control 127\.0\.0\.1:(\d+)")[1])
        hub_url = read_until(proc, lines, r"ncp \S+ EZSP v8\s+(socket://\S+)")[1]
        meter_pty = read_until(proc, lines, r"ncp \S+ EZSP v13 .* pty (\S+)")[1]
        assert os.path.exists(meter_pty)

        async def body() -> None:
            hub, meter = BellowsDevice(hub_url), BellowsDevice(meter_pty, install_code=CODE)
            await hub.connect()
            await meter.connect()
            try:
                nwk = await form_and_join(hub, meter, CODE)
                assert await meter.send_unicast(0, b"hi", cluster=ZCL_CLUSTER) \
                    == t.EmberStatus.SUCCESS
                assert (await hub.receive(cluster=ZCL_CLUSTER)).payload == b"hi"
                assert nwk > 0
            finally:
                await hub.close()
                await meter.close()

        run(body)
        radios = {r["eui64"]: r for r in request("127.0.0.1", port, {"cmd": "list"})["radios"]}
        assert radios["00:0d:6f:00:0a:bc:de:01"]["node_type"] == "ROUTER"
        assert radios["02:aa:bb:cc:dd:ee:ff:01"]["up"] is True
        # Bad requests are refused with a reason and change nothing.
        bad = request("127.0.0.1", port, {"cmd": "faults", "eui64": HUB, "bogus": 1})
        assert bad["ok"] is False and "bogus" in bad["error"]
        assert request("127.0.0.1", port, {"cmd": "fly"})["ok"] is False
        assert request("127.0.0.1", port, {"cmd": "add_ncp", "eui64": HUB})["ok"] is False
        assert len(request("127.0.0.1", port, {"cmd": "list"})["radios"]) == 2
        # `air ncp --air` adds a radio to the running air.
        out = subprocess.run([sys.executable, "-m", "commshub.cli", "air", "ncp", "--air",
                              f"127.0.0.1:{port}", "--eui64", "000D6F000ABCDE07", "--ezsp", "9"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
        assert re.search(r"ncp 00:0d:6f:00:0a:bc:de:07 EZSP v9\s+socket://", out)
        assert len(request("127.0.0.1", port, {"cmd": "list"})["radios"]) == 3
    kinds = [json.loads(line)["kind"] for line in cap.read_text().splitlines()]
    assert "form" in kinds and "join" in kinds and "delivered" in kinds


def test_air_ncp_alone_on_a_pty_for_your_own_bellows() -> None:
    with commshub("air", "ncp", "--pty", "--ezsp", "13", "--eui64", HUB) as (proc, lines):
        path = read_until(proc, lines, r"ncp 02:aa:bb:cc:dd:ee:ff:01 EZSP v13 .* pty (\S+)")[1]

        async def body() -> None:
            dev = BellowsDevice(path)
            await dev.connect()
            try:
                assert dev.api.ezsp_version == 13
                assert str(dev.eui64) == "02:aa:bb:cc:dd:ee:ff:01"
            finally:
                await dev.close()

        run(body)
