"""Dispatcher, command handlers and the duplicate-suppression cache."""

from hub.control import commands
from hub.control.dedupe import Dedupe
from hub.control.registry import Registry
from hub.errors import HubError
from hub.events import Bus
from hub.services.clock import Clock
from hub.services.config import Config
from hub.services.logbuf import Log
from hub.services.store import Store
from hub.services.system import System
from util import fresh_fs, raises


class FakeHal:
    board = {"name": "testboard"}

    def reset_hint(self):
        return None

    def reset(self):
        raise SystemExit(3)


def _hub():
    root = fresh_fs()
    store = Store(root)
    bus = Bus()
    ev = []
    bus.subscribe(lambda n, s, b: ev.append((n, b)))
    log = Log(echo=False)
    clock = Clock(store, rtc=lambda: 1700000000, bus=bus)
    config = Config(store, None, bus)
    system = System(FakeHal(), store, clock, log, bus, "0011223344556677")
    reg = Registry(log, system.sample_heap)
    commands.install(reg, system, clock, config, log)
    return reg, ev, system, log


def _err(reg, name, args=None, data=None):
    e = raises(HubError, reg.dispatch, name, args, data)
    return e.code


def test_unknown_command_and_bad_args():
    reg, _, _, _ = _hub()
    assert _err(reg, "nope") == "unknown_command"
    assert _err(reg, "ping", [1]) == "bad_args"
    assert _err(reg, "ping", {"bogus": 1}) == "bad_args"
    assert _err(reg, "log.tail", {"n": 0}) == "bad_args"
    assert _err(reg, "log.tail", {"n": 201}) == "bad_args"
    assert _err(reg, "reboot", {"delay_ms": 10001}) == "bad_args"
    assert _err(reg, "time.set", {}) == "bad_args"
    assert _err(reg, "time.set", {"utc": 1700000000, "iso": "2023-01-01T00:00:00Z"}) == "bad_args"
    assert _err(reg, "time.set", {"iso": "2023-02-30T00:00:00Z"}) == "bad_args"
    assert _err(reg, "config.set", {"key": "label"}) == "bad_args"
    assert _err(reg, "config.get", {"key": "nope"}) == "bad_args"


def test_args_as_json_text_are_parsed_where_the_command_runs():
    # As the links hand them over (a frame's or a binary envelope's JSON): one parser, one answer.
    reg, _, _, _ = _hub()
    assert reg.dispatch("ping", b'{"echo":[1,"x"]}') == ({"pong": True, "echo": [1, "x"]}, None)
    assert reg.dispatch("ping", memoryview(b"xx{}")[2:]) == ({"pong": True}, None)
    assert reg.dispatch("ping", b"") == ({"pong": True}, None)  # empty means {}
    assert _err(reg, "ping", b'{"echo":') == "bad_json"
    assert _err(reg, "ping", b"\xff\xfe") == "bad_json"
    assert _err(reg, "ping", b"[1]") == "bad_args"
    assert _err(reg, "ping", b'{"bogus":1}') == "bad_args"
    # answer() returns the error instead of raising it (the links' hot path catches nothing).
    e = reg.answer("ping", b"{bad")
    assert isinstance(e, HubError) and e.code == "bad_json"


def test_ping_echo_and_data():
    reg, _, _, _ = _hub()
    assert reg.dispatch("ping") == ({"pong": True}, None)
    r, d = reg.dispatch("ping", {"echo": [1, "x"]}, b"\x00\x01")
    assert r == {"pong": True, "echo": [1, "x"]} and d == b"\x00\x01"


def test_handler_exception_is_internal():
    reg, _, _, log = _hub()

    def boom(args, data):
        raise KeyError("x")

    reg.register("boom", boom)
    assert _err(reg, "boom") == "internal"
    assert any("KeyError" in l for l in log.tail(20))


def test_info_status_heap_peak():
    reg, _, system, _ = _hub()
    info, _ = reg.dispatch("info")
    for k in ("board", "hub_id", "fw_version", "micropython", "platform", "uptime_ms",
              "heap_free", "heap_used", "heap_peak", "heap_total"):
        assert k in info, k
    assert info["board"] == "testboard" and info["heap_peak"] >= info["heap_used"] > 0
    system.links["serial"] = lambda: {"rx_frames": 3}
    st, _ = reg.dispatch("status")
    assert st["boot_count"] == 1 and st["reset_cause"] == "power_on"
    assert st["links"] == {"serial": {"rx_frames": 3}} and st["time_set"] is False


def test_time_and_config_commands():
    reg, ev, _, _ = _hub()
    r, _ = reg.dispatch("time.set", {"iso": "2024-02-29T12:00:00Z"})
    assert r == {"utc": 1709208000, "iso": "2024-02-29T12:00:00Z", "set": True}
    assert ev[-1] == ("time.set", {"utc": 1709208000, "previous_utc": 1700000000})
    r, _ = reg.dispatch("config.set", {"key": "label", "value": "L"})
    assert r["config"]["label"] == "L"
    assert reg.dispatch("config.get", {"key": "label"})[0] == {"key": "label", "value": "L"}
    assert _err(reg, "config.set", {"values": {"label": "ok", "log.level": "loud"}}) == "bad_args"
    assert reg.dispatch("config.get", {"key": "label"})[0]["value"] == "L"


def test_log_tail_command():
    reg, _, _, log = _hub()
    for i in range(50):
        log.info("n%d" % i)
    lines = reg.dispatch("log.tail", {"n": 3})[0]["lines"]
    assert [l.rsplit(" ", 1)[1] for l in lines] == ["n47", "n48", "n49"]


def test_dedupe_keeps_last_32():
    d = Dedupe()
    for i in range(40):
        d.put("id%d" % i, b"r%d" % i)
    assert "id7" not in d and "id8" in d and d.get("id39") == b"r39"
    d.put("id39", b"other")
    assert d.get("id39") == b"r39"


def test_dedupe_allocates_nothing_once_made():
    # Its tables are grown when it is made: a download's quiet blocks, each put here, never
    # need a new block of heap (which a fragmented 100 KiB heap may not have).
    import gc

    d = Dedupe()
    ids = ["h1234-%d" % i for i in range(300)]
    answers = [b"a%d" % i for i in range(300)]
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        for i in range(300):
            d.put(ids[i], () if i % 8 else answers[i], 0 if i % 8 else None)
        grown = gc.mem_alloc() - before
    finally:
        gc.enable()
    assert grown == 0, grown
    assert ids[267] not in d and ids[268] in d and d.get(ids[296]) == answers[296] and d.get(ids[297]) == ()


def test_dedupe_budget_drops_bodies_not_ids():
    d = Dedupe(size=32, budget=100)
    d.put("a", b"x" * 60)
    d.put("b", b"y" * 60)
    assert "a" in d and d.get("a") is None and d.get("b") == b"y" * 60
    d.put("big", b"z" * 500)
    assert "big" in d and d.get("big") is None
    assert d.bytes <= 100
