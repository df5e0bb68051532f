"""APS messages between the hub and its devices on the control plane: han.rx events and han.send."""

import os
import time

import pytest

from commshub.protocol.errors import HubError

from test_radio_ncp import joined_device

pytestmark = pytest.mark.han  # skipped where the board runs without its HAN


def test_message_from_a_device_shows_as_han_rx_event(hub, han_devices):
    dev = joined_device(hub, han_devices)
    # An Electrical Measurement report (RMSVoltage): a cluster no server on the hub takes.
    report = bytes.fromhex("1807 0a 0505 21") + os.urandom(2)
    t0 = time.monotonic()
    assert dev.send(report, cluster=0x0B04) == 0
    ev = hub.serial.wait_event("han.rx", 10, since=t0, where=lambda e: e.body["eui64"] == dev.eui64).body
    assert (ev["cluster"], ev["profile"], bytes.fromhex(ev["payload"])) == (0x0B04, 0x0109, report)


@pytest.mark.links
def test_han_send_reaches_the_device_and_reports_delivery(hub, han_devices, link):
    dev = joined_device(hub, han_devices)
    payload = os.urandom(20)
    t0 = time.monotonic()
    r = link.request("han.send", {"eui64": dev.eui64, "cluster": 0x0704, "payload": payload.hex()}).result
    msg = dev.receive(cluster=0x0704)
    assert (msg.payload, msg.profile, msg.sender) == (payload, 0x0109, 0x0000)
    sent = link.wait_event("han.sent", 10, since=t0, where=lambda e: e.body["tag"] == r["tag"]).body
    assert sent["status"] == 0 and sent["eui64"] == dev.eui64


@pytest.mark.parametrize("args, code", [
    ({"eui64": "0600000000000099", "cluster": 6, "payload": "00"}, "not_found"),
    ({"eui64": "0600000000000099", "cluster": 70000, "payload": "00"}, "bad_args"),
    ({"eui64": "0600000000000099", "cluster": 6, "payload": "0g"}, "bad_args"),
    ({"eui64": "0600000000000099", "cluster": 6, "payload": "00" * 83}, "bad_args"),
    ({"cluster": 6, "payload": "00"}, "bad_args"),
])
def test_han_send_refuses_bad_input(hub, args, code):
    with pytest.raises(HubError) as e:
        hub.request("han.send", args)
    assert e.value.code == code
