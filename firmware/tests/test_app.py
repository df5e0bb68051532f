"""App wiring: an uncaught task exception becomes a logged crash reset."""

import asyncio

from hub.app import App


class BareApp(App):
    # Only what _task/_guard need: the full constructor wants a board.
    def __init__(self):
        self.system = FakeSystem()


class FakeSystem:
    def __init__(self):
        self.crashes = []

    def crash(self, where, e):
        self.crashes.append((where, type(e).__name__))
        raise SystemExit(3)  # what a reset does on the emulator


def test_task_exception_resets_with_crash():
    app = BareApp()

    async def bad():
        await asyncio.sleep_ms(1)
        raise ValueError("boom")

    async def main():
        app._task("bad", bad())
        await asyncio.sleep_ms(50)

    try:
        asyncio.run(main())
    except SystemExit as e:
        assert e.args[0] == 3
    else:
        raise AssertionError("SystemExit did not leave asyncio.run")
    assert app.system.crashes == [("bad", "ValueError")]
    asyncio.new_event_loop()


def test_cancel_is_not_a_crash():
    app = BareApp()

    async def forever():
        await asyncio.sleep(10)

    async def main():
        t = app._task("f", forever())
        await asyncio.sleep_ms(1)
        t.cancel()
        await asyncio.sleep_ms(1)

    asyncio.run(main())
    assert app.system.crashes == []
    asyncio.new_event_loop()
