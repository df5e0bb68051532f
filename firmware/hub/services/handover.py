"""Start-up hand-over of the image service, run once per boot and unloaded.

Confirm a pending slot (after the app's self-test) and turn the boot record's
events into alerts (docs/IMAGES.md, sections 3 and 5):

    version_changed        -> 0x8F43 firmware_version_changed
    rolled_back            -> 0x8F43 and image.rolled_back {reason}
    verify_failed_at_boot  -> 0x8F1B, and the damaged slot is marked invalid

and the outcome verify mode recorded in the transfer record:

    staged  -> 0x8F8A firmware_transfer_succeeded, 0x8F72 firmware_verification_successful
    failed  -> 0x8F8A, 0x8F1C firmware_verification_failed {reason: the code}

Events are cleared (the record marked `reported`) only after they were
emitted: a power cut in between reports them again on the next start (at
least once, never lost).
"""

import os

from hub.services.slots import META, SLOTS, events_of


def self_test(svc, reg):
    """The registry answers ping and the store round-trips."""
    try:
        r = reg.dispatch("ping", {"echo": "self-test"})[0]
        n = {"n": svc.system.boot_count}
        svc.store.save("selftest", n)
        ok = r.get("echo") == "self-test" and svc.store.load("selftest", {}) == n
        svc.store.remove("selftest")
        return ok
    except Exception as e:
        svc.log.exc("image: self-test", e)
        return False


def confirm_slot(s):
    """Make the running (pending) slot active; record the switch as an event.

    One atomic write: active = running, previous = old active, pending
    cleared, and the event that reports it (0x8F43, and image.rolled_back
    for a commanded rollback) appended for the hand-over.
    """
    r = s.rec
    if r["pending"] != s.running:
        return False
    old = r["active"]
    ev = {"kind": "rolled_back" if r.get("rollback") else "version_changed",
          "slot": old, "from": s.version(old), "to": s.version(s.running)}
    if r.get("rollback"):
        ev["reason"] = "commanded"
    sc = r.get("scheduled")
    s.save(active=s.running, previous=old, pending=None, attempts=0, rollback=False,
           event=events_of(r) + [ev], scheduled=None if sc and sc.get("slot") == s.running else sc)
    return True


def confirm(svc, reg):
    s = svc.slots
    if not s.is_trial:
        return
    if svc.fault == "never_confirm":
        svc.log.warn("image: test fault never_confirm: not confirming")
    elif self_test(svc, reg):
        confirm_slot(s)
        svc.log.info("image: slot %s (%s) confirmed" % (s.running, svc.version))
    else:
        svc.log.error("image: self-test failed: not confirming")


def report(svc):
    s = svc.slots
    h = (s.meta(s.running) or {}).get("hash")
    for e in events_of(s.rec):
        k = e.get("kind")
        slot = e.get("slot")
        if slot not in SLOTS:
            slot = None
        if k in ("version_changed", "rolled_back"):
            frm = e.get("from")
            if not frm and slot:
                frm = s.version(slot)  # boot.py's rollback: the failed image is still there
            to = e.get("to") or svc.version
            svc.alert(0x8F43, "firmware_version_changed", h, old_version=frm, new_version=to,
                      slot=s.running)
            if k == "rolled_back":
                svc.bus.emit("image.rolled_back", {"reason": e.get("reason"), "slot": slot,
                                                   "from_version": frm, "version": to})
        elif k == "verify_failed_at_boot":
            bad = (s.meta(slot) or {}).get("hash") if slot else None
            svc.alert(0x8F1B, "firmware_verification_failed_at_power_on", bad, slot=slot,
                      both=bool(e.get("both")))
            if slot and slot != s.running and slot != s.rec["pending"]:
                invalidate(s, slot)
    if s.rec.get("event"):
        s.save(event=None)


def invalidate(s, slot):
    """A slot that failed its check at power-on is never offered again."""
    r = s.rec
    sc = r.get("scheduled")
    if r["previous"] == slot or (sc and sc.get("slot") == slot):
        s.save(previous=None if r["previous"] == slot else r["previous"],
               scheduled=None if sc and sc.get("slot") == slot else sc)
    for n in (META, "manifest.json"):
        try:
            os.remove(s.path(slot, n))
        except OSError:
            pass
    s.forget(slot)


def report_transfer(svc):
    """Alerts for the verification verify mode ran, once (docs/IMAGES.md, 4).

    Works on the record itself: the download's code need not be loaded."""
    r = svc.store.load("transfer", {})
    if r.get("reported") is not False or r.get("state") not in ("staged", "failed"):
        return False
    svc.alert(0x8F8A, "firmware_transfer_succeeded", None, transfer=r["hash"], size=r["size"])
    if r["state"] == "staged":
        svc.log.info("image: %s verified and staged in slot %s" % (r.get("version"), r.get("slot")))
        svc.alert(0x8F72, "firmware_verification_successful", r.get("mi_hash"), version=r.get("version"),
                  slot=r.get("slot"), transfer=r["hash"])
    else:
        svc.log.warn("image: %s refused: %s: %s" % (r["hash"][:16], r.get("code"), r.get("message")))
        svc.alert(0x8F1C, "firmware_verification_failed", None, reason=r.get("code"),
                  message=r.get("message"), transfer=r["hash"])
    r["reported"] = True
    svc.store.save("transfer", r)
    if svc.xfer:
        svc.xfer.rec = r
    return True


def run(svc, reg):
    confirm(svc, reg)
    report(svc)
    report_transfer(svc)
    svc.report_due = False
    s = svc.slots
    r = svc.store.load("transfer", {})
    if r.get("state") == "staged" and r.get("slot") == s.running and not s.is_trial:
        # that image runs now: the transfer is history
        if svc.xfer:
            svc.xfer.abort()
        else:
            svc.store.remove("transfer")
