"""Hardware abstraction: board description, control UART, storage root, clock, reset.

load() picks the implementation: the emulated board (an `_emu` module injected
by the emulator's ROM script), Linux (Raspberry Pi, Unix port), ESP32 or RP2.
"""

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
    if p == "linux":
        from hub.hal.linux import Hal
    elif p == "esp32":
        from hub.hal.esp32 import Hal
    elif p == "rp2":
        from hub.hal.rp2 import Hal
    else:
        raise OSError("no HAL for platform %r" % p)
    return Hal(root)
