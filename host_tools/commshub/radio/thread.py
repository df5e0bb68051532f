"""A VirtualAir on its own asyncio loop in a daemon thread, for threaded callers.

The emulator's board supervisor and plain (non-async) pytest code use it:
`AirThread().add_ncp(eui)` returns a VirtualNcp living on the air's loop;
`serve_fd`, `serve_tcp`, `open_pty` and `call` run on that loop and wait for
the result. Touch NCP objects only through `call` (e.g.
`air_thread.call(ncp.reset_ncp)`); listeners run on the air's thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import inspect
import threading
from typing import Any

import bellows.types as t

from commshub.radio.air import Listener, VirtualAir
from commshub.radio.ncp import VirtualNcp

CALL_TIMEOUT_S = 30.0


class AirThread:
    """Runs a VirtualAir on a loop in a daemon thread; every method is thread-safe."""

    def __init__(self, time_scale: float = 1.0, seed: int | None = None,
                 loss: float = 0.0, latency_s: float = 0.0) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="virtual-air",
                                        daemon=True)
        self._thread.start()
        self.air: VirtualAir = self.call(VirtualAir, time_scale, seed, loss, latency_s)

    def call(self, fn: Callable[..., Any], *args: Any, timeout: float = CALL_TIMEOUT_S,
             **kwargs: Any) -> Any:
        """Run fn(*args, **kwargs) on the air's loop (awaited if it is async); its result."""

        async def run() -> Any:
            out = fn(*args, **kwargs)
            return await out if inspect.isawaitable(out) else out

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    def add_ncp(self, eui64: t.EUI64 | str | bytes, **opts: Any) -> VirtualNcp:
        """A new NCP on the air (see VirtualAir.add_ncp)."""
        ncp: VirtualNcp = self.call(self.air.add_ncp, eui64, **opts)
        return ncp

    def serve_fd(self, ncp: VirtualNcp, fd: int) -> None:
        """Serve `ncp` on a file descriptor (e.g. the board's radio UART pty master)."""
        self.call(ncp.serve_fd, fd)

    def serve_tcp(self, ncp: VirtualNcp, host: str = "127.0.0.1", port: int = 0) -> int:
        """Serve `ncp` on TCP; the port."""
        self.call(ncp.serve_tcp, host, port)
        port_now: int = self.call(lambda: ncp.port)
        return port_now

    def open_pty(self, ncp: VirtualNcp) -> str:
        """A pty with `ncp` on it; the slave path."""
        path: str = self.call(ncp.open_pty)
        return path

    def add_listener(self, fn: Listener) -> None:
        """fn(event) for every AirEvent (called on the air's thread)."""
        self.call(self.air.add_listener, fn)

    def remove_listener(self, fn: Listener) -> None:
        """Stop calling fn (a no-op once the air is stopped)."""
        if self.loop.is_running():
            self.call(self.air.remove_listener, fn)

    def stop(self) -> None:
        """Close every NCP and stop the loop and the thread."""
        if not self.loop.is_running():
            return
        for ncp in list(self.air.radios.values()):
            self.call(ncp.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5.0)
        self.loop.close()

    def __enter__(self) -> AirThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
