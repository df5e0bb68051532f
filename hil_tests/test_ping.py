"""Ping, over both links, and MQTT's duplicate suppression."""

import os
import time


def test_ping_answers_with_the_echo(link):
    r = link.request("ping", {"echo": {"n": 7, "s": "é"}})
    assert r.result == {"pong": True, "echo": {"n": 7, "s": "é"}}


def test_ping_echoes_raw_binary_data(link):
    data = os.urandom(1500) + bytes(range(256))
    r = link.request("ping", data=data)
    assert r.data == data


def test_back_to_back_requests_are_matched_to_their_answers(link):
    for i in range(50):
        assert link.request("ping", {"echo": i}).result["echo"] == i


def test_redelivered_mqtt_command_is_answered_again_but_executed_once(hub, mqtt_link):
    rid = mqtt_link.new_id()
    value = f"dup-{rid}"
    since = time.monotonic()
    first = mqtt_link.request("config.set", {"key": "label", "value": value}, req_id=rid)
    second = mqtt_link.request("config.set", {"key": "label", "value": value}, req_id=rid)
    assert second.result == first.result
    time.sleep(0.5)
    changed = [e for e in hub.serial.events("config.changed") if e.received >= since]
    assert len(changed) == 1, f"executed {len(changed)} times"
