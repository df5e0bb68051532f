"""Verify in a clean boot: the record states, the verify-mode decision, the
outcome recorded by verify mode and reported once by the next normal boot."""

import binascii
import hashlib
import json
import os

from hub import boot as app
from hub.errors import HubError
from hub.events import Bus
from hub.services.logbuf import Log
from hub.services.store import Store
from hub.services import handover, transfer as T, verify
from util import fresh_fs, raises


def _hash(b):
    return binascii.hexlify(hashlib.sha256(b).digest()).decode()


def _data(n):
    return bytes((i * 13 + 5) & 0xFF for i in range(n))


def _root():
    root = fresh_fs()
    Store(root, None)  # /data
    return root


def _transfer(root):
    return T.Transfer(Store(root, None, "data/image"), Bus(), Log(echo=False))


def _rec(root, **r):
    Store(root, None, "data/image").save("transfer", r)


def _read(root):
    return Store(root, None, "data/image").load("transfer", {})


def _boot(root, **r):
    Store(root, None, "slots").save("boot", r)


def _receive(root, data, bs=1024):
    t = _transfer(root)
    t.offer(len(data), _hash(data), bs)
    done = False
    while not done:
        o, n = t.need()[0]
        done = t.block(o, data[o:o + n])["done"]
    return t


# -- the record states ----------------------------------------------------------


def test_last_block_leaves_received_and_answers_verify_reboot():
    root = _root()
    data = _data(3000)
    t = _receive(root, data)
    assert t.state == "received" and _read(root)["state"] == "received"
    a = t.answer(True)
    assert a["done"] is True and a["offset"] == 3000 and a["need"] == [] and a["verify"] == "reboot"
    assert a["state"] == "received"
    assert t.status()["state"] == "received" and t.status()["transfer"] == _hash(data)


def test_offer_while_received_says_done_and_another_file_is_busy():
    root = _root()
    data = _data(3000)
    t = _receive(root, data)
    a = t.offer(len(data), _hash(data), None)
    assert a["done"] is True and a["verify"] == "reboot"
    assert raises(HubError, t.offer, 100, "ab" * 32, None).code == "busy"


def test_failed_file_offered_again_starts_over():
    root = _root()
    data = _data(3000)
    _rec(root, hash=_hash(data), size=3000, block_size=1024, offset=3000, state="failed",
         code="bad_signature", message="no trusted key", reported=True)
    t = _transfer(root)
    st = t.status()
    assert st["state"] == "failed" and st["code"] == "bad_signature" and st["message"] == "no trusted key"
    a = t.offer(len(data), _hash(data), 1024)
    assert a["offset"] == 0 and a["done"] is False and a["state"] == "receiving"


def test_staged_file_offered_again_is_done_with_its_mi_hash():
    root = _root()
    data = _data(3000)
    _rec(root, hash=_hash(data), size=3000, block_size=1024, offset=3000, state="staged",
         mi_hash="cd" * 32, slot="b", version="0.2.0", reported=True)
    t = _transfer(root)
    a = t.offer(len(data), _hash(data), None)
    assert a["done"] is True and a["hash"] == "cd" * 32 and a["slot"] == "b" and a["need"] == []
    st = t.status()
    assert st["state"] == "staged" and st["hash"] == "cd" * 32 and st["transfer"] == _hash(data)
    # another file replaces a staged transfer (it is history)
    assert t.offer(100, "ab" * 32, None)["offset"] == 0


# -- the verify-mode decision -------------------------------------------------------


def test_verify_due_only_for_a_received_record_and_no_trial():
    root = _root()
    assert app.verify_due(root) is None  # no record
    for st in ("receiving", "staged", "failed"):
        _rec(root, hash="ab" * 32, size=10, block_size=1024, offset=0, state=st)
        assert app.verify_due(root) is None, st
    _rec(root, hash="ab" * 32, size=10, block_size=1024, offset=10, state="received")
    assert app.verify_due(root)["state"] == "received"  # no boot record: factory
    _boot(root, active="a", pending="b", attempts=1)
    assert app.verify_due(root) is None  # a trial: its inactive slot is the rollback target
    _boot(root, active="b", pending="b")
    assert app.verify_due(root) is not None  # boot.py ignores pending == active
    _boot(root, active="a", pending=None)
    assert app.verify_due(root) is not None


def test_each_verify_boot_is_counted_and_the_third_failure_gives_up():
    root = _root()
    _rec(root, hash="ab" * 32, size=10, block_size=1024, offset=10, state="received")
    for n in (1, 2, 3):
        r = app.verify_due(root)
        assert app.count_try(root, r) is True
        assert _read(root)["tries"] == n
    r = app.verify_due(root)
    assert app.count_try(root, r) is False
    r = _read(root)
    assert r["state"] == "failed" and r["code"] == "internal" and r["reported"] is False
    assert app.verify_due(root) is None


# -- verify mode's outcome -------------------------------------------------------------


class _Hal:
    board = {"name": "emulator"}

    def image_ids(self):
        return (0x1234, 1)

    def trusted_keys(self):
        return []


def _staging(root, data):
    Store(root, None, "data/image")
    with open(root + "/data/image/staging.bin", "wb") as f:
        f.write(data)


def test_verify_records_the_code_and_drops_the_staging_file():
    root = _root()
    data = _data(2000)
    _staging(root, data)
    r = {"hash": "ab" * 32, "size": 2000, "block_size": 1024, "offset": 2000, "state": "received", "tries": 1}
    _rec(root, **r)
    out = verify.run(root, r, _Hal())
    assert out["state"] == "failed" and out["code"] == "bad_hash" and out["reported"] is False
    assert "tries" not in out
    assert _read(root) == out
    raises(OSError, os.stat, root + "/data/image/staging.bin")


def test_verify_of_a_file_that_is_not_an_image_is_bad_format():
    root = _root()
    data = _data(2000)
    _staging(root, data)
    r = {"hash": _hash(data), "size": 2000, "block_size": 1024, "offset": 2000, "state": "received"}
    out = verify.run(root, r, _Hal())
    assert out["state"] == "failed" and out["code"] == "bad_format", out


def test_damaged_staging_file_restarts_the_download():
    root = _root()
    _staging(root, _data(100))
    r = {"hash": "ab" * 32, "size": 2000, "block_size": 1024, "offset": 2000, "state": "received", "tries": 2}
    out = verify.run(root, r, _Hal())
    assert out["state"] == "receiving" and out["offset"] == 0 and "tries" not in out
    assert app.verify_due(root) is None


# -- the next normal boot reports it once ------------------------------------------------


class _Svc:
    def __init__(self, root):
        self.store = Store(root, None, "data/image")
        self.log = Log(echo=False)
        self.xfer = None
        self.alerts = []

    def alert(self, code, name, hsh, **d):
        self.alerts.append((code, hsh, d))


def test_outcome_alerts_are_raised_once():
    root = _root()
    _rec(root, hash="ab" * 32, size=10, block_size=1024, offset=10, state="staged",
         mi_hash="cd" * 32, slot="b", version="0.2.0", reported=False)
    svc = _Svc(root)
    assert handover.report_transfer(svc) is True
    assert [(c, h) for c, h, d in svc.alerts] == [(0x8F8A, None), (0x8F72, "cd" * 32)]
    assert svc.alerts[1][2]["version"] == "0.2.0"
    assert _read(root)["reported"] is True
    assert handover.report_transfer(svc) is False and len(svc.alerts) == 2


def test_failure_alert_carries_the_code_as_reason():
    root = _root()
    _rec(root, hash="ab" * 32, size=10, block_size=1024, offset=10, state="failed",
         code="downgrade", message="version 0.1.0 is not above", reported=False)
    svc = _Svc(root)
    handover.report_transfer(svc)
    (c1, _, _), (c2, _, d) = svc.alerts
    assert (c1, c2) == (0x8F8A, 0x8F1C) and d["reason"] == "downgrade" and d["transfer"] == "ab" * 32


def test_a_record_without_the_reported_flag_is_not_reported():
    root = _root()
    _rec(root, hash="ab" * 32, size=10, block_size=1024, offset=10, state="staged", mi_hash="cd" * 32)
    svc = _Svc(root)
    assert handover.report_transfer(svc) is False and svc.alerts == []
