"""Power cuts at random instants during state writes: old state or new, never corrupt."""

import os
import random
import time

CUTS = int(os.environ.get("COMMSHUB_POWER_CUTS", "50"))


def test_power_cuts_during_config_writes_leave_old_or_new_state(hub):
    seed = int(os.environ.get("COMMSHUB_SEED", time.time()))
    rng = random.Random(seed)
    label = f"power-cut suite {seed}"
    hub.request("config.set", {"key": "label", "value": label})
    committed = hub.request("config.get", {"key": "notes"}).result["value"]
    boots = hub.request("status").result["boot_count"]
    outcomes = {"old": 0, "new": 0}
    for i in range(CUTS):
        new = f"cut {i} of seed {seed}: " + "".join(rng.choice("abcdef0123456789") for _ in range(rng.randint(200, 2000)))
        hub.serial.send("config.set", {"key": "notes", "value": new})
        time.sleep(rng.uniform(0, 0.04))  # somewhere before, during or after the write
        hub.power_cycle()
        got = hub.request("config.get", {"key": "notes"}).result["value"]
        assert got in (committed, new), f"cut {i} (seed {seed}) left neither the old nor the new notes"
        outcomes["old" if got == committed and got != new else "new"] += 1
        committed = got
        status = hub.request("status").result
        assert status["boot_count"] == boots + i + 1
        assert hub.request("config.get", {"key": "label"}).result["value"] == label
    print(f"\n{CUTS} cuts, seed {seed}: {outcomes}")
    assert outcomes["new"] > 0, "no write ever completed before a cut: the cuts were not random enough"
