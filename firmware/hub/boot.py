"""Verify mode or normal mode: the start-up decision (docs/IMAGES.md, section 4).

hub.app asks here, before any of the app's code is loaded, when a transfer
record exists (the module is dropped again afterwards). A download whose
last block arrived (`received`) is verified in a boot of its own, as
MCUboot-style updaters do: the verifier, the image codecs, P-256 and the
manifest then have the heap to themselves. Verify mode loads only the store,
the slots, the codecs and the verifier (no links, no command registry, no
asyncio), records the outcome in the transfer record and resets into normal
mode, which reports it (handover).

Each verify-mode boot is counted in the record before the verifier loads: a
power cut re-runs it (unpacking is idempotent), and a verification that
crashes every time ends as `failed` after _TRIES boots instead of looping.
"""

from hub.services.store import join
from micropython import const

_TRANSFER = const("data/image/transfer.json")
_BOOT_REC = const("slots/boot.json")
_TRIES = const(3)


def _read(root, name):
    import json

    try:
        with open(join(root, name)) as f:
            r = json.load(f)
    except Exception:  # missing or unreadable
        return None
    return r if isinstance(r, dict) else None


def verify_due(root):
    """The transfer record if this boot is to verify it, else None.

    Due when the record is `received` and no slot is on trial (boot.json
    `pending`): the inactive slot of a trial is the rollback target, so the
    image waits until the trial is confirmed or rolled back.
    """
    r = _read(root, _TRANSFER)
    if r is None or r.get("state") != "received":
        return None
    b = _read(root, _BOOT_REC) or {}
    p = b.get("pending")
    if p in ("a", "b") and p != b.get("active", "a"):
        return None
    return r


def count_try(root, r):
    """Count this verify-mode boot in record `r`; False (and `r` failed) once
    _TRIES boots did not finish it."""
    from hub.services.store import Store

    st = Store(root, None, "data/image")
    n = r.get("tries")
    n = (n if type(n) is int and n > 0 else 0) + 1
    if n > _TRIES:
        r.update(state="failed", code="internal", reported=False,
                 message="verification did not finish in %d boots" % _TRIES)
        r.pop("tries", None)
        st.save("transfer", r)
        print("commshub verify: gave up after %d boots" % _TRIES)
        return False
    r["tries"] = n
    st.save("transfer", r)
    return True


def boot(root):
    """Verify mode if due (does not return: it resets), else return.

    hub.app calls it at start-up, before the app's code is loaded, when a
    transfer record exists; this module is dropped again afterwards."""
    r = verify_due(root)
    if r is not None and count_try(root, r):
        from hub.services import verify

        verify.boot(root, r)  # records the outcome and resets
