"""Hub firmware update: download over each link, verify, activate now or later, report."""

import time

import pytest

from commshub.images import push

from image_helpers import alerts, bump, image_for, mi_hash, running_version, wait_alert, wait_version


def test_update_over_each_link_reports_the_new_version_after_reboot(hub, via):
    old = running_version(hub)
    new = bump(old)
    image = image_for(hub, version=new)
    since = time.monotonic()
    res = push.push(hub.link(via), image)
    assert res.result.get("done") is True
    assert res.mi_hash == mi_hash(image)
    ok = wait_alert(hub.serial, 0x8F72, since)
    assert ok["hash"] == res.mi_hash
    st = push.status(hub.serial)
    staged = [s for s in st["slots"].values() if s.get("hash") == res.mi_hash]
    assert staged and staged[0]["state"] == "staged" and staged[0]["version"] == new
    assert st["running"]["version"] == old  # nothing runs before activation

    out = push.activate(hub.link(via), res.mi_hash)
    assert out["outcome"] == 0 and out["outcome_name"] == "success"
    assert out["running_version"] == old
    st = wait_version(hub, new)
    assert st["running"]["hash"] == res.mi_hash
    assert hub.request("info").result["fw_version"] == new
    changed = wait_alert(hub.serial, 0x8F43, since)
    assert changed.get("old_version", old) == old and changed.get("new_version", new) == new
    # It stays on the new version across a power cycle: it confirmed itself.
    hub.power_cycle()
    assert running_version(hub) == new


def test_future_dated_activation_survives_a_reboot_and_fires_on_time(hub):
    t0 = 2_000_000_000
    hub.request("time.set", {"utc": t0})
    old = running_version(hub)
    image = image_for(hub)
    h = push.push(hub.serial, image).mi_hash
    out = push.activate(hub.serial, h, at=t0 + 3600)
    assert out["outcome"] == 0
    assert push.status(hub.serial)["scheduled"]["hash"] == h
    hub.reboot()
    st = push.status(hub.serial)
    assert st["scheduled"]["hash"] == h and st["scheduled"]["at"] == t0 + 3600
    hub.request("time.set", {"utc": t0 + 3590})
    time.sleep(1.5)
    assert running_version(hub) == old, "fired before its time"
    hub.request("time.set", {"utc": t0 + 3601})
    new = wait_version(hub, gbcs_version(image))
    assert new["scheduled"] is None
    # Fires once: another reboot does not activate anything again.
    hub.reboot()
    assert push.status(hub.serial)["scheduled"] is None


def test_future_dated_activation_can_be_cancelled(hub, via):
    t0 = 2_100_000_000
    hub.request("time.set", {"utc": t0})
    old = running_version(hub)
    h = push.push(hub.link(via), image_for(hub)).mi_hash
    push.activate(hub.link(via), h, at=t0 + 60)
    assert push.cancel(hub.link(via))["cancelled"] == h
    assert push.status(hub.serial)["scheduled"] is None
    hub.request("time.set", {"utc": t0 + 120})
    time.sleep(1.5)
    assert running_version(hub) == old


def test_activation_of_an_unknown_hash_says_no_image_held_or_mismatch(hub, via):
    old = running_version(hub)
    out = push.activate(hub.link(via), "ab" * 32)
    assert out["outcome"] in (1, 2) and out["running_version"] == old
    time.sleep(0.5)
    assert running_version(hub) == old


def test_commanded_rollback_returns_to_the_previous_version(hub):
    old = running_version(hub)
    h = push.push(hub.serial, image_for(hub)).mi_hash
    push.activate(hub.serial, h)
    wait_version(hub, bump(old))
    since = time.monotonic()
    push.rollback(hub.serial)
    wait_version(hub, old)
    assert wait_alert(hub.serial, 0x8F43, since)


def gbcs_version(image: bytes) -> str:
    from commshub.images import gbcs

    return gbcs.parse_image(image).version_text


def test_mqtt_download_completes_across_a_broker_restart(hub, embedded_broker):
    image = image_for(hub)
    restarted = []

    def progress(offset, size):
        if not restarted and offset >= size // 2:
            restarted.append(offset)
            embedded_broker.restart()  # mid-download: the hub and the head-end both lose the broker

    res = push.push(hub.mqtt, image, progress=progress, timeout=2.0, max_resyncs=30)
    assert restarted, "the download finished before the broker could be restarted"
    assert res.result.get("state") == "staged" and res.mi_hash == mi_hash(image)
    # It resumed where the hub's progress ended, not from zero: the hub kept running, so what was sent
    # twice is at most the blocks in flight when the broker went (push's window over MQTT).
    assert res.bytes_sent <= res.size + push.MQTT_WINDOW * res.block_size, res.bytes_sent
    hub.mqtt.status = None
    hub.wait_online(timeout=40)
