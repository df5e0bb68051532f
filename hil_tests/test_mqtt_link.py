"""The MQTT WAN link: it comes back by itself after the broker goes away."""

import time


def test_hub_reconnects_after_a_broker_restart_and_serves_again(hub, embedded_broker):
    before = hub.request("status").result["links"]["mqtt"]["reconnects"]
    embedded_broker.restart()
    hub.mqtt.status = None  # the new broker holds no retained status until the hub republishes it
    t0 = time.monotonic()
    hub.wait_online(timeout=40)
    took = time.monotonic() - t0
    assert hub.request("ping", {"echo": "back"}, via="mqtt").result["echo"] == "back"
    st = hub.request("status").result["links"]["mqtt"]
    assert st["state"] == "connected" and st["reconnects"] == before + 1
    print(f"\nback online {took:.2f} s after the broker restarted")


def test_serial_keeps_answering_while_the_broker_is_down(hub, embedded_broker):
    embedded_broker.stop()
    try:
        time.sleep(0.5)
        for _ in range(20):
            assert hub.request("ping", timeout=2).result["pong"] is True
        assert hub.request("status").result["links"]["mqtt"]["state"] != "connected"
    finally:
        embedded_broker.start()
    hub.mqtt.status = None
    hub.wait_online(timeout=40)
