# boot.py: runs first on every reset and is never replaced by an image.
# It picks the app slot to run (docs/IMAGES.md, section 3) and puts it first
# on sys.path. Keep it small and free of imports from the slots.
import sys

try:
    import json

    with open("/slots/boot.json") as f:
        _slot = json.load(f).get("active", "a")
    if _slot not in ("a", "b"):
        _slot = "a"
except Exception:  # missing or unreadable: the factory slot
    _slot = "a"
sys.path.insert(0, "/slots/%s/lib" % _slot)
