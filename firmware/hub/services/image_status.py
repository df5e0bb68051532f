"""image.status: what each slot holds, the download, the scheduled activation.

A module of its own, loaded for one command and dropped: the most frequent
image command should not bring the whole of activation (more than twice its
code) onto a heap that is busiest right after a download.
"""

import os

from hub.services.slots import other, vtuple


# -- what the slots hold -----------------------------------------------------


def staged(slots):
    """The slot holding an image that may be activated (newer than the
    running one, which is at least its min_version), or None."""
    s = other(slots.running)
    if slots.rec["pending"] == s:
        return None
    m = slots.meta(s)
    if not m or not m.get("hash"):
        return None
    run = vtuple(slots.version(slots.running))
    if vtuple(m["version"]) > run and run >= vtuple(m["min_version"]):
        return s
    return None


def state(slots, s):
    """active, pending, staged, previous (an older valid image), invalid or empty."""
    if slots.rec["pending"] == s:
        return "pending"
    if s == slots.running:
        return "active"
    if slots.meta(s):
        return "staged" if staged(slots) == s else "previous"
    try:
        return "invalid" if os.listdir(slots.path(s)) else "empty"
    except OSError:
        return "empty"


def _transfer(svc):
    # The download in progress says it itself; a finished one (staged,
    # failed) is read from its record, without loading the download's code.
    t = svc.xfer
    if t:
        return t.status()
    r = svc.store.load("transfer", {})
    if not r.get("state"):
        return None
    d = {"transfer": r.get("hash"), "size": r.get("size"), "offset": r.get("offset"),
         "block_size": r.get("block_size"), "state": r["state"]}
    if r["state"] == "staged":
        d.update(hash=r.get("mi_hash"), slot=r.get("slot"), version=r.get("version"))
    elif r["state"] == "failed":
        d.update(code=r.get("code"), message=r.get("message"))
    return d


def status(svc):
    s = svc.slots
    run = s.running
    slots = {}
    for x in ("a", "b"):
        m = s.meta(x) or {}
        slots[x] = {"state": state(s, x), "version": m.get("version"), "hash": m.get("hash")}
    sc = s.rec.get("scheduled")
    if sc:
        sc = dict(sc)
        sc["version"] = s.version(sc["slot"])
    return {"running": {"slot": run, "version": svc.version, "hash": (s.meta(run) or {}).get("hash"),
                        "state": slots[run]["state"]},
            "slots": slots, "transfer": _transfer(svc),
            "scheduled": sc, "previous": s.rec["previous"]}
