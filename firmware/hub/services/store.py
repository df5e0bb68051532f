"""Persistent JSON state, written atomically (temp file + os.rename).

A power cut at any instant leaves either the old or the new file: a write goes
to `<name>.json.tmp` first and only a rename makes it current. Temp files left
by a cut are removed when the store opens.
"""

import json
import os


def join(a, b):
    """Join two path parts ("" and "/" roots included)."""
    if not a:
        return b
    return a.rstrip("/") + "/" + b


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


RESERVE = 8  # blocks left free for the state files (never promised to a download or a slot)


def _dirs(path):
    n = 0
    for e in os.ilistdir(path):
        if e[1] == 0x4000:
            n += 1 + _dirs(join(path, e[0]))
    return n


def free_blocks(root, need=0):
    """(block size, blocks free beyond RESERVE) on the filesystem of `root`.

    MicroPython's statvfs on littlefs counts each directory's metadata pair
    twice (lfs2_fs_traverse also walks the directory entries), under-reporting
    2 blocks per directory: they are added back for the directories under
    `root` (the filesystem's root for an exact count; a subdirectory gives less).
    That walk reads every directory, far more flash than statvfs (10k reads,
    5 ms of an image offer on the emulated board with two slots), so a caller
    that needs only `need` bytes gets statvfs' count as it is when it already
    shows them.
    """
    st = os.statvfs(root)
    n = st[3] - RESERVE
    if need and n * st[0] >= need:
        return st[0], n
    return st[0], n + 2 * _dirs(root)


class Store:
    def __init__(self, root, log=None, sub="data"):
        self.root = root
        self.dir = join(root, sub)
        self.log = log
        self.rename = os.rename  # an attribute so tests can simulate a cut
        if not _exists(self.dir):
            os.mkdir(self.dir)
        for name in os.listdir(self.dir):
            if name.endswith(".tmp"):
                self._warn("store: removing stale %s" % name)
                os.remove(join(self.dir, name))

    def _warn(self, msg):
        if self.log:
            self.log.warn(msg)

    def path(self, name):
        return join(self.dir, name + ".json")

    def load(self, name, default):
        """The stored object `name`, or `default` if absent or unreadable.

        A file that does not parse, or holds another type than `default`, is
        logged and ignored (it is replaced on the next save).
        """
        p = self.path(name)
        try:
            f = open(p)
        except OSError:
            return default
        try:
            with f:
                obj = json.load(f)
        except Exception as e:
            self._warn("store: %s unreadable (%r), using defaults" % (name, e))
            return default
        if type(obj) is not type(default):
            self._warn("store: %s has the wrong type, using defaults" % name)
            return default
        return obj

    def save(self, name, obj):
        """Write `obj` as JSON atomically."""
        p = self.path(name)
        tmp = p + ".tmp"
        with open(tmp, "w") as f:
            json.dump(obj, f)
        self.rename(tmp, p)

    def remove(self, name):
        """Forget `name` (no error if absent)."""
        try:
            os.remove(self.path(name))
        except OSError:
            pass
