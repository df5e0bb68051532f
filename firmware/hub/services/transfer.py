"""Image download: the hub pulls blocks (docs/IMAGES.md, section 4).

Blocks go straight to `/data/image/staging.bin` at their offset through one
file handle kept open for the whole transfer; the image is never in RAM.
Progress (the end of the contiguous prefix received) is persisted in
`/data/image/transfer.json` every PERSIST bytes, but not more often than
every PERSIST_MS, and at the end, each time after the staging file is
flushed, so the persisted offset never runs ahead of the data that would
survive a power cut. A cut costs at most PERSIST bytes or PERSIST_MS of
transfer, whichever is more: on a fast link a record per 16 KiB would take
a quarter of the hub's time per block.

    {"hash": file sha256, "size", "block_size", "window", "offset",
     "state": "receiving" | "received" | "staged" | "failed",
     "tries" (received: verify-mode boots so far),
     "mi_hash", "slot", "version" (staged), "code", "message" (failed),
     "reported" (staged/failed: the alerts went out)}

`received` is verified in a boot of its own (verify mode: hub.boot, then
hub.services.verify), which writes `staged` or `failed`; the next normal
boot raises the alerts once (handover).

The hot path (block) does no JSON write, no collection and no logging except
every PERSIST bytes.
"""

import os
import time

from hub.codecs import is_hex
from hub.errors import HubError, bad_args
from hub.services.store import free_blocks, join
from micropython import const

# Module constants are const() with a leading underscore where nothing outside reads them: a
# global's name is a qstr for good, and the 100 KiB ESP32 sits at a 4.5 KB step of the qstr table.
_WINDOW = const(8)  # blocks in flight, unless the offer asks for more
_WINDOW_MAX = const(24)  # `got` is a bitmap of the window: under 30 bits it stays a small int on 32-bit ports
_BLOCK = const(2048)
_BLOCK_MIN = const(256)
_BLOCK_MAX = const(3072)
_PERSIST = const(16384)
PERSIST_MS = 250  # a module global: tests change it
_PROGRESS = const(65536)
_STAGING = const("staging.bin")


def _size(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return -1


class Transfer:
    def __init__(self, store, bus, log):
        self.store = store  # Store on /data/image
        self.bus = bus
        self.log = log
        self.path = join(store.dir, _STAGING)
        self.f = None
        self.pos = -1  # where the file handle is (saves a seek per block)
        self.got = 0  # blocks received after `offset` (bit k: offset + k*bs)
        rec = store.load("transfer", {})
        ok = isinstance(rec.get("hash"), str) and type(rec.get("size")) is int \
            and type(rec.get("offset")) is int and type(rec.get("block_size")) is int
        self.rec = rec if ok else None
        if not ok:
            if rec:
                store.remove("transfer")
            self._drop_staging()
        elif rec.get("state") == "receiving":
            # The file holds what was flushed before the cut: never more than
            # the record says, maybe less (a cut while starting a transfer).
            rec["offset"] = max(0, min(rec["offset"], _size(self.path)))
        elif rec.get("state") == "received":
            if _size(self.path) != rec["size"]:
                self._restart(rec)
        else:  # staged or failed: the staging file is no longer needed
            self._drop_staging()
        self.saved = rec["offset"] if ok else 0
        self.saved_at = time.ticks_ms()

    # -- queries ----------------------------------------------------------

    @property
    def state(self):
        return self.rec["state"] if self.rec else None

    @property
    def unfinished(self):
        return self.state == "receiving"

    def need(self):
        """[[offset, len], ...]: up to `window` blocks from the first missing one."""
        r = self.rec
        if not r or r["state"] != "receiving":
            return []
        out = []
        bs = r["block_size"]
        o = r["offset"]
        size = r["size"]
        for k in range(r.get("window", _WINDOW)):
            p = o + k * bs
            if p >= size:
                break
            if not self.got & (1 << k):
                out.append([p, min(bs, size - p)])
        return out

    def status(self):
        """image.status's `transfer`: the file hash is `transfer`, `hash` the
        MI hash once staged; `code` and `message` say why it failed."""
        r = self.rec
        if not r:
            return None
        d = {"transfer": r["hash"], "size": r["size"], "offset": r["offset"],
             "block_size": r["block_size"], "state": r["state"]}
        return self._outcome(d)

    def _outcome(self, d):
        r = self.rec
        s = r["state"]
        if s == "staged":
            d["hash"] = r.get("mi_hash")
            d["slot"] = r.get("slot")
            d["version"] = r.get("version")
        elif s == "failed":
            d["code"] = r.get("code")
            d["message"] = r.get("message")
        elif s == "received":
            d["verify"] = "reboot"
        return d

    def answer(self, done=False):
        r = self.rec
        return self._outcome({"transfer": r["hash"], "offset": r["offset"], "block_size": r["block_size"],
                              "need": self.need(), "done": done, "state": r["state"]})

    # -- commands ---------------------------------------------------------

    def space(self, need=0):
        """Bytes free for a staging file (the current one would be replaced);
        when `need` bytes fit, possibly a lower count that shows them (free_blocks)."""
        staged = max(_size(self.path), 0)
        bs, n = free_blocks(self.store.root, max(need - staged, 1) if need else 0)
        return n * bs + staged

    def offer(self, size, hsh, block_size, window=None):
        """Start, resume or answer `done` (received: verification pending,
        staged: nothing more to do); a failed file starts over."""
        if type(size) is not int or size <= 0:
            raise bad_args("size must be a positive int")
        if not is_hex(hsh, 64):
            raise bad_args("hash must be 64 hex digits (SHA-256 of the whole file)")
        hsh = hsh.lower()
        if block_size is not None and type(block_size) is not int:
            raise bad_args("block_size must be an int")
        if window is not None and (type(window) is not int or not 1 <= window <= _WINDOW_MAX):
            raise bad_args("window must be an int 1..%d" % _WINDOW_MAX)
        bs = min(max(block_size or _BLOCK, _BLOCK_MIN), _BLOCK_MAX)
        r = self.rec
        if r and r["hash"] == hsh and r["size"] == size and r["state"] != "failed":
            if r["state"] == "receiving":
                self.persist()  # the answer says where the persisted progress ends
                self.got = 0
                if block_size:
                    r["block_size"] = bs
                if window:
                    r["window"] = window
                return self.answer()
            return self.answer(True)  # received (verification pending) or staged
        if r and r["state"] in ("receiving", "received"):
            raise HubError("busy", "another transfer is in progress (%s): abort it first" % r["hash"][:16])
        if size > self.space(size):
            raise HubError("too_large", "%d bytes do not fit the free space" % size)
        self.close()
        self._drop_staging()
        with open(self.path, "wb"):
            pass
        self.rec = {"hash": hsh, "size": size, "block_size": bs, "window": window or _WINDOW, "offset": 0,
                    "state": "receiving"}
        self.saved = 0
        self.got = 0
        self.store.save("transfer", self.rec)
        return self.answer()

    def block(self, offset, data, reply=True):
        """Store one block; returns the answer (`done` after the last one),
        or None for a block that needs none (`reply` false and not the last):
        most blocks of a fast download build no answer at all."""
        # Every block comes here: the work is split so that each frame stays
        # within the 11 words MicroPython keeps on the C stack (a larger one
        # is a heap allocation per call, and collections follow).
        k = self._check(offset)
        self._file(offset, data, k)
        o = self.rec["offset"]
        if o >= self.rec["size"]:
            return self._complete()
        if reply:
            return {"offset": o, "need": self.need(), "done": False}

    def _check(self, offset):
        # The block's place in the window (offset = rec offset + k blocks),
        # after checking it is one the window still needs.
        r = self.rec
        if not r or r["state"] != "receiving":
            raise bad_args("no transfer in progress: offer first")
        if type(offset) is not int:
            raise bad_args("offset must be an int")
        d = offset - r["offset"]
        k = d // r["block_size"]
        if d < 0 or offset >= r["size"] or d % r["block_size"] or k >= r.get("window", _WINDOW) or \
                self.got & (1 << k):
            raise bad_args("block at %d not needed (need from %d)" % (offset, r["offset"]))
        return k

    def _file(self, offset, data, i):
        # Check the length, write the block, move the offset over the blocks
        # now contiguous.
        n = min(self.rec["block_size"], self.rec["size"] - offset)
        if data is None or len(data) != n:
            raise bad_args("block at %d must carry %d bytes" % (offset, n))
        f = self.f
        if f is None:
            f = self.f = open(self.path, "r+b")
            self.pos = -1
        if self.pos != offset:
            f.seek(offset)
        f.write(data)
        self.pos = offset + n
        self._step(self.got | (1 << i))

    def _step(self, got):
        r = self.rec
        o = p = r["offset"]
        bs = r["block_size"]
        while got & 1:
            o = min(o + bs, r["size"])
            got >>= 1
        self.got = got
        r["offset"] = o
        if o < r["size"]:
            self._emit(p)

    def _emit(self, p):
        # The offset moved on from p: persist every PERSIST bytes (but not
        # more often than every PERSIST_MS); an event every PROGRESS bytes.
        o = self.rec["offset"]
        if o - self.saved >= _PERSIST and time.ticks_diff(time.ticks_ms(), self.saved_at) >= PERSIST_MS:
            self.persist()
        if o // _PROGRESS != p // _PROGRESS:
            self.bus.emit("image.progress", {"offset": o, "size": self.rec["size"]})

    def _complete(self):
        self.close()
        self.rec["state"] = "received"
        self._save()
        return self.answer(True)

    def persist(self):
        """Flush the staging file, then record the progress (atomic)."""
        if self.f:
            self.f.flush()
        if self.rec and self.rec["offset"] != self.saved:
            self._save()

    def _save(self):
        self.store.save("transfer", self.rec)
        self.saved = self.rec["offset"]
        self.saved_at = time.ticks_ms()

    def close(self):
        if self.f:
            self.f.close()
            self.f = None

    def abort(self):
        r = self.rec
        self.close()
        self.store.remove("transfer")
        self.rec = None
        self._drop_staging()
        return r["hash"] if r else None

    def _restart(self, r):
        r["state"] = "receiving"
        r["offset"] = 0

    def _drop_staging(self):
        try:
            os.remove(self.path)
        except OSError:
            pass

