"""The emulated board: the ROM script injects `_emu` (uart, reset, board)."""

from hub.hal.base import BaseHal


class Hal(BaseHal):
    platform = "emulator"

    def __init__(self, root, emu):
        super().__init__(root)
        self.emu = emu
        if not self.board.get("name"):
            self.board["name"] = getattr(emu, "board", "emulator")

    def reset_hint(self):
        # power_on, hard, soft or watchdog (the previous run crashed).
        return getattr(self.emu, "reset_cause", None)

    def control_streams(self):
        import asyncio

        u = self.emu.uart  # raw pty, VMIN=0/VTIME=0: reads never block the loop
        return asyncio.StreamReader(u), asyncio.StreamWriter(u, {})

    def radio_streams(self):
        import asyncio

        u = getattr(self.emu, "radio", None)  # the radio pty, opened like the control UART
        if u is None or not self.board.get("radio"):
            return None
        return asyncio.StreamReader(u), asyncio.StreamWriter(u, {})

    def reset(self):
        # Raises SystemExit(3): it must leave asyncio.run and the process so
        # the supervisor restarts it, as a reset would.
        self.emu.reset()
        raise SystemExit(3)
