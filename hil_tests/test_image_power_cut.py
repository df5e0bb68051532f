"""Power cuts at random instants across download, verification and activation.

After every cut the hub boots a valid image; a download resumes; an activation
the hub acknowledged is never lost and never happens twice.
"""

import os
import random
import threading
import time

from commshub.images import gbcs, push

from image_helpers import image_for, mi_hash, running_version, wait_version

CUTS = {"emulator": 200, "serial": 30}


def _in_background(fn):
    box: dict = {}

    def run():
        try:
            box["result"] = fn()
        except Exception as e:  # the cut makes it fail: that is the point
            box["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, box


def _settled(hub, versions, timeout=60.0) -> str:
    """Wait until nothing is pending; returns the running version (which must be one of `versions`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            st = push.status(hub.serial, timeout=1)
        except Exception:
            time.sleep(0.1)
            continue
        v = st["running"]["version"]
        assert v in versions, f"running {v}, expected one of {versions}"
        if not any(s.get("state") == "pending" for s in st["slots"].values()):
            return v
        time.sleep(0.1)
    raise AssertionError("the hub never settled")


def test_power_cuts_across_download_verification_and_activation(hub):
    target = int(os.environ.get("COMMSHUB_IMAGE_POWER_CUTS", CUTS.get(hub.target.kind, 30)))
    seed = int(os.environ.get("COMMSHUB_SEED", time.time()))
    rng = random.Random(seed)
    cuts = resumed = activations = 0
    while cuts < target:
        old = running_version(hub)
        image = image_for(hub)
        new = gbcs.parse_image(image).version_text
        h = mi_hash(image)
        t0 = time.monotonic()
        # Download (and the verify boot right after it), cut at random instants.
        for _ in range(rng.randint(1, 4)):
            t, box = _in_background(lambda: push.push(hub.serial, image, timeout=0.5, max_resyncs=1))
            time.sleep(rng.uniform(0, 0.6))
            hub.power_cycle()
            cuts += 1
            t.join(30)
            assert _settled(hub, {old}) == old, f"cut {cuts} (seed {seed}) changed the running image"
        res = push.push(hub.serial, image)
        resumed += res.resumed_from > 0
        assert res.mi_hash == h
        # Activation, cut at a random instant around the slot switch.
        t, box = _in_background(lambda: push.activate(hub.serial, h))
        time.sleep(rng.uniform(0, 0.3))
        hub.power_cycle()
        cuts += 1
        t.join(30)
        acknowledged = box.get("result", {}).get("outcome") == 0
        v = _settled(hub, {old, new})
        if acknowledged:
            assert v == new, f"cut {cuts} (seed {seed}): an acknowledged activation was lost"
        if v == old:
            assert push.activate(hub.serial, h)["outcome"] == 0
            v = wait_version(hub, new)["running"]["version"]
        activations += 1
        # Never twice, never undone: more cuts leave it on the new version.
        hub.power_cycle()
        cuts += 1
        assert _settled(hub, {new}) == new
        print(f"cycle {old} -> {new}: {time.monotonic() - t0:.1f} s, {cuts} cuts so far")
    print(f"\n{cuts} cuts (seed {seed}): {activations} activations, {resumed} downloads resumed")
    assert activations >= 1
