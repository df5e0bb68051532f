# boot.py: runs first on every reset and is never replaced by an image update.
# Later it picks the active app slot (A/B), counts boot attempts and rolls
# back; for now there is one slot: /lib is already on sys.path.
