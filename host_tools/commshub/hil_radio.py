"""HAN devices for HIL tests: BellowsDevice nodes driven from synchronous tests.

On the emulated board each device gets its own virtual NCP on the hub's air
(`EmulatedBoard.air`); on a bench, devices are real dongles given with
`--device-port` (one device per port). A device runs its bellows client on a
private event loop in a thread, so a test just calls `dev.join(...)`.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

from .radio.aesmmo import with_crc


def random_eui() -> str:
    """A locally administered EUI-64 (16 hex digits), unique enough for a test run."""
    return "06" + os.urandom(7).hex().upper()


class HanDevice:
    """One HAN device (a BellowsDevice) with a synchronous face."""

    def __init__(self, path: str, eui64: str | None, install_code: bytes, ncp: Any = None) -> None:
        from .radio.device import BellowsDevice

        self.eui64 = eui64
        self.install_code = install_code  # 16 bytes, no CRC (what the hub's log takes)
        self.ncp = ncp
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=f"han-device {eui64}", daemon=True)
        self._thread.start()
        self.dev = BellowsDevice(path, install_code=with_crc(install_code))
        self.run(self.dev.connect())
        if self.eui64 is None:
            self.eui64 = str(self.dev.eui64).replace(":", "").upper()

    def run(self, coro: Any, timeout: float = 40.0) -> Any:
        """Run a coroutine on the device's loop; its result (or its exception)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def join(self, hub_status: dict[str, Any], node_type: str = "router", timeout: float = 15.0) -> int:
        """Join the hub's network (from `han.status`); the short address, or JoinError."""
        return self.run(self.dev.join(channel=hub_status["channel"], pan_id=hub_status["pan_id"],
                                      ext_pan_id=hub_status["ext_pan_id"], node_type=node_type,
                                      timeout=timeout), timeout + 10)

    def send(self, payload: bytes, cluster: int = 0x0000, nwk: int = 0x0000) -> Any:
        """APS unicast to the hub; the delivery status from messageSentHandler."""
        return self.run(self.dev.send_unicast(nwk, payload, cluster=cluster))

    def receive(self, cluster: int | None = None, timeout: float = 10.0) -> Any:
        """The next APS frame the device receives (of `cluster`): commshub.radio.device.Received."""
        return self.run(self.dev.receive(timeout, cluster=cluster), timeout + 5)

    @property
    def log_entry(self) -> dict[str, Any]:
        """The `han.log.add` arguments for this device (type ESME unless changed)."""
        return {"eui64": self.eui64, "type": 1, "install_code": self.install_code.hex()}

    def close(self) -> None:
        try:
            self.run(self.dev.close(), 10)
        except Exception:  # noqa: BLE001 - best effort on the way out
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


class DeviceFactory:
    """Makes HAN devices on the hub's virtual air, or on real dongles (bench)."""

    def __init__(self, air: Any = None, ports: list[str] | None = None) -> None:
        self.air = air
        self.ports = list(ports or [])
        self.made: list[HanDevice] = []

    def __call__(self, install_code: bytes | None = None, eui64: str | None = None) -> HanDevice:
        code = install_code or os.urandom(16)
        if self.air is not None:
            eui64 = eui64 or random_eui()
            ncp = self.air.add_ncp(eui64)
            port = self.air.serve_tcp(ncp)
            dev = HanDevice(f"socket://127.0.0.1:{port}", eui64, code, ncp)
        elif self.ports:
            dev = HanDevice(self.ports.pop(0), None, code)
        else:
            import pytest

            pytest.skip("no HAN devices: the target has no virtual air and no --device-port was given")
        self.made.append(dev)
        return dev

    def close(self) -> None:
        for d in self.made:
            d.close()
        self.made.clear()
