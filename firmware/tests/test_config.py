"""Config: schema validation, all-or-nothing, persistence, events."""

from hub.errors import HubError
from hub.events import Bus
from hub.services.config import Config, parse_mqtt_url
from hub.services.store import Store
from util import fresh_fs, raises


def _cfg(root=None, defaults=None):
    bus = Bus()
    ev = []
    bus.subscribe(lambda n, s, b: ev.append((n, b)))
    return Config(Store(root or fresh_fs()), defaults, bus), ev


def test_defaults():
    c, _ = _cfg(defaults={"mqtt.url": "mqtt://127.0.0.1:1883"})
    assert c.get() == {"label": "", "notes": "", "mqtt.url": "mqtt://127.0.0.1:1883",
                       "mqtt.keepalive": 60, "status.interval_s": 30, "log.level": "info",
                       "han.channel": 15, "han.pan_id": 0}


def test_set_persist_and_event():
    root = fresh_fs()
    c, ev = _cfg(root)
    assert c.set({"label": "bench 3", "mqtt.keepalive": 30}) == ["label", "mqtt.keepalive"]
    assert ev == [("config.changed", {"keys": ["label", "mqtt.keepalive"]})]
    c2, _ = _cfg(root, {"mqtt.url": "mqtt://h:1"})
    assert c2["label"] == "bench 3" and c2["mqtt.keepalive"] == 30
    assert c2["mqtt.url"] == "mqtt://h:1"  # not overridden: provisioning default applies


def test_no_change_no_event():
    c, ev = _cfg()
    assert c.set({"label": ""}) == []
    assert ev == []


def _rejected(c, ev, values):
    before = c.get()
    e = raises(HubError, c.set, values)
    assert e.code == "bad_args", e.code
    assert c.get() == before and ev == []
    return e


def test_rejects_unknown_wrong_type_out_of_range():
    c, ev = _cfg()
    assert "unknown" in _rejected(c, ev, {"nope": 1}).message
    _rejected(c, ev, {"label": 5})
    _rejected(c, ev, {"label": "x" * 65})
    _rejected(c, ev, {"notes": "x" * 2049})
    _rejected(c, ev, {"mqtt.keepalive": 4})
    _rejected(c, ev, {"mqtt.keepalive": 3601})
    _rejected(c, ev, {"mqtt.keepalive": "60"})
    _rejected(c, ev, {"mqtt.keepalive": True})
    _rejected(c, ev, {"status.interval_s": 0})
    _rejected(c, ev, {"log.level": "trace"})
    _rejected(c, ev, {"mqtt.url": "http://x:1"})
    _rejected(c, ev, {"mqtt.url": "mqtt://x:99999"})
    _rejected(c, ev, {})
    _rejected(c, ev, [])


def test_all_or_nothing():
    root = fresh_fs()
    c, ev = _cfg(root)
    _rejected(c, ev, {"label": "ok", "mqtt.keepalive": 1})
    assert _cfg(root)[0]["label"] == ""


def test_get_unknown_key():
    c, _ = _cfg()
    assert raises(HubError, c.get, "nope").code == "bad_args"


def test_corrupt_stored_value_ignored():
    root = fresh_fs()
    s = Store(root)
    s.save("config", {"label": 7, "log.level": "warn", "zzz": 1})
    c = Config(s)
    assert c["label"] == "" and c["log.level"] == "warn"


def test_mqtt_url_parse():
    assert parse_mqtt_url("mqtt://127.0.0.1:1883") == ("127.0.0.1", 1883)
    assert parse_mqtt_url("mqtt://broker.local") == ("broker.local", 1883)
    for bad in ("mqtt://", "mqtt://:1", "mqtt://h:0", "mqtt://h:x", "tcp://h:1", "mqtt://a b:1", None):
        raises(ValueError, parse_mqtt_url, bad)
