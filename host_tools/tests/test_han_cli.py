"""`commshub han start / list / stop` as a user runs them: a device process on a
`commshub air serve` air joins a stand-in hub, is read, listed and stopped."""

from __future__ import annotations

import json
import os
from pathlib import Path
import subprocess
import sys
from typing import Awaitable, Callable

import pytest

from commshub.han import zcl
from commshub.han.standin import HubStandIn
from commshub.radio.control import request

from han_helpers import NETWORK, run, until
from test_virtual_air_cli import commshub, read_until

HUB = "02AABBCCDDEEFF01"
EUI = "000D6F000ABCDE21"
CODE = "83FED3407A939723A5C639B26916D505"


def han(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "commshub.cli", "han", *args], text=True,
                          capture_output=True, env=env, timeout=60)


def on_an_air(body: Callable[[HubStandIn, int], Awaitable[None]]) -> None:
    """`commshub air serve`, a stand-in hub formed on it, then `body(hub, air control port)`."""
    with commshub("air", "serve") as (proc, lines):
        port = int(read_until(proc, lines, r"air control 127\.0\.0\.1:(\d+)")[1])
        hub_port = request("127.0.0.1", port, {"cmd": "add_ncp", "eui64": HUB})["port"]

        async def main() -> None:
            hub = HubStandIn(f"socket://127.0.0.1:{hub_port}")
            await hub.start(NETWORK)
            try:
                await body(hub, port)
            finally:
                await hub.stop()

        run(main, timeout=120)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return dict(os.environ, COMMSHUB_HAN_NOTES=str(tmp_path / "han"))


def test_start_list_stop_an_esme_on_an_air(env: dict[str, str]) -> None:
    async def body(hub: HubStandIn, port: int) -> None:
        await hub.admit(EUI, bytes.fromhex(CODE))
        started = han(env, "start", "--kind", "esme", "--air", f"127.0.0.1:{port}", "--eui64", EUI,
                      "--install-code", CODE, "--ext-pan-id", HUB, "--name", "meter")
        assert started.returncode == 0, started.stderr
        assert f"install code {CODE}" in started.stdout and "pid" in started.stdout

        def listed() -> list[dict[str, object]]:
            return json.loads(han(env, "list", "--json").stdout)

        await until(lambda: any(n["state"] == "joined" for n in listed()), timeout=30)
        (note,) = listed()
        assert (note["name"], note["kind"], note["version"]) == ("meter", "esme", "1.0.0")
        nwk = int(str(note["nwk"]), 16)
        rsp = await hub.exchange(0x0702, zcl.general(zcl.GeneralCommand.Read_Attributes,
                                                     hub.next_tsn(), attribute_ids=[0]), dst=nwk)
        assert zcl.read_response_values(rsp)[0] >= 12_345_000
        text = han(env, "list").stdout
        assert "meter" in text and "joined" in text and "credit" in text
        dup = han(env, "start", "--kind", "esme", "--air", f"127.0.0.1:{port}", "--name", "meter")
        assert dup.returncode == 1 and "already running" in dup.stderr
        stopped = han(env, "stop", "meter")
        assert stopped.returncode == 0 and listed() == []
        assert han(env, "stop", "meter").returncode == 1
        # Started again under its name: the same device (EUI-64, code, memory), and its
        # radio still holds the network: it resumes without being admitted again.
        again = han(env, "start", "--kind", "esme", "--air", f"127.0.0.1:{port}", "--name", "meter")
        assert again.returncode == 0 and EUI.lower() in again.stdout.replace(":", "").lower()
        await until(lambda: any(n["state"] == "joined" for n in listed()), timeout=30)
        (note,) = listed()
        assert note["nwk"] == f"{nwk:#06x}" and f"resumed as {nwk:#06x}" in note["log"]
        assert any("restored its memory" in line for line in note["log"])
        assert han(env, "stop", "--all").returncode == 0

    on_an_air(body)


def test_bad_options_are_refused_clearly(env: dict[str, str]) -> None:
    bad = han(env, "start", "--kind", "esme", "--port", "socket://127.0.0.1:1", "--install-code", "12")
    assert bad.returncode == 1 and "--install-code is 32 hex digits" in bad.stderr
    neither = han(env, "start", "--kind", "esme")
    assert neither.returncode == 2 and "--air" in neither.stderr
    assert "install code" in han(env, "start", "--help").stdout
    assert han(env, "utrn", "--value", "0", "--counter", "1").returncode == 1


def test_top_up_entered_on_a_running_ppmid_reaches_the_meter(env: dict[str, str]) -> None:
    import asyncio

    meter_eui, meter_code = "000D6F000ABCDE22", "83FED3407A939723A5C639B26916D506"

    async def body(hub: HubStandIn, port: int) -> None:
        for kind, eui, code in (("esme", meter_eui, meter_code), ("ppmid", EUI, CODE)):
            await hub.admit(eui, bytes.fromhex(code))
            assert han(env, "start", "--kind", kind, "--air", f"127.0.0.1:{port}", "--eui64", eui,
                       "--install-code", code, "--ext-pan-id", HUB, "--name", kind).returncode == 0

        def notes() -> dict[str, dict[str, object]]:
            return {n["name"]: n for n in json.loads(han(env, "list", "--json").stdout)}

        await until(lambda: all(n["state"] == "joined" for n in notes().values()) and len(notes()) == 2,
                    timeout=30)
        hub.prepay_meter = int(str(notes()["esme"]["nwk"]), 16)  # the stand-in's passage to the meter
        credit = int(notes()["esme"]["credit_p"])  # type: ignore[call-overload]
        utrn = han(env, "utrn", "--value", "500", "--counter", "41").stdout.strip()
        ok = await asyncio.to_thread(han, env, "top-up", "ppmid", utrn)
        assert ok.returncode == 0 and "ppmid: Accepted 5.00; display credit" in ok.stdout, ok
        await until(lambda: int(notes()["esme"]["credit_p"]) > credit, timeout=10)  # type: ignore
        assert int(notes()["esme"]["credit_p"]) <= credit + 500  # type: ignore[call-overload]
        again = await asyncio.to_thread(han, env, "top-up", "ppmid", utrn)
        assert again.returncode == 1 and "Rejected_Duplicate 0.00" in again.stdout
        assert "last top-up Rejected_Duplicate" in han(env, "list").stdout
        meter = await asyncio.to_thread(han, env, "top-up", "esme", utrn)
        assert meter.returncode == 1 and "not a PPMID" in meter.stderr
        assert han(env, "stop", "--all").returncode == 0
        gone = await asyncio.to_thread(han, env, "emergency-credit", "ppmid")
        assert gone.returncode == 1 and "not running: ppmid" in gone.stderr

    on_an_air(body)
