"""Clock: set/get, persistence, ISO parsing and formatting."""

from hub.errors import HubError
from hub.events import Bus
from hub.services import clock as clockmod
from hub.codecs import iso8601
from hub.services.store import Store
from util import fresh_fs, raises


def test_iso_format_known_points():
    assert iso8601.iso(0) == "1970-01-01T00:00:00Z"
    assert iso8601.iso(946684800) == "2000-01-01T00:00:00Z"
    assert iso8601.iso(951782400) == "2000-02-29T00:00:00Z"
    assert iso8601.iso(1700000000) == "2023-11-14T22:13:20Z"
    assert iso8601.iso(4102444799) == "2099-12-31T23:59:59Z"


def test_iso_parse_round_trip():
    for t in (946684800, 951782400, 1234567890, 1700000000, 4102444799, 4107542399 - 86400 * 60):
        if t <= 4102444799:  # 2099-12-31T23:59:59Z, the last time the hub takes
            assert iso8601.parse_iso(iso8601.iso(t)) == t, t


def test_iso_parse_rejects():
    for s in ("1999-12-31T23:59:59Z", "2100-01-01T00:00:00Z", "2023-02-29T00:00:00Z",
              "2023-13-01T00:00:00Z", "2023-01-01T24:00:00Z", "2023-01-01 00:00:00Z",
              "2023-01-01T00:00:00", "2023-1-01T00:00:00Z", 12, "２023-01-01T00:00:00Z"):
        raises(ValueError, iso8601.parse_iso, s)


def test_set_get_persisted_and_event():
    root = fresh_fs()
    rtc = [1000000000]
    bus = Bus()
    events = []
    bus.subscribe(lambda n, s, b: events.append((n, b)))
    c = clockmod.Clock(Store(root), rtc=lambda: rtc[0], bus=bus)
    assert c.get() == {"utc": 1000000000, "iso": "2001-09-09T01:46:40Z", "set": False}
    prev = c.set(1700000000)
    assert prev == 1000000000
    assert events == [("time.set", {"utc": 1700000000, "previous_utc": 1000000000})]
    rtc[0] += 5
    assert c.utc() == 1700000005
    # After a reboot the offset still applies.
    c2 = clockmod.Clock(Store(root), rtc=lambda: rtc[0])
    assert c2.get() == {"utc": 1700000005, "iso": "2023-11-14T22:13:25Z", "set": True}


def test_set_rejects_bad_values():
    c = clockmod.Clock(rtc=lambda: 1000000000)
    for v in (True, 1.5, "1700000000", 946684799, 4102444800, None):
        e = raises(HubError, c.set, v)
        assert e.code == "bad_args"
    assert c.get()["set"] is False and c.utc() == 1000000000


def test_uptime_monotonic():
    import time

    c = clockmod.Clock()
    a = c.uptime_ms()
    time.sleep_ms(5)
    b = c.uptime_ms()
    assert b >= a + 4
