"""Power cuts at random instants during state writes: old state or new, never corrupt."""

import os
import random
import time

# A power cycle of the emulated board takes ~10 ms; a real board's reset takes seconds.
CUTS = {"emulator": 300, "serial": 50}


def test_power_cuts_during_config_writes_leave_old_or_new_state(hub):
    cuts = int(os.environ.get("COMMSHUB_POWER_CUTS", CUTS.get(hub.target.kind, 50)))
    seed = int(os.environ.get("COMMSHUB_SEED", time.time()))
    rng = random.Random(seed)
    label = f"power-cut suite {seed}"
    hub.request("config.set", {"key": "label", "value": label})
    committed = hub.request("config.get", {"key": "notes"}).result["value"]
    boots = hub.request("status").result["boot_count"]
    # Aim the cuts at the write: spread them over twice the time a config.set takes.
    rtts = []
    for k in range(5):
        rtts.append(hub.request("config.set", {"key": "notes", "value": f"calibrate {k} " + "c" * 1500}).rtt_s)
    window = 2 * sorted(rtts)[2]
    committed = hub.request("config.get", {"key": "notes"}).result["value"]
    outcomes = {"old": 0, "new": 0}
    for i in range(cuts):
        new = f"cut {i} of seed {seed}: " + "".join(rng.choice("abcdef0123456789") for _ in range(rng.randint(200, 2000)))
        hub.serial.send("config.set", {"key": "notes", "value": new})
        time.sleep(rng.uniform(0, window))  # somewhere before, during or after the write
        hub.power_cycle()
        got = hub.request("config.get", {"key": "notes"}).result["value"]
        assert got in (committed, new), f"cut {i} (seed {seed}) left neither the old nor the new notes"
        outcomes["old" if got == committed and got != new else "new"] += 1
        committed = got
        status = hub.request("status").result
        assert status["boot_count"] == boots + i + 1
        assert hub.request("config.get", {"key": "label"}).result["value"] == label
    print(f"\n{cuts} cuts over a {window * 1000:.1f} ms window, seed {seed}: {outcomes}")
    assert outcomes["new"] > 0, "no write ever completed before a cut: the cuts were not random enough"
