"""Pure-MicroPython cryptography the hub needs (no native modules)."""
