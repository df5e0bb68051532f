"""Boot, identity and status."""

import re

from commshub.links.mqtt_link import MqttLink


def test_info_describes_this_board_and_hub(hub):
    info = hub.request("info").result
    assert info["board"] == hub.board.name
    assert re.fullmatch(r"[0-9A-F]{16}", info["hub_id"])
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", info["fw_version"])
    assert info["heap_used"] > 0 and info["heap_free"] > 0
    assert info["heap_used"] <= hub.board.heap_bytes, "the firmware does not fit the board's heap budget"
    assert info["heap_peak"] >= info["heap_used"] or info["heap_peak"] > 0


def test_status_is_ready_with_links_described(hub):
    st = hub.request("status").result
    assert st["state"] == "ready"
    assert st["boot_count"] >= 1
    assert "serial" in st["links"] and "mqtt" in st["links"]
    assert st["links"]["mqtt"]["state"] == "connected"


def test_power_on_reports_boot_with_cause_and_count(hub):
    before = hub.request("status").result["boot_count"]
    hub.power_cycle()
    boot = hub.serial.wait_event("boot", timeout=10).body
    assert boot["reset_cause"] == "power_on"
    assert boot["boot_count"] == before + 1
    st = hub.request("status").result
    assert st["boot_count"] == before + 1 and st["reset_cause"] == "power_on"
    assert st["uptime_ms"] < 30_000


def test_retained_status_greets_a_new_head_end(hub, broker_url):
    with MqttLink(broker_url, hub.hub_id) as late:
        st = late.wait_status(lambda s: s.get("state") == "online", timeout=5)
    assert st["hub_id"] == hub.hub_id
    assert st["board"] == hub.board.name
    assert st["fw_version"] == hub.request("info").result["fw_version"]
