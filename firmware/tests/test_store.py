"""Store: atomic writes, stale temp files, corrupt files."""

import os

from hub.services.store import Store
from hub.services.logbuf import Log
from util import fresh_fs


def _store(root=None):
    log = Log(echo=False)
    return Store(root or fresh_fs(), log), log


def test_round_trip_and_default():
    s, _ = _store()
    assert s.load("x", {"a": 1}) == {"a": 1}
    s.save("x", {"b": [1, "two"]})
    assert s.load("x", {}) == {"b": [1, "two"]}
    assert sorted(os.listdir(s.dir)) == ["x.json"]


def test_write_goes_through_tmp_and_rename():
    s, _ = _store()
    s.save("x", {"v": 1})
    seen = []
    real = os.rename

    def spy(a, b):
        seen.append((a, b, open(a).read()))
        real(a, b)

    s.rename = spy
    s.save("x", {"v": 2})
    assert seen == [(s.path("x") + ".tmp", s.path("x"), '{"v": 2}')], seen
    assert s.load("x", {}) == {"v": 2}


def test_cut_before_rename_keeps_old_state():
    s, _ = _store()
    s.save("x", {"v": 1})
    real = os.rename

    def cut(a, b):
        raise OSError(5)  # the power went before the rename

    s.rename = cut
    try:
        s.save("x", {"v": 2})
    except OSError:
        pass
    assert s.load("x", {}) == {"v": 1}
    # Next boot: the stale temp file is cleaned and ignored.
    s2, log = _store(s.dir[: -len("/data")])
    assert os.listdir(s2.dir) == ["x.json"]
    assert s2.load("x", {}) == {"v": 1}
    assert any("stale" in l for l in log.tail(10))


def test_stale_half_written_tmp_ignored():
    root = fresh_fs()
    s, _ = _store(root)
    s.save("cfg", {"ok": True})
    with open(s.path("cfg") + ".tmp", "w") as f:
        f.write('{"ok": fal')
    s2, _ = _store(root)
    assert s2.load("cfg", {}) == {"ok": True}
    assert "cfg.json.tmp" not in os.listdir(s2.dir)


def test_corrupt_file_gives_default_and_logs():
    s, log = _store()
    with open(s.path("x"), "w") as f:
        f.write("\x00\x01garbage{")
    assert s.load("x", {"d": 1}) == {"d": 1}
    assert any("unreadable" in l for l in log.tail(5)), log.tail(5)
    with open(s.path("y"), "w") as f:
        f.write("[1, 2]")
    assert s.load("y", {}) == {}
    # A save replaces the corrupt file.
    s.save("x", {"d": 2})
    assert s.load("x", {}) == {"d": 2}


def test_host_directory_root():
    base = "/tmp/commshub-fwtest-%d" % (os.urandom(1)[0])
    try:
        os.mkdir(base)
    except OSError:
        pass
    s, _ = _store(base)
    s.save("z", {"q": 1})
    assert Store(base).load("z", {}) == {"q": 1}
    os.remove(s.path("z"))
    os.rmdir(s.dir)
    os.rmdir(base)


def test_free_blocks_exact_count_can_be_written_and_quick_count_is_a_lower_bound():
    from hub.services.store import RESERVE, free_blocks

    root = fresh_fs()
    for d in ("a", "a/b", "c"):
        os.mkdir(root + "/" + d)
    bs, exact = free_blocks(root)
    quick = os.statvfs(root)[3] - RESERVE
    assert quick < exact  # statvfs counts each directory's pair twice
    # Enough for the caller: statvfs' count as it is (no walk of the directories).
    assert free_blocks(root, bs) == (bs, quick)
    # More than it shows: the exact count.
    assert free_blocks(root, (quick + 1) * bs) == (bs, exact)
    # The exact count is real: that many blocks of data fit (RESERVE covers the file's own metadata).
    with open(root + "/big", "wb") as f:
        f.write(bytes(exact * bs))
    assert os.stat(root + "/big")[6] == exact * bs
