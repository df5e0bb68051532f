"""Hardware abstraction: board description, control UART, storage root, clock, reset.

load() picks the implementation: a board booted by the ROM script (`_emu`
injected: the emulated board, and the Raspberry Pi, whose flash is a file
too), ESP32 or RP2.
"""

# A slot stores the modules of every subpackage in one directory, hub/m (fewer littlefs
# directories: docs/IMAGES.md, section 3); in the source tree this is a normal package.
__path__ = globals().get("__path__") or __file__[:__file__.rfind("/")] + "/m"

import sys


def load(root="/"):
    """The HAL for this board, with the filesystem rooted at `root`."""
    try:
        import _emu
    except ImportError:
        _emu = None
    if _emu is not None:
        from hub.hal.emu import Hal

        return Hal(root, _emu)
    p = sys.platform
    if p not in ("esp32", "rp2"):
        # The Unix port (a Pi, a PC) boots the hub through the ROM script.
        raise OSError("no HAL for platform %r: start the hub with rom.py" % p)
    # The module's name is made here, not written in an import statement: the
    # names of a module's imports are qstrs as soon as it loads, and the other
    # platforms' would take heap on this one for good.
    return __import__("hub.hal." + p, None, None, ("Hal",)).Hal(root)
