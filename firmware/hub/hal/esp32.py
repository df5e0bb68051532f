"""ESP32: the control plane is the console UART0, shared with print()."""

import asyncio
import sys

from hub.hal.base import BaseHal


def console_streams():
    """Console streams with Ctrl-C disabled: frames carry 0x03 bytes."""
    import micropython

    micropython.kbd_intr(-1)
    i = getattr(sys.stdin, "buffer", sys.stdin)
    o = getattr(sys.stdout, "buffer", sys.stdout)
    return asyncio.StreamReader(i), asyncio.StreamWriter(o, {})


class Hal(BaseHal):
    platform = "esp32"

    def control_streams(self):
        return console_streams()

    def radio_streams(self):
        # The NCP on a hardware UART (ESP32 UART2, RP2 UART1), pins and flow control from board.json.
        r = self.board.get("radio")
        if not isinstance(r, dict) or type(r.get("uart")) is not int:
            return None
        from machine import UART

        kw = {"baudrate": r.get("baud", 115200), "tx": r["tx"], "rx": r["rx"], "rxbuf": 512}
        if r.get("flow") == "rtscts":
            kw["rts"] = r["rts"]
            kw["cts"] = r["cts"]
            kw["flow"] = UART.RTS | UART.CTS
        u = UART(r["uart"], **kw)
        return asyncio.StreamReader(u), asyncio.StreamWriter(u, {})

    def console_shared(self):
        return True

    def fallback_id(self):
        import machine
        import binascii

        u = binascii.hexlify(machine.unique_id()).decode().upper()
        return (u + "FFFE" + "0" * 16)[:16]

    def reset(self):
        import machine

        machine.reset()
