"""The HAN device log across power cuts at random instants: the old log or the new one, never a broken one."""

import os
import random
import time

import pytest

pytestmark = pytest.mark.han  # skipped where the board runs without its HAN


CUTS = {"emulator": 100, "serial": 20}


def euis(log):
    return sorted(e["eui64"] for e in log["log"]), sorted(h["eui64"] for h in log["history"])


def test_power_cuts_during_device_log_writes_leave_old_or_new_log(hub):
    cuts = int(os.environ.get("COMMSHUB_POWER_CUTS", CUTS.get(hub.target.kind, 20)))
    seed = int(os.environ.get("COMMSHUB_SEED", time.time()))
    rng = random.Random(seed)
    rtts = [hub.request("han.log.add", {"eui64": "0A%014X" % k, "type": 1, "install_code": "11" * 16}).rtt_s
            for k in range(3)]
    window = 2 * sorted(rtts)[1]
    committed = euis(hub.request("han.log").result)
    outcomes = {"old": 0, "new": 0}
    for i in range(cuts):
        present = committed[0]
        if present and (len(present) >= 12 or rng.random() < 0.4):
            eui = rng.choice(present)
            hub.serial.send("han.log.remove", {"eui64": eui})
            new_log = sorted(e for e in present if e != eui)
            new_hist = sorted((committed[1] + [eui]))  # order aside; at most 15 kept
        else:
            eui = "0B%014X" % rng.getrandbits(56)
            hub.serial.send("han.log.add", {"eui64": eui, "type": rng.randrange(7),
                                            "install_code": os.urandom(16).hex(), "join_s": 60})
            new_log, new_hist = sorted(present + [eui]), committed[1]
        time.sleep(rng.uniform(0, window))
        hub.power_cycle()
        got = euis(hub.request("han.log").result)
        if got[0] == new_log:
            assert set(got[1]) <= set(new_hist) and len(got[1]) <= 15, f"cut {i} (seed {seed}): history broken"
            outcomes["new"] += 1
        else:
            assert got == committed, f"cut {i} (seed {seed}) left neither the old nor the new log: {got}"
            outcomes["old"] += 1
        committed = got
    for eui in committed[0]:  # leave the shared hub's log as it was
        hub.request("han.log.remove", {"eui64": eui})
    print(f"\n{cuts} cuts over a {window * 1000:.1f} ms window, seed {seed}: {outcomes}")
    assert outcomes["new"] > 0 and outcomes["old"] > 0, "the cuts never landed both before and after a write"
