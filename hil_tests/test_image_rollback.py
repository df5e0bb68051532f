"""Automatic rollback: an image that crashes, never confirms or boot-loops ends on the previous version."""

import time

import pytest

from commshub.images import push

from image_helpers import bump, image_for, running_version, wait_alert, wait_version

CONFIRM_S = 3  # how long a new image gets to prove itself in these tests


@pytest.mark.parametrize("fault", ["crash_at_start", "never_confirm", "boot_loop"])
def test_a_failing_image_rolls_back_with_an_alert(hub, fault):
    old = running_version(hub)
    res = push.push(hub.serial, image_for(hub, test_fault=fault))
    since = time.monotonic()
    out = hub.request("image.activate", {"hash": res.mi_hash, "confirm_s": CONFIRM_S}).result
    assert out["outcome"] == 0
    # Up to 3 attempts, each ended by a crash, a self-reset or the confirmation deadline.
    st = wait_version(hub, old, timeout=4 * (CONFIRM_S + 5))
    assert st["running"]["version"] == old
    ev = hub.serial.wait_event("image.rolled_back", timeout=30, since=since).body
    assert ev.get("reason")
    assert wait_alert(hub.serial, 0x8F43, since)
    # It stays on the old version: nothing is pending any more.
    hub.power_cycle()
    assert running_version(hub) == old
    slots = push.status(hub.serial)["slots"]
    assert not any(s.get("state") == "pending" for s in slots.values())


def test_a_good_image_confirms_within_its_deadline(hub):
    old = running_version(hub)
    res = push.push(hub.serial, image_for(hub))
    hub.request("image.activate", {"hash": res.mi_hash, "confirm_s": CONFIRM_S})
    wait_version(hub, bump(old))
    time.sleep(CONFIRM_S + 2)  # past the deadline: still there, so it confirmed
    assert running_version(hub) == bump(old)
