"""Hostile input on both links: an error reply or a silent drop, never a crash, never lost state."""

import json
import os
import random
import struct
import time
import zlib

import pytest

from commshub.protocol import frame as fr
from commshub.protocol.errors import HubError


@pytest.fixture
def snapshot(hub):
    """State before the test; after it, the hub must answer and hold the same state."""
    hub.request("config.set", {"key": "label", "value": "malformed-suite"})
    before = hub.request("config.get").result["config"]
    boots = hub.request("status").result["boot_count"]
    yield
    assert hub.request("ping", timeout=5).result["pong"] is True
    assert hub.request("config.get").result["config"] == before
    assert hub.request("status").result["boot_count"] == boots, "the hub restarted"


def _frame_with(seq, payload, kind=fr.REQUEST):
    return fr.encode_raw(kind, seq, payload)


# -- serial -------------------------------------------------------------------
def test_random_bytes_on_serial_are_skipped(hub, snapshot):
    rng = random.Random(1)
    for _ in range(200):
        hub.serial.write_raw(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300))))
    time.sleep(0.3)  # let any half-frame the garbage started time out


def test_random_bytes_with_sync_markers_are_skipped(hub, snapshot):
    rng = random.Random(2)
    for _ in range(200):
        junk = bytearray(rng.getrandbits(8) for _ in range(rng.randint(1, 200)))
        junk[rng.randrange(len(junk)) : rng.randrange(len(junk)) + 1] = fr.SYNC
        hub.serial.write_raw(bytes(junk))
    time.sleep(0.3)


def test_truncated_frame_is_dropped_after_the_line_goes_quiet(hub, snapshot):
    whole = fr.encode(fr.REQUEST, 4242, "config.set", {"key": "label", "value": "truncated"})
    hub.serial.write_raw(whole[: len(whole) // 2])
    time.sleep(0.4)
    assert hub.request("config.get", {"key": "label"}).result["value"] == "malformed-suite"


def test_bad_crc_gets_an_error_naming_the_frame(hub, snapshot):
    raw = bytearray(fr.encode(fr.REQUEST, 777, "config.set", {"key": "label", "value": "corrupt"}))
    raw[-6] ^= 0x40  # a payload byte: the header stays valid
    with pytest.raises(HubError) as e:
        hub.serial.request_frame(bytes(raw), 777)
    assert e.value.code == "bad_crc"


def test_bad_header_crc_is_dropped_silently(hub, snapshot):
    raw = bytearray(fr.encode(fr.REQUEST, 778, "ping"))
    raw[5] ^= 0x01  # length field: header check fails
    hub.serial.write_raw(bytes(raw))
    time.sleep(0.3)


def test_oversize_frame_is_refused_and_skipped(hub, snapshot):
    seq, length = 779, fr.MAX_PAYLOAD + 904
    hdr = struct.pack("<BHH", fr.REQUEST, seq, length)
    hdr += struct.pack("<H", zlib.crc32(hdr) & 0xFFFF)
    body = os.urandom(length + 4)
    with pytest.raises(HubError) as e:
        hub.serial.request_frame(fr.SYNC + hdr + body, seq, timeout=10)
    assert e.value.code == "too_large"


def test_payload_that_does_not_parse_is_refused(hub, snapshot):
    with pytest.raises(HubError) as e:
        hub.serial.request_frame(_frame_with(780, b"\x30ping"), 780)
    assert e.value.code == "bad_frame"


def test_invalid_json_in_a_frame_is_refused(hub, snapshot):
    payload = bytes([10]) + b"config.set" + struct.pack("<H", 9) + b"{not json"
    with pytest.raises(HubError) as e:
        hub.serial.request_frame(_frame_with(781, payload), 781)
    assert e.value.code == "bad_json"


def test_json_args_that_are_not_an_object_are_refused(hub, snapshot):
    payload = fr.encode_payload("config.set", [1, 2, 3])
    with pytest.raises(HubError) as e:
        hub.serial.request_frame(_frame_with(782, payload), 782)
    assert e.value.code == "bad_args"


def test_frames_of_the_wrong_kind_are_not_executed(hub, snapshot):
    hub.serial.write_raw(fr.encode(fr.RESPONSE, 783, "config.set", {"key": "label", "value": "wrong kind"}))
    hub.serial.write_raw(fr.encode(fr.EVENT, 784, "reboot", {}))
    time.sleep(0.3)


def test_unknown_command_is_refused(hub, via, snapshot):
    with pytest.raises(HubError) as e:
        hub.request("format.flash", via=via)
    assert e.value.code == "unknown_command"
    assert "format.flash" in e.value.message


# -- MQTT ---------------------------------------------------------------------
def _wait_error_response(mqtt_link, predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = mqtt_link.last_response
        if doc is not None and predicate(doc):
            return doc
        time.sleep(0.02)
    raise AssertionError(f"no matching error response; last was {mqtt_link.last_response}")


def test_invalid_json_on_mqtt_gets_bad_json(hub, mqtt_link, snapshot):
    mqtt_link.last_response = None
    mqtt_link.publish("cmd", b"{\"id\": \"x1\", \"cmd\": ")
    doc = _wait_error_response(mqtt_link, lambda d: not d["ok"])
    assert doc["error"]["code"] == "bad_json"


@pytest.mark.parametrize("doc", [{"id": "x2"}, {"id": "x3", "cmd": 5}, {"id": "x4", "cmd": "ping", "args": [1]}, [1, 2], "just a string"])
def test_mqtt_commands_of_the_wrong_shape_are_refused(hub, mqtt_link, snapshot, doc):
    mqtt_link.last_response = None
    mqtt_link.publish("cmd", json.dumps(doc))
    resp = _wait_error_response(mqtt_link, lambda d: not d["ok"])
    assert resp["error"]["code"] in ("bad_request", "bad_args")


def test_random_binary_on_mqtt_topics_never_hurts(hub, mqtt_link, snapshot):
    rng = random.Random(3)
    for i in range(200):
        junk = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 400)))
        mqtt_link.publish("cmd/bin" if i % 2 else "cmd", junk)
    # Commands are handled in order: this answer comes after every answer to the junk, so no
    # late error reply is left to be taken for the next test's.
    assert hub.request("ping", via="mqtt", timeout=30).result["pong"] is True


def test_binary_envelope_with_bad_payload_is_refused(hub, mqtt_link, snapshot):
    mqtt_link.last_response = None
    mqtt_link.publish("cmd/bin", bytes([3]) + b"b01" + b"\x40garbage")
    resp = _wait_error_response(mqtt_link, lambda d: not d["ok"] and d["id"] == "b01")
    assert resp["id"] == "b01"
    assert resp["error"]["code"] == "bad_frame"


def test_oversize_mqtt_message_is_refused_without_dropping_the_session(hub, mqtt_link, snapshot):
    before = hub.request("status").result["links"]["mqtt"]["reconnects"]
    mqtt_link.last_response = None
    mqtt_link.publish("cmd", json.dumps({"id": "huge", "cmd": "ping", "args": {"echo": "x" * 20000}}))
    resp = _wait_error_response(mqtt_link, lambda d: not d["ok"] and d["id"] is None)
    assert resp["error"]["code"] == "too_large"
    assert hub.request("ping", via="mqtt").result["pong"] is True
    assert hub.request("status").result["links"]["mqtt"]["reconnects"] == before


def test_truncated_json_never_runs_as_a_partial_command(hub, via, snapshot):
    # MicroPython's json.loads would read this as {"id":..,"cmd":"config.set","args":{"key":"label"}}.
    whole = json.dumps({"id": "t1", "cmd": "config.set", "args": {"key": "label", "value": "partial!"}})
    cut = whole[: whole.index('"value"')]
    if via == "mqtt":
        hub.mqtt.last_response = None
        hub.mqtt.publish("cmd", cut)
        assert _wait_error_response(hub.mqtt, lambda d: not d["ok"])["error"]["code"] == "bad_json"
    else:
        args = '{"key":"label","value":"partial'
        payload = bytes([10]) + b"config.set" + struct.pack("<H", len(args)) + args.encode()
        with pytest.raises(HubError) as e:
            hub.serial.request_frame(_frame_with(790, payload), 790)
        assert e.value.code == "bad_json"
