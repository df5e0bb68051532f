"""Image download bookkeeping: need lists, refused blocks, persisted progress, resume."""

import binascii
import hashlib
import os

from hub.errors import HubError
from hub.events import Bus
from hub.services.logbuf import Log
from hub.services.store import Store
from hub.services import transfer as T
from util import RamBlockDev, raises

_n = [0]


def big_fs(blocks=320):
    """A fresh 160 KB RAM littlefs (util.fresh_fs is too small for an image)."""
    import vfs

    _n[0] += 1
    path = "/x%d" % _n[0]
    try:
        vfs.umount("/x%d" % (_n[0] - 1))  # one at a time: the runner's heap holds a few
    except OSError:
        pass
    bdev = RamBlockDev(512, blocks)
    vfs.VfsLfs2.mkfs(bdev)
    vfs.mount(vfs.VfsLfs2(bdev), path)
    return path


def _mk(root=None):
    root = root or big_fs()
    Store(root, None)  # /data
    bus = Bus()
    seen = []
    bus.subscribe(lambda n, s, b: seen.append((n, b)))
    st = Store(root, Log(echo=False), "data/image")
    return root, T.Transfer(st, bus, Log(echo=False)), seen


def _data(n):
    return bytes((i * 7 + i // 256) & 0xFF for i in range(n))


def _hash(b):
    return binascii.hexlify(hashlib.sha256(b).digest()).decode()


def _send(t, data, upto=None):
    """Send what the hub asks for, in order, until done or `upto` bytes are in."""
    done = False
    while not done and (upto is None or t.rec["offset"] < upto):
        need = t.need()
        assert need, t.rec
        o, n = need[0]
        done = t.block(o, memoryview(data)[o:o + n])["done"]
    return done


def test_offer_lists_a_window_of_blocks():
    _, t, _ = _mk()
    data = _data(10000)
    a = t.offer(len(data), _hash(data), 1024)
    assert a["offset"] == 0 and a["block_size"] == 1024 and a["done"] is False
    assert a["need"] == [[k * 1024, 1024] for k in range(8)]  # the default window (docs/PROTOCOL.md, image.offer)


def test_offer_may_ask_for_a_wider_window_and_keeps_it_on_resume():
    _, t, _ = _mk()
    data = _data(40 * 1024)
    a = t.offer(len(data), _hash(data), 1024, 24)  # the largest window
    assert a["need"] == [[k * 1024, 1024] for k in range(24)]
    t.block(12 * 1024, data[12 * 1024:13 * 1024])  # beyond the default window of 8: taken
    t.block(23 * 1024, data[23 * 1024:24 * 1024])  # the window's last block: its bit stays a small int
    assert t.rec["offset"] == 0 and [12 * 1024, 1024] not in t.need() and [23 * 1024, 1024] not in t.need()
    e = raises(HubError, t.block, 24 * 1024, data[24 * 1024:25 * 1024])  # beyond 24: refused
    assert e.code == "bad_args"
    for bad in (0, 25, "24", True):
        assert raises(HubError, t.offer, len(data), _hash(data), 1024, bad).code == "bad_args"
    t.persist()
    # The window is part of the transfer: a reboot (a new Transfer on the same store) keeps it.
    again = T.Transfer(t.store, t.bus, t.log)
    assert len(again.offer(len(data), _hash(data), None)["need"]) == 24


def test_block_size_default_and_clamp():
    _, t, _ = _mk()
    assert t.offer(5000, "00" * 32, None)["block_size"] == 2048  # the default block
    t.abort()
    assert t.offer(5000, "00" * 32, 100000)["block_size"] == 3072  # the largest


def test_blocks_not_asked_for_are_refused_and_change_nothing():
    _, t, _ = _mk()
    data = _data(9000)
    t.offer(len(data), _hash(data), 1024)
    t.block(0, data[:1024])
    before = (dict(t.rec), t.need())
    for off, n in ((0, 1024), (1, 1024), (1024 * 9, 1024), (9000, 10), (-1024, 1024), (1024, 1000)):
        e = raises(HubError, t.block, off, data[max(off, 0):max(off, 0) + n])
        assert e.code == "bad_args", (off, n)
    assert (t.rec, t.need()) == before


def test_out_of_order_within_the_window_is_taken():
    _, t, _ = _mk()
    data = _data(12000)
    t.offer(len(data), _hash(data), 1024)
    t.block(2048, data[2048:3072])
    assert t.rec["offset"] == 0
    assert t.need() == [[0, 1024], [1024, 1024]] + [[k * 1024, 1024] for k in range(3, 8)]
    t.block(0, data[:1024])
    t.block(1024, data[1024:2048])
    assert t.rec["offset"] == 3072
    assert t.need() == [[k * 1024, 1024] for k in range(3, 11)]


def test_last_block_completes_and_file_matches():
    root, t, seen = _mk()
    data = _data(70000)
    t.offer(len(data), _hash(data), 3072)
    assert _send(t, data) is True
    assert t.state == "received" and t.need() == []
    with open(t.path, "rb") as f:
        assert f.read() == data
    assert t.store.load("transfer", {})["state"] == "received"
    assert [b["offset"] for n, b in seen if n == "image.progress"] == [67584]


class _slow_link:
    """Blocks arrive slower than PERSIST_MS apart in spirit: the byte rule alone applies."""

    def __enter__(self):
        self.ms = T.PERSIST_MS
        T.PERSIST_MS = 0

    def __exit__(self, *a):
        T.PERSIST_MS = self.ms


def _recorded_transfer():
    """A transfer of 60000 bytes under way, and the list of offsets its progress records hold."""
    _, t, _ = _mk()
    data = _data(60000)
    t.offer(len(data), _hash(data), 2048)
    saves = []
    real = t.store.save
    t.store.save = lambda n, o: (saves.append(o["offset"]), real(n, o))
    return t, data, saves


def test_progress_persisted_every_16k_not_every_block():
    t, data, saves = _recorded_transfer()
    with _slow_link():
        _send(t, data, upto=40000)
    assert saves == [16384, 32768], saves


def test_progress_records_are_rate_limited_on_a_fast_link():
    import time

    t, data, saves = _recorded_transfer()
    ms = T.PERSIST_MS
    try:
        T.PERSIST_MS = 60000  # a link far faster than the record interval
        _send(t, data, upto=40000)
        assert saves == [], saves  # 40 KB in, no record yet: a cut would cost them, no more
        T.PERSIST_MS = 50
        time.sleep_ms(60)
        _send(t, data, upto=44000)
    finally:
        T.PERSIST_MS = ms
    # The first block after the interval records where the data then ends.
    assert saves == [43008], saves
    assert t.store.load("transfer", {})["offset"] == 43008


def test_resume_after_a_cut_starts_at_the_persisted_offset():
    root, t, _ = _mk()
    data = _data(50000)
    h = _hash(data)
    t.offer(len(data), h, 2048)
    with _slow_link():
        _send(t, data, upto=20000)  # persisted at 16384, more written but not recorded
    t.f = None  # power cut: the handle is gone without a close
    _, t2, _ = _mk(root)
    assert t2.unfinished and t2.rec["offset"] == 16384
    assert t2.need()[0] == [16384, 2048]
    e = raises(HubError, t2.offer, len(data), "ab" * 32, None)
    assert e.code == "busy"
    a = t2.offer(len(data), h, None)
    assert a["offset"] == 16384 and a["need"][0] == [16384, 2048]
    assert _send(t2, data)
    with open(t2.path, "rb") as f:
        assert f.read() == data


def test_resume_offer_without_reboot_persists_first():
    _, t, _ = _mk()
    data = _data(30000)
    h = _hash(data)
    t.offer(len(data), h, 2048)
    _send(t, data, upto=6000)
    a = t.offer(len(data), h, None)
    assert a["offset"] == 6144
    assert t.store.load("transfer", {})["offset"] == 6144


def test_record_ahead_of_the_file_is_clamped():
    root, t, _ = _mk()
    data = _data(30000)
    t.offer(len(data), _hash(data), 2048)
    r = dict(t.rec)
    r["offset"] = 20480  # as if the data had not reached the flash
    t.store.save("transfer", r)
    os.remove(t.path)
    with open(t.path, "wb") as f:
        f.write(data[:4096])
    _, t2, _ = _mk(root)
    assert t2.rec["offset"] == 4096


def test_abort_drops_everything_and_a_new_offer_is_welcome():
    root, t, _ = _mk()
    data = _data(9000)
    h = _hash(data)
    t.offer(len(data), h, 2048)
    assert t.abort() == h
    assert t.rec is None and t.store.load("transfer", None) is None
    raises(OSError, os.stat, t.path)
    assert raises(HubError, t.block, 0, data[:2048]).code == "bad_args"
    assert t.offer(100, "cd" * 32, None)["offset"] == 0


def test_offer_too_big_for_the_flash():
    _, t, _ = _mk()
    assert raises(HubError, t.offer, 1024 * 1024, "00" * 32, None).code == "too_large"
    assert t.rec is None


def test_bad_offers():
    _, t, _ = _mk()
    for size, h in ((0, "00" * 32), ("5", "00" * 32), (10, "zz" * 32), (10, "00" * 31), (10, None)):
        assert raises(HubError, t.offer, size, h, None).code == "bad_args"
