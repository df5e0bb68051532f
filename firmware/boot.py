# boot.py: runs first on every reset and is never replaced by an image.
# It picks the app slot to run (docs/IMAGES.md, section 3): a pending slot
# gets at most 3 tries, a slot whose files do not match its manifest is not
# run, and a pending slot must be confirmed by the app within confirm_s or the
# board resets. It shares its globals with main.py: everything it makes is
# deleted at the end, but for the deadline task. No imports from the slots.
import sys
import json

_B = "/slots/boot.json"


def _ok(s):
    # Every file of slot s matches its manifest's SHA-256.
    import hashlib
    from binascii import hexlify

    d = "/slots/" + s + "/"
    try:
        with open(d + "manifest.json") as f:
            fs = json.load(f)["files"]
        b = bytearray(512)
        for e in fs:
            h = hashlib.sha256()
            with open(d + e["path"], "rb") as f:
                while True:
                    n = f.readinto(b)
                    if not n:
                        break
                    h.update(memoryview(b)[:n])
            if hexlify(h.digest()).decode() != e["sha256"]:
                return False
        return True
    except Exception:
        return False


def _boot():
    import os

    try:
        with open(_B) as f:
            r = json.load(f)
        if not isinstance(r, dict):
            r = {}
    except Exception:  # missing or unreadable: the factory slot
        r = {}
    old = dict(r)
    a = r.get("active")
    if a not in ("a", "b"):
        a = r["active"] = "a"
    p = r.get("pending")
    if p not in ("a", "b") or p == a:
        p = None
    ev = []

    def clear():
        r["pending"] = None
        r["attempts"] = 0
        r["rollback"] = False

    if p:
        n = r.get("attempts")
        n = (n if type(n) is int else 0) + 1
        if n > 3:  # crashed or never confirmed three times: back to active
            clear()
            ev.append({"kind": "rolled_back", "slot": p, "reason": "attempts"})
            p = None
        else:
            r["attempts"] = n
    elif r.get("pending") is not None:
        clear()
    s = p or a
    if not _ok(s):
        o = "b" if s == "a" else "a"
        e = {"kind": "verify_failed_at_boot", "slot": s}
        ev.append(e)
        if p:  # the pending image is damaged: drop it, stay on active
            clear()
            o = a
        if o != s and _ok(o):
            if o != a:  # the active image is damaged: the other one takes over
                r["active"] = o
                r["previous"] = None
            s = o
        else:
            e["both"] = True
            s = a
    if ev:
        x = r.get("event")
        r["event"] = ([x] if isinstance(x, dict) else x if isinstance(x, list) else []) + ev
    if r != old:
        with open(_B + ".tmp", "w") as f:
            json.dump(r, f)
        os.rename(_B + ".tmp", _B)
    sys.path.insert(0, "/slots/%s/lib" % s)
    if s == r.get("pending"):
        import asyncio

        t = r.get("confirm_s")
        asyncio.create_task(_deadline(s, t if type(t) is int and t > 0 else 30))


async def _deadline(s, t):
    # Reset unless the app confirmed slot s within t seconds.
    import asyncio

    await asyncio.sleep(t)
    try:
        with open(_B) as f:
            still = json.load(f).get("pending") == s
    except Exception:
        still = True
    if still:
        print("boot: slot %s not confirmed in %d s: reset" % (s, t))
        try:
            import _emu

            _emu.reset()  # raises SystemExit(3)
        except ImportError:
            import machine

            if hasattr(machine, "reset"):
                machine.reset()
        raise SystemExit(3)


_boot()
del _boot, _ok
import gc

gc.collect()
