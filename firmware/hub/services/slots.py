"""The A/B slots and the boot record (docs/IMAGES.md, section 3).

`/slots/boot.json` is shared with boot.py, which reads it before any slot code
runs, counts boot attempts of a pending slot and rolls back. This side of it:
confirm a pending slot, request a switch (activation, rollback, a scheduled
one), hand over boot events, and describe what each slot holds.

    {"active": "a", "pending": null, "attempts": 0, "previous": null,
     "event": null | {...} | [{...}, ...],
     "rollback": true (pending is a commanded rollback),
     "scheduled": null | {"slot", "hash", "at"}, "confirm_s": 30 (optional)}

Every write is temp + rename (Store), the same temp name boot.py uses. A
slot holds a complete image when it has `manifest.json` (unpack writes it
last); `image.json` beside it ({"hash", "version", "min_version"}, written
after the manifest) names the image by its MI hash. The factory image's has
"hash": null (unknown); a slot without one has its version read from the
manifest, which costs the whole parsed file list on the heap for a moment.
"""

import json
import os
import sys

from hub.services.store import Store, join
from micropython import const

SLOTS = ("a", "b")
META = "image.json"


def other(s):
    return "b" if s == "a" else "a"


def vtuple(v):
    """"1.2.3" -> (1, 2, 3); anything else -> (0, 0, 0)."""
    try:
        p = v.split(".")
        if len(p) == 3:
            return (int(p[0]), int(p[1]), int(p[2]))
    except (AttributeError, ValueError):
        pass
    return (0, 0, 0)


def _exists(p):
    try:
        os.stat(p)
        return True
    except OSError:
        return False


# -- the block budget of a slot (docs/IMAGES.md, "Block budget") -----------
# littlefs keeps a file of up to INLINE bytes inside its directory's metadata;
# a bigger one takes whole blocks, each but the first losing a few bytes to
# the skip-list pointers; every directory is a metadata pair (2 blocks).
_INLINE = const(128)  # MicroPython's VfsLfs2 default (32-byte read/prog units: 128-byte cache)


def file_blocks(size, bs):
    """Blocks a file of `size` bytes takes (at most: a board may inline more)."""
    return 0 if size <= _INLINE else (size + bs - 9) // (bs - 8)


def tree_blocks(path, bs):
    """Blocks the directory tree at `path` takes (0 if it does not exist)."""
    n = 2
    try:
        for e in os.ilistdir(path):
            p = path + "/" + e[0]
            n += tree_blocks(p, bs) if e[1] == 0x4000 else file_blocks(os.stat(p)[6], bs)
    except OSError:
        return 0
    return n


def need_blocks(m, mlen, bs):
    """Blocks a slot holding manifest `m` (`mlen` bytes of JSON) takes once unpacked."""
    dirs = {}
    n = 2 + file_blocks(mlen, bs) + 1  # the slot directory, manifest.json, image.json
    for e in m["files"]:
        n += file_blocks(e["size"], bs)
        p = e["path"]
        i = p.find("/")
        while i > 0:
            dirs[p[:i]] = 1
            i = p.find("/", i + 1)
    return n + 2 * len(dirs)


def normalize(r):
    """A boot record with every field valid (what boot.py would make of it)."""
    r = dict(r) if isinstance(r, dict) else {}
    if r.get("active") not in SLOTS:
        r["active"] = "a"
    if r.get("pending") not in SLOTS or r.get("pending") == r["active"]:
        r["pending"] = None
    if type(r.get("attempts")) is not int:
        r["attempts"] = 0
    if r.get("previous") not in SLOTS or r.get("previous") == r["active"]:
        r["previous"] = None
    sc = r.get("scheduled")
    if not (isinstance(sc, dict) and sc.get("slot") in SLOTS and type(sc.get("at")) is int):
        r["scheduled"] = None
    r.setdefault("event", None)
    return r


def events_of(r):
    """The boot events of record `r` as a list (oldest first)."""
    ev = r.get("event")
    if isinstance(ev, dict):
        return [ev]
    if isinstance(ev, list):
        return [e for e in ev if isinstance(e, dict)]
    return []


class Slots:
    def __init__(self, root, log, running=None):
        self.root = root
        self.log = log
        self.store = Store(root, log, "slots")  # /slots/boot.json (+ .tmp)
        self.rec = normalize(self.store.load("boot", {}))
        self.running = running or self._from_path() or self.rec["pending"] or self.rec["active"]
        self._meta = {}  # slot -> {"hash", "version", "min_version", "test_fault"} or None

    def _from_path(self):
        # boot.py put /slots/X/lib first on sys.path: the slot actually running.
        base = join(self.root, "slots/")
        for p in sys.path:
            if p.startswith(base) and p.endswith("/lib") and len(p) == len(base) + 5:
                s = p[len(base)]
                if s in SLOTS:
                    return s
        return None

    # -- the boot record --------------------------------------------------

    def save(self, **changes):
        """Write the boot record with `changes` applied (atomic)."""
        r = dict(self.rec)
        r.update(changes)
        self.store.save("boot", r)
        self.rec = r

    def reload(self):
        self.rec = normalize(self.store.load("boot", {}))
        return self.rec

    @property
    def is_trial(self):
        """True while the running slot is pending (not confirmed yet)."""
        return self.rec["pending"] == self.running

    def request(self, slot, rollback=False, confirm_s=None):
        """Boot `slot` as pending on the next start (clears any schedule).

        `confirm_s` (None: boot.py's default) bounds how long it has to confirm.
        """
        self.save(pending=slot, attempts=0, rollback=rollback, scheduled=None, confirm_s=confirm_s)

    # -- slot contents ----------------------------------------------------

    def path(self, s, name=None):
        p = join(self.root, "slots/" + s)
        return join(p, name) if name else p

    def meta(self, s):
        """What slot `s` holds: {"hash", "version", "min_version", ...} or None."""
        if s in self._meta:
            return self._meta[s]
        m = None
        if _exists(self.path(s, "manifest.json")):
            for name in (META, "manifest.json"):
                try:
                    with open(self.path(s, name)) as f:
                        d = json.load(f)
                    m = {"hash": d.get("hash") if name == META else None,
                         "version": d.get("version"), "min_version": d.get("min_version", "0.0.0")}
                    if d.get("test_fault"):
                        m["test_fault"] = d["test_fault"]
                    break
                except Exception:  # missing or unreadable: try the manifest
                    pass
        self._meta[s] = m
        return m

    def forget(self, s):
        """Drop the cached description of slot `s` (its contents changed)."""
        self._meta.pop(s, None)

    def version(self, s):
        m = self.meta(s)
        return m["version"] if m else None
