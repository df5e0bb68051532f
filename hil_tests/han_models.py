"""The HAN device emulators (commshub.han: Esme, Gsme, Ppmid) joined to the hub under test.

Each model runs on its own event loop in a thread, on a virtual NCP on the hub's air
(emulated board) or on a real dongle (`--device-port`, one per device), so a synchronous
test drives it with `model.run(coro)` and reads its state directly.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

import pytest

from commshub.han.clock import SimClock
from commshub.han.runtime import Network
from commshub.hil_radio import random_eui
from commshub.radio.aesmmo import with_crc

from test_han_join import alert, wait_can_join, wait_han_up

LOG_TYPE = {"gsme": 0, "esme": 1, "ppmid": 5}


class Model:
    """One emulated device (an instance of `cls`) and the loop it runs on."""

    def __init__(self, path: str, eui64: str | None, cls: type, **kw: Any) -> None:
        self.code = os.urandom(16)
        self.eui64 = eui64
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True, name=f"model {eui64}")
        self._thread.start()
        self.dev = cls(path, install_code=with_crc(self.code), **kw)
        self.started = False

    def run(self, coro: Any, timeout: float = 60.0) -> Any:
        """Run a coroutine on the model's loop; its result (or its exception)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Any, *args: Any) -> Any:
        """Call a plain function on the model's loop (its state is the loop's)."""
        async def go() -> Any:
            return fn(*args)
        return self.run(go())

    def join(self, hub: Any, join_s: int = 300) -> int:
        """Add the device to the hub's log, join; its short address once the hub says it joined."""
        st = wait_han_up(hub)
        if self.eui64 is None:  # a real dongle: its own EUI-64 (start() connects again)
            self.run(self.dev.radio.connect())
            self.eui64 = str(self.dev.radio.eui64).replace(":", "").upper()
            self.run(self.dev.radio.close())
        hub.request("han.log.add", {"eui64": self.eui64, "type": LOG_TYPE[self.dev.kind],
                                    "install_code": self.code.hex(), "join_s": join_s})
        wait_can_join(hub, self.eui64)
        nwk = self.run(self.dev.start(Network(st["channel"], st["pan_id"], st["ext_pan_id"])), 90)
        self.started = True
        alert(hub.serial, 0x8F49, eui64=self.eui64, timeout=20)
        return nwk

    def close(self) -> None:
        if self.started:
            try:
                self.run(self.dev.stop(), 10)
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


@pytest.fixture
def han_models(hub: Any, request: pytest.FixtureRequest):
    """A factory: `han_models(Esme, time_scale=.., **model options)` -> a Model not yet joined."""
    emu = getattr(hub.target, "emu", None)
    air = emu.air if emu is not None else None
    ports = list(request.config.getoption("--device-port") or [])
    made: list[Model] = []

    def make(cls: type, time_scale: float = 1.0, **kw: Any) -> Model:
        kw.setdefault("clock", SimClock(time_scale=time_scale))
        if air is not None:
            eui = random_eui()
            path = f"socket://127.0.0.1:{air.serve_tcp(air.add_ncp(eui))}"
        elif ports:
            eui, path = None, ports.pop(0)
        else:
            pytest.skip("no HAN devices: the target has no virtual air and no --device-port was given")
        m = Model(path, eui, cls, **kw)
        made.append(m)
        return m

    yield make
    for m in made:
        m.close()
        if m.eui64:
            try:
                hub.request("han.log.remove", {"eui64": m.eui64}, timeout=5)
            except Exception:  # noqa: BLE001 - not in the log
                pass
