"""Configuration, clock and log: set over either link, persisted, validated."""

import time

import pytest

from commshub.protocol.errors import HubError


def test_config_set_round_trips_and_survives_a_reboot(hub, via):
    value = f"bench-7 {via} {time.time():.0f}"
    hub.request("config.set", {"key": "label", "value": value}, via=via)
    assert hub.request("config.get", {"key": "label"}, via=via).result["value"] == value
    hub.reboot()
    assert hub.request("config.get", {"key": "label"}).result["value"] == value


def test_config_set_is_all_or_nothing(hub, via):
    before = hub.request("config.get", via=via).result["config"]
    with pytest.raises(HubError) as e:
        hub.request("config.set", {"values": {"label": "half", "status.interval_s": 0}}, via=via)
    assert e.value.code == "bad_args"
    assert hub.request("config.get", via=via).result["config"] == before


@pytest.mark.parametrize(
    "args",
    [
        {"key": "no.such.key", "value": 1},
        {"key": "label", "value": 5},
        {"key": "label", "value": "x" * 65},
        {"key": "mqtt.keepalive", "value": 2},
        {"key": "log.level", "value": "loud"},
        {"key": "mqtt.url", "value": "http://example"},
        {"values": "not a dict"},
        {},
    ],
)
def test_config_rejects_bad_values_and_changes_nothing(hub, args):
    before = hub.request("config.get").result["config"]
    with pytest.raises(HubError) as e:
        hub.request("config.set", args)
    assert e.value.code == "bad_args"
    assert e.value.message
    assert hub.request("config.get").result["config"] == before


def test_clock_set_get_and_it_keeps_running_across_reboot(hub, via):
    target = 1_900_000_000  # 2030-03-17
    r = hub.request("time.set", {"utc": target}, via=via).result
    assert abs(r["utc"] - target) <= 1 and r["set"] is True
    assert hub.request("time.get", via=via).result["iso"].startswith("2030-03-17T")
    hub.reboot()
    now = hub.request("time.get").result
    assert now["set"] is True and 0 <= now["utc"] - target < 60


def test_clock_accepts_iso_and_refuses_nonsense(hub, via):
    r = hub.request("time.set", {"iso": "2031-01-02T03:04:05Z"}, via=via).result
    assert r["iso"] == "2031-01-02T03:04:05Z" or r["iso"].startswith("2031-01-02T03:04:0")
    before = hub.request("time.get").result["utc"]
    for bad in ({"iso": "yesterday"}, {"utc": "soon"}, {"utc": -1}, {"iso": "2031-13-40T99:00:00Z"}, {}):
        with pytest.raises(HubError) as e:
            hub.request("time.set", bad, via=via)
        assert e.value.code == "bad_args"
    assert abs(hub.request("time.get").result["utc"] - before) <= 2


def test_time_set_raises_an_event(hub):
    since = time.monotonic()
    hub.request("time.set", {"utc": 1_950_000_000})
    ev = hub.serial.wait_event("time.set", timeout=5, since=since)
    assert ev.body["utc"] == 1_950_000_000


def test_log_tail_tells_the_story_of_the_boot(hub, via):
    lines = hub.request("log.tail", {"n": 200}, via=via).result["lines"]
    assert lines and all(isinstance(x, str) for x in lines)
    assert any("ready" in x for x in lines)
    assert len(hub.request("log.tail", {"n": 3}, via=via).result["lines"]) == 3
    with pytest.raises(HubError):
        hub.request("log.tail", {"n": 0}, via=via)
