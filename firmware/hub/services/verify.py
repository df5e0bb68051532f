"""Verification of a received image and staging into the inactive slot.

docs/IMAGES.md, section 4, in this order, each with its own code:
bad_hash, bad_format, bad_signature, wrong_manufacturer, wrong_image_type,
wrong_board, too_large, downgrade. Nothing is written before every check
passed; then the inactive slot is emptied and the MI unpacked into it
(manifest.json last), and image.json names it by its MI hash.

Runs in verify mode (hub.app): a boot of its own after the last block
arrived, with nothing else on the heap. The outcome goes into the transfer
record; the next normal boot reports it (handover).
"""

import gc
import os
import time
from binascii import hexlify

from hub import forget
from hub.errors import HubError
from hub.images import bundle
from hub.services.slots import META, need_blocks, other, tree_blocks, vtuple
from hub.services.store import free_blocks

BUF = 1024


def _err(code, msg):
    return HubError(code, msg)


def check(f, size, file_hash, ctx, buf):
    """Run every check on the open image `f`; returns (facts, mi_hash hex, layout).

    The manifest (the biggest object here) is boiled down to the few facts
    the later checks need and dropped before P-256 is loaded, so the two
    never share the heap.
    """
    f.seek(0)
    try:
        d = bundle.file_sha256(f, size, buf)
    except HubError:
        d = b""
    if hexlify(d).decode() != file_hash:
        raise _err("bad_hash", "the file's SHA-256 is not the one offered")
    from hub.images import gbcs

    f.seek(0)
    h = gbcs.parse_header(f.read(min(size, gbcs.HEADER_MAX)))
    if h.total_size != size:
        raise _err("bad_format", "header says %d bytes, the file has %d" % (h.total_size, size))
    lay = gbcs.layout(h)
    f.seek(lay[2])
    sig = gbcs.parse_trailer(f.read(gbcs.TRAILER))[1]
    h = (h.manufacturer, h.image_type, h.file_version, h.total_size)
    forget("hub.images.gbcs")  # not needed beyond the header: make room for the manifest
    m, mlen = bundle.read_manifest(f, lay[0], lay[1])
    mlen -= lay[0] + bundle.PREFIX
    v = vtuple(m["version"])
    if v[0] << 24 | v[1] << 16 | v[2] << 8 != h[2] & 0xFFFFFF00:
        raise _err("bad_format", "header version %s is not the manifest's %s"
                   % (hex(h[2]), m["version"]))
    slots = ctx.slots
    bs, free = free_blocks(slots.root)
    facts = {"version": m["version"], "min_version": m["min_version"], "file_version": h[2],
             "boards": ", ".join(m["boards"]), "board_ok": ctx.board in m["boards"],
             "need": need_blocks(m, mlen, bs)}
    if m.get("test_fault"):
        facts["test_fault"] = m["test_fault"]
    m = None
    gc.collect()
    digest = bundle.mi_sha256(f, lay[0], lay[1], buf)
    from hub.crypto import p256

    for k in ctx.keys:
        if p256.verify(k, digest, sig):
            break
    else:
        raise _err("bad_signature", "no trusted key verifies the signature")
    p256 = None
    forget("hub.crypto.p256")
    if h[0] != ctx.ids[0]:
        raise _err("wrong_manufacturer", "manufacturer 0x%04X, this hub takes 0x%04X" % (h[0], ctx.ids[0]))
    if h[1] != ctx.ids[1]:
        raise _err("wrong_image_type", "image type 0x%04X, this hub takes 0x%04X" % (h[1], ctx.ids[1]))
    if not facts["board_ok"]:
        raise _err("wrong_board", "image is for %s, this board is %s" % (facts["boards"], ctx.board))
    free += tree_blocks(slots.path(other(slots.running)), bs)  # the inactive slot is replaced
    if facts["need"] > free:
        raise _err("too_large", "the image needs %d blocks of %d bytes, the inactive slot can take %d"
                   % (facts["need"], bs, free))
    run = vtuple(slots.version(slots.running))
    if not vtuple(facts["version"]) > run:
        raise _err("downgrade", "version %s is not above the running %s" % (facts["version"], ".".join(str(x) for x in run)))
    if run < vtuple(facts["min_version"]):
        raise _err("downgrade", "the running version is below the image's min_version %s" % facts["min_version"])
    return facts, hexlify(digest).decode(), lay


def stage(path, size, file_hash, ctx):
    """Verify the image at `path` and unpack it into the inactive slot.

    Returns {"slot", "hash" (MI), "version"}; raises HubError with the
    verification code. Before the first write, the boot record forgets the
    slot (previous / scheduled): it is about to hold another image.
    """
    slots = ctx.slots
    s = other(slots.running)
    if slots.rec["pending"] is not None:
        raise HubError("busy", "a slot switch is pending: confirm or finish it first")
    buf = bytearray(BUF)
    with open(path, "rb") as f:
        facts, mi_hash, lay = check(f, size, file_hash, ctx, buf)
        gc.collect()
        r = slots.rec
        sc = r.get("scheduled")
        if r["previous"] == s or (sc and sc.get("slot") == s):
            slots.save(previous=None if r["previous"] == s else r["previous"],
                       scheduled=None if sc and sc.get("slot") == s else sc)
        meta = slots.path(s, META)
        try:
            os.remove(meta)
        except OSError:
            pass
        slots.forget(s)
        try:
            bundle.unpack(f, lay[0], lay[1], slots.path(s), buf)
        except OSError as e:
            bundle.remove_tree(slots.path(s))
            if e.args and e.args[0] == 28:  # ENOSPC
                raise _err("too_large", "the slot ran out of space while unpacking")
            raise
        except HubError:
            bundle.remove_tree(slots.path(s))
            raise
    d = facts
    for k in ("boards", "board_ok", "need"):
        del d[k]
    d["hash"] = mi_hash
    import json

    with open(meta + ".tmp", "w") as f:
        json.dump(d, f)
    os.rename(meta + ".tmp", meta)
    slots.forget(s)
    return {"slot": s, "hash": mi_hash, "version": d["version"]}


def finish(store, r, state, **kw):
    """Record the outcome (staged or failed, to be reported by the next
    normal boot), then drop the staging file (a cut in between: the
    transfer service drops it on the next start)."""
    r["state"] = state
    r["reported"] = False
    r.pop("tries", None)
    r.update(kw)
    store.save("transfer", r)
    try:
        os.remove(store.dir + "/staging.bin")
    except OSError:
        pass


class _Ctx:
    # What check() and stage() need of the hub: its slots and provisioning.
    def __init__(self, hal, slots):
        self.slots = slots
        self.board = hal.board.get("name", "unknown")
        self.ids = hal.image_ids()
        self.keys = hal.trusted_keys()


def run(root, r, hal):
    """Verify the received image of transfer record `r` and stage it.

    Returns the record as saved: `staged` (mi_hash, slot, version) or
    `failed` (code, message), or `receiving` from 0 if the staging file is
    not the size received (a damaged flash: the download starts over).
    """
    from hub.services.slots import Slots
    from hub.services.store import Store

    store = Store(root, None, "data/image")
    path = store.dir + "/staging.bin"
    try:
        got = os.stat(path)[6]
    except OSError:
        got = -1
    if got != r["size"]:
        r.update(state="receiving", offset=0)
        r.pop("tries", None)
        store.save("transfer", r)
        return r
    try:
        res = stage(path, r["size"], r["hash"], _Ctx(hal, Slots(root, None)))
    except HubError as e:
        finish(store, r, "failed", code=e.code, message=e.message)
    except MemoryError:
        gc.collect()
        finish(store, r, "failed", code="no_memory", message="not enough heap to verify the image")
    except Exception as e:  # a flash error, a bug: failed, not a boot loop
        finish(store, r, "failed", code="internal", message="%s: %s" % (type(e).__name__, e))
    else:
        finish(store, r, "staged", mi_hash=res["hash"], slot=res["slot"], version=res["version"])
    return r


def boot(root, r):
    """Verify mode (hub.app): verify, record the outcome, reset."""
    from hub import hal as hal_mod

    gc.collect()
    hal = hal_mod.load(root)
    print("commshub verify: image %s (%d bytes), boot %d of at most 3"
          % (r["hash"][:16], r["size"], r.get("tries", 1)))
    t = time.ticks_ms()
    r = run(root, r, hal)
    gc.collect()
    t = time.ticks_diff(time.ticks_ms(), t)
    s = r["state"]
    if s == "staged":
        print("commshub verify: %s staged in slot %s, MI hash %s (%d ms, heap %d used)"
              % (r["version"], r["slot"], r["mi_hash"], t, gc.mem_alloc()))
    elif s == "failed":
        print("commshub verify: refused: %s: %s (%d ms)" % (r["code"], r["message"], t))
    else:
        print("commshub verify: the staging file is damaged: the download starts over")
    print("commshub verify: reset into normal mode")
    hal.reset()
    raise SystemExit(3)
