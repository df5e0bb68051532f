"""boot.py and the boot record: attempts, rollback, damaged slots, confirm, deadline.

boot.py itself is run here (its /slots paths pointed at a RAM filesystem), so
these tests check the file the board boots, not a copy of its logic.
"""

import binascii
import hashlib
import json
import os
import sys

import asyncio

from hub.services.logbuf import Log
from hub.services.slots import Slots, events_of
from hub.services import handover
from util import fresh_fs

_HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
BOOT = _HERE + "/../boot.py"


def _hex(b):
    return binascii.hexlify(hashlib.sha256(b).digest()).decode()


def _slot(root, s, version, body=b"X = 1\n"):
    d = root + "/slots/" + s
    for p in ("/slots", d, d + "/lib"):
        try:
            os.mkdir(root + p if p == "/slots" else p)
        except OSError:
            pass
    with open(d + "/lib/m.py", "wb") as f:
        f.write(body)
    m = {"version": version, "min_version": "0.0.0", "files": [{"path": "lib/m.py", "size": len(body), "sha256": _hex(body)}]}
    with open(d + "/manifest.json", "w") as f:
        json.dump(m, f)


def _damage(root, s):
    with open(root + "/slots/" + s + "/lib/m.py", "wb") as f:
        f.write(b"broken")


def _rec(root, **r):
    with open(root + "/slots/boot.json", "w") as f:
        json.dump(r, f)


def _read(root):
    with open(root + "/slots/boot.json") as f:
        return json.load(f)


def _boot(root):
    """Run boot.py against `root`; returns (slot booted, deadline task armed)."""
    with open(BOOT) as f:
        src = f.read().replace('"/slots/', '"' + root + "/slots/")
    asyncio.new_event_loop()
    path = list(sys.path)
    g = {"__name__": "__main__"}
    exec(src, g)
    booted = sys.path[0]
    sys.path[:] = path
    armed = asyncio.core._task_queue.peek() is not None
    return booted[len(root) + 7], armed


def _fs():
    root = fresh_fs()
    _slot(root, "a", "0.1.0")
    _slot(root, "b", "0.2.0")
    return root


def test_no_record_boots_a_without_deadline():
    root = _fs()
    assert _boot(root) == ("a", False)


def test_pending_gets_three_tries_then_rolls_back():
    root = _fs()
    _rec(root, active="a", pending="b", attempts=0, previous=None, event=None)
    for n in (1, 2, 3):
        assert _boot(root) == ("b", True)
        assert _read(root)["attempts"] == n
    assert _boot(root) == ("a", False)
    r = _read(root)
    assert r["pending"] is None and r["active"] == "a" and r["attempts"] == 0
    assert r["event"] == [{"kind": "rolled_back", "slot": "b", "reason": "attempts"}]


def test_damaged_pending_is_dropped_for_active():
    root = _fs()
    _damage(root, "b")
    _rec(root, active="a", pending="b", attempts=0)
    assert _boot(root) == ("a", False)
    r = _read(root)
    assert r["pending"] is None
    assert r["event"] == [{"kind": "verify_failed_at_boot", "slot": "b"}]


def test_damaged_active_hands_over_to_the_other_slot():
    root = _fs()
    _damage(root, "a")
    _rec(root, active="a", pending=None, previous="b")
    assert _boot(root) == ("b", False)
    r = _read(root)
    assert r["active"] == "b" and r["previous"] is None
    assert r["event"][0]["kind"] == "verify_failed_at_boot" and r["event"][0]["slot"] == "a"


def test_both_damaged_stays_on_active_and_says_so():
    root = _fs()
    _damage(root, "a")
    _damage(root, "b")
    _rec(root, active="b")
    assert _boot(root) == ("b", False)
    assert _read(root)["event"] == [{"kind": "verify_failed_at_boot", "slot": "b", "both": True}]


def test_healthy_boot_does_not_rewrite_the_record():
    root = _fs()
    _rec(root, active="b", pending=None, attempts=0, previous="a", event=None)
    before = os.stat(root + "/slots/boot.json")
    assert _boot(root) == ("b", False)
    assert _read(root) == {"active": "b", "pending": None, "attempts": 0, "previous": "a", "event": None}
    assert os.stat(root + "/slots/boot.json")[8] == before[8]


def _run_deadline(root, confirm_at_ms=None, wait_ms=1300):
    """Boot a pending slot with confirm_s=1 and let the loop run; True if it reset."""
    _rec(root, active="a", pending="b", attempts=0, confirm_s=1)
    assert _boot(root) == ("b", True)

    async def main():
        if confirm_at_ms is not None:
            await asyncio.sleep_ms(confirm_at_ms)
            s = Slots(root, Log(echo=False), running="b")
            handover.confirm_slot(s)
        await asyncio.sleep_ms(wait_ms)

    try:
        asyncio.get_event_loop().run_until_complete(asyncio.create_task(main()))
    except SystemExit as e:
        assert e.args[0] == 3
        return True
    finally:
        asyncio.new_event_loop()
    return False


def test_unconfirmed_pending_slot_is_reset_by_the_deadline():
    assert _run_deadline(_fs()) is True


def test_confirmed_slot_is_not_reset():
    root = _fs()
    assert _run_deadline(root, confirm_at_ms=200) is False
    r = _read(root)
    assert r["active"] == "b" and r["previous"] == "a" and r["pending"] is None and r["attempts"] == 0
    ev = events_of(r)
    assert ev[-1]["kind"] == "version_changed" and ev[-1]["from"] == "0.1.0" and ev[-1]["to"] == "0.2.0"


def test_confirm_only_when_running_the_pending_slot():
    root = _fs()
    _rec(root, active="a", pending="b", attempts=1)
    s = Slots(root, Log(echo=False), running="a")  # rolled back meanwhile
    assert not s.is_trial
    assert handover.confirm_slot(s) is False
    assert _read(root)["pending"] == "b"


def test_commanded_rollback_confirms_as_rolled_back():
    root = _fs()
    _rec(root, active="b", pending="a", attempts=1, previous="a", rollback=True)
    s = Slots(root, Log(echo=False), running="a")
    assert handover.confirm_slot(s)
    r = _read(root)
    assert r["active"] == "a" and r["previous"] == "b" and r["rollback"] is False
    ev = events_of(r)[-1]
    assert ev["kind"] == "rolled_back" and ev["reason"] == "commanded" and ev["from"] == "0.2.0"


def test_record_write_is_atomic_through_tmp():
    root = _fs()
    s = Slots(root, Log(echo=False), running="a")
    seen = []
    real = os.rename

    def spy(a, b):
        seen.append((a, b))
        real(a, b)

    s.store.rename = spy
    s.request("b")
    assert seen == [(root + "/slots/boot.json.tmp", root + "/slots/boot.json")]
    assert _read(root)["pending"] == "b"
