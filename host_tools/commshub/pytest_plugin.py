"""pytest plugin: one HIL suite, any target.

    pytest hil_tests                                   # emulated board, embedded broker
    pytest hil_tests --target emulator:esp32-devkitc   # emulated, configured as an ESP32
    pytest hil_tests --target serial:/dev/ttyUSB0 --board esp32-devkitc --broker mqtt://10.0.0.2:1883

Fixtures: `broker_url`, `hub` (a started commshub.hub.Hub), `serial_link`,
`mqtt_link`, and `link` (parametrise a test over both with `@pytest.mark.links`).
Radio: `air` (the emulated hub's AirThread), `hub_ncp` (its virtual NCP: fault
knobs, resets), `han_devices` (a factory of HAN devices that can join the hub:
virtual NCPs on the air, or real dongles given with `--device-port`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from . import paths
from .broker import EmbeddedBroker
from .hub import Hub
from .protocol.errors import HubError
from .mpytest import pytest_collect_file, pytest_pycollect_makemodule  # noqa: F401  (firmware tests run on MicroPython)
from .targets import from_spec


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("commshub", "Comms Hub hardware-in-the-loop")
    g.addoption("--target", default="emulator", help="emulator[:BOARD] (default emulator) or serial:PORT for a real board")
    g.addoption("--board", default=None, help="board description in boards/ (needed with serial:PORT)")
    g.addoption("--broker", default=None, help="mqtt://host:port of an external broker (default: start the embedded amqtt)")
    g.addoption("--hub-timeout", type=float, default=5.0, help="seconds to wait for each answer")
    g.addoption("--radio", default=None,
                help="emulator only: the hub's radio is this real NCP (e.g. /dev/ttyUSB0) instead of a virtual one")
    g.addoption("--device-port", action="append", default=[],
                help="a real NCP to act as a HAN device in radio tests (repeat for more devices)")
    g.addoption("--capture-dir", default=str(paths.REPO / ".cache" / "captures"),
                help="emulator: write a capture of the virtual air per test here, TEST.jsonl and a readable "
                     "TEST.txt (default .cache/captures; 'none' for no captures)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "links: run the test once over serial and once over MQTT (fixture `link`)")
    config.addinivalue_line("markers", "emulator_only: needs something only the emulator has")
    config.addinivalue_line("markers", "han: needs the hub's HAN; skipped, saying why, on a board whose hub runs "
                                       "without it (its radio does not fit the heap)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--target").startswith("emulator"):
        return
    skip = pytest.mark.skip(reason="emulator only")
    for item in items:
        if "emulator_only" in item.keywords:
            item.add_marker(skip)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "via" in metafunc.fixturenames:
        metafunc.parametrize("via", ["serial", "mqtt"])


def pytest_report_header(config: pytest.Config) -> list[str]:
    broker = config.getoption("--broker") or "embedded amqtt"
    board = config.getoption("--board") or "-"
    return [f"commshub: target={config.getoption('--target')} board={board} broker={broker}"]


@pytest.fixture(scope="session")
def broker_url(request: pytest.FixtureRequest):
    url = request.config.getoption("--broker")
    if url:
        yield url
        return
    broker = EmbeddedBroker().start()
    request.config._commshub_broker = broker  # tests that restart the broker reach it here
    try:
        yield broker.url
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def embedded_broker(request: pytest.FixtureRequest, broker_url):
    """The embedded broker process, for tests that stop and restart it; skips on an external one."""
    broker = getattr(request.config, "_commshub_broker", None)
    if broker is None:
        pytest.skip("the broker is external (--broker): it cannot be restarted from here")
    return broker


@pytest.fixture(scope="session")
def _hub_session(request: pytest.FixtureRequest, broker_url):
    cfg = request.config
    # One instance per test process, so two runs on one machine never share a flash file.
    name = f"hil-{os.getpid()}"
    target = from_spec(cfg.getoption("--target"), cfg.getoption("--board"), broker_url, name=name,
                       radio=cfg.getoption("--radio"))
    hub = Hub(target, broker_url, timeout=cfg.getoption("--hub-timeout"))
    try:
        hub.start()
    except Exception:
        tail = "\n".join(target.console_tail(60))
        hub.stop()
        raise RuntimeError(f"the hub did not come up; console:\n{tail}")
    yield hub
    hub.stop()
    if target.kind == "emulator":
        from .emulator.board import remove_instance

        remove_instance(name)


@pytest.fixture
def hub(_hub_session: Hub, request: pytest.FixtureRequest) -> Hub:
    """The hub, answering on every link, with events of earlier tests cleared."""
    h = _hub_session
    try:
        h.request("ping", timeout=2)
    except Exception:
        # An earlier test left it down (a failed power test): bring it back.
        h.power_cycle()
    if h.mqtt is not None:
        h.wait_online()
        h.mqtt.clear_events()
    h.serial.clear_events()
    cap = _capture(h, request)
    try:
        yield h
    finally:
        if cap is not None:
            from .radio import capture

            capture.detach(cap[0], cap[1])
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        print("\n--- hub console (last lines) ---\n" + "\n".join(h.target.console_tail(40)))
        if cap is not None:
            print(f"--- the air during this test: {cap[2]}")


def _capture(h: Hub, request: pytest.FixtureRequest) -> tuple[Any, Any, Path] | None:
    """A capture of the emulated hub's air for this test (None: no virtual air, or --capture-dir none)."""
    where = request.config.getoption("--capture-dir")
    air = getattr(getattr(h.target, "emu", None), "air", None)
    if air is None or where == "none":
        return None
    from .radio import capture

    path = Path(where) / (re.sub(r"[^\w.-]+", "_", request.node.name) + ".jsonl")
    path.parent.mkdir(parents=True, exist_ok=True)
    return air, capture.attach(air, path, names={h.hub_id: "hub"}), path.with_suffix(".txt")


@pytest.fixture
def serial_link(hub: Hub):
    return hub.serial


@pytest.fixture
def mqtt_link(hub: Hub):
    if hub.mqtt is None:
        pytest.skip("no broker")
    return hub.mqtt


@pytest.fixture
def link(hub: Hub, via: str):
    """The link a `via`-parametrised test runs over."""
    return hub.link(via)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    rep = yield
    if rep.when == "call":
        item.rep_call = rep
    return rep


def han_off_reason(hub: Hub) -> str | None:
    """Why the hub runs without its HAN (its own log line), or None when the HAN is there."""
    try:
        hub.request("han.status", timeout=5)
        return None
    except HubError as e:
        if e.code != "unknown_command":
            raise
    try:
        lines = hub.request("log.tail", {"n": 200}, timeout=5).result["lines"]
    except HubError:
        lines = []
    said = [ln for ln in lines if "radio:" in ln]
    return (f"the hub on {hub.board.name} runs without its HAN: "
            f"{said[-1] if said else 'no radio (han.* commands unknown)'} (docs/RADIO.md, 'Heap')")


@pytest.fixture(autouse=True)
def _han_required(request: pytest.FixtureRequest) -> None:
    """Tests marked `han` need the hub's HAN: where the board's hub runs without it, they are
    skipped with the hub's own reason rather than failing on unknown han.* commands."""
    if request.node.get_closest_marker("han") is None:
        return
    reason = han_off_reason(request.getfixturevalue("hub"))
    if reason:
        pytest.skip(reason)


@pytest.fixture
def air(hub: Hub):
    """The AirThread the emulated hub's NCP is on; skips on a real board or a real radio."""
    emu = getattr(hub.target, "emu", None)
    if emu is None or emu.air is None:
        pytest.skip("the hub's radio is not on a virtual air")
    return emu.air


@pytest.fixture
def hub_ncp(hub: Hub, air):
    """The emulated hub's virtual NCP, with its UART fault knobs cleared after the test."""
    ncp = hub.target.emu.ncp
    yield ncp
    air.call(ncp.faults.set, drop=0.0, corrupt=0.0, nak=0.0, drop_rx=0.0,
             drop_next=0, corrupt_next=0, nak_next=0, drop_rx_next=0)


@pytest.fixture
def han_devices(hub: Hub, request: pytest.FixtureRequest):
    """Call it to get a HAN device (commshub.hil_radio.HanDevice) that can try to join the hub."""
    from .hil_radio import DeviceFactory

    emu = getattr(hub.target, "emu", None)
    factory = DeviceFactory(air=emu.air if emu is not None else None,
                            ports=request.config.getoption("--device-port"))
    yield factory
    for dev in factory.made:  # leave the shared hub's device log as the test found it
        try:
            hub.request("han.log.remove", {"eui64": dev.eui64}, timeout=5)
        except Exception:  # noqa: BLE001 - not in the log (never added, or removed by the test)
            pass
    factory.close()
