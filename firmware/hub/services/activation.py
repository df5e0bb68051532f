"""Activation by MI hash (CS06), scheduled activation, rollback.

Loaded for one command and dropped again (the image service keeps only what
a download needs on the heap).

A switch is one atomic write of the boot record (pending = slot, attempts 0,
schedule cleared) followed by a reboot after the response is sent; boot.py
and the app's confirmation do the rest. A future-dated activation lives in
the boot record too (`scheduled`), so firing it and forgetting it are the
same write: it can neither be lost nor happen twice.
"""

from hub.codecs import is_hex
from hub.errors import HubError, bad_args
from hub.services.image_status import staged
from hub.services.slots import events_of, other
from micropython import const

_OUTCOMES = const(("success", "no_image_held", "hash_mismatch", "activation_failure"))
_REBOOT_MS = const(200)


# -- activation --------------------------------------------------------------


def _result(svc, outcome, at=None):
    return {"outcome": outcome, "outcome_name": _OUTCOMES[outcome],
            "running_version": svc.version, "at": at}


def activate(svc, hsh, at=None, confirm_s=None):
    """CS06: switch to the staged image named by its MI hash, now or at `at`.

    `confirm_s`: how long the new image gets to confirm itself (default 30 s).
    """
    if confirm_s is not None and (type(confirm_s) is not int or not 1 <= confirm_s <= 3600):
        raise bad_args("confirm_s must be an int from 1 to 3600")
    if not is_hex(hsh, 64):
        raise bad_args("hash must be the 64 hex digit MI hash")
    if at is not None and type(at) is not int:
        raise bad_args("at must be an int (UTC seconds)")
    hsh = hsh.lower()
    slots = svc.slots
    s = staged(slots)
    if s is None:
        return _result(svc, 1, at)
    if slots.meta(s)["hash"] != hsh:
        return _result(svc, 2, at)
    if slots.is_trial or svc.system.rebooting:
        return _result(svc, 3, at)  # mid-switch already
    try:
        if at is not None and at > svc.clock.utc():
            slots.save(scheduled={"slot": s, "hash": hsh, "at": at, "confirm_s": confirm_s})
            svc.bus.emit("image.scheduled", {"hash": hsh, "at": at, "version": slots.version(s)})
            return _result(svc, 0, at)
        slots.request(s, confirm_s=confirm_s)
    except OSError as e:
        svc.log.error("image: activation failed: %r" % (e,))
        return _result(svc, 3, at)
    svc.log.info("image: activating %s (slot %s)" % (slots.version(s), s))
    svc.system.reboot(_REBOOT_MS)
    return _result(svc, 0, at)


def cancel(svc):
    sc = svc.slots.rec.get("scheduled")
    if sc:
        svc.slots.save(scheduled=None)
        svc.bus.emit("image.scheduled", {"hash": sc["hash"], "at": None, "cancelled": True})
    return {"cancelled": sc["hash"] if sc else None}


def due(svc):
    """Fire the scheduled activation if the hub clock has passed it."""
    slots = svc.slots
    sc = slots.rec.get("scheduled")
    if not sc or svc.clock.utc() < sc["at"] or svc.system.rebooting or slots.is_trial:
        return False
    s = staged(slots)
    if s != sc["slot"] or slots.meta(s)["hash"] != sc["hash"]:
        slots.save(scheduled=None)  # the image it named is gone
        svc.bus.emit("image.scheduled", {"hash": sc["hash"], "at": None, "cancelled": True,
                                         "reason": "the image is no longer staged"})
        return False
    slots.request(s, confirm_s=sc.get("confirm_s"))  # one write: pending set, schedule gone
    svc.log.info("image: scheduled activation of %s fires" % slots.version(s))
    svc.system.reboot(_REBOOT_MS)
    return True


def rollback(svc):
    """Back to the previous image (a reboot); during a trial, back to active."""
    slots = svc.slots
    r = slots.rec
    if svc.system.rebooting:
        raise HubError("busy", "already rebooting")
    if slots.is_trial:
        ev = {"kind": "rolled_back", "slot": slots.running, "reason": "commanded",
              "from": svc.version, "to": slots.version(r["active"])}
        slots.save(pending=None, attempts=0, rollback=False, event=events_of(r) + [ev])
        to = r["active"]
    else:
        to = r["previous"]
        if to != other(slots.running) or not slots.meta(to) or not check_slot(svc, to):
            raise HubError("not_found", "no previous image to roll back to")
        slots.request(to, rollback=True)
    v = slots.version(to)
    svc.log.info("image: rolling back to %s (slot %s)" % (v, to))
    svc.system.reboot(_REBOOT_MS)
    return {"rolling_back_to": v}


def check_slot(svc, s):
    """True if every file of slot `s` matches its manifest."""
    import json

    try:
        from hub.images import bundle

        with open(svc.slots.path(s, "manifest.json")) as f:
            m = json.load(f)
        return not bundle.check_tree(svc.slots.path(s), m, bytearray(512))
    except Exception as e:
        svc.log.warn("image: slot %s does not check out (%r)" % (s, e))
        return False


# -- the download's end --------------------------------------------------------


def abort(svc):
    t = svc.transfer()
    h = None
    if t and t.rec:
        unfinished = t.state in ("receiving", "received")
        h = t.abort()
        if unfinished:
            svc.alert(0x8F89, "firmware_transfer_failed", None, transfer=h, reason="aborted")
    return {"aborted": h}
