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


class Store:
    def __init__(self, root, log=None, sub="data"):
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
