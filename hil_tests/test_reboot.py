"""Commanded reboots and what survives them."""


def test_reboot_restarts_the_hub_and_counts_it(hub, via):
    before = hub.request("status").result
    hub.reboot(via=via)
    after = hub.request("status").result
    assert after["boot_count"] == before["boot_count"] + 1
    assert after["reset_cause"] == "reboot"
    assert after["uptime_ms"] < before["uptime_ms"] + 30_000


def test_mqtt_status_goes_offline_on_power_cut_and_online_again(hub):
    keepalive = hub.request("config.get", {"key": "mqtt.keepalive"}).result["value"]
    hub.power_cut()
    # The broker publishes the last will when the TCP connection drops (emulator)
    # or after 1.5 keepalives of silence (a real board held in reset).
    hub.mqtt.wait_status(lambda s: s.get("state") == "offline", timeout=1.5 * keepalive + 5)
    hub.power_on()
    hub.wait_online()


def test_reboot_rejects_a_silly_delay(hub, via):
    import pytest
    from commshub.protocol.errors import HubError

    with pytest.raises(HubError) as e:
        hub.request("reboot", {"delay_ms": -5}, via=via)
    assert e.value.code == "bad_args"
    hub.request("ping")  # still up: nothing happened
