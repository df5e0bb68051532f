"""Shared set-up for the HAN device tests: a virtual air, a bellows stand-in hub, devices."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from commshub.han.runtime import HanDevice, Network
from commshub.han.standin import HubStandIn
from commshub.radio import VirtualAir
from commshub.radio.aesmmo import with_crc

HUB = "02AABBCCDDEEFF01"
NETWORK = Network(channel=15, pan_id=0x1A62, ext_pan_id=HUB)
TOP_UP_KEY = b"test-top-up-key"
# 1 am UTC on a day: the load curve rises steadily for the next few hours
START = 86400.0 * 20000 + 3600.0


def code(n: int) -> bytes:
    """A distinct install code with its CRC."""
    return with_crc(bytes([n]) * 16)


def run(coro_fn: Callable[[], Awaitable[Any]], timeout: float = 90.0) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro_fn(), timeout)
    return asyncio.run(bounded())


async def port(air: VirtualAir, eui: str) -> str:
    ncp = air.add_ncp(eui, protocol_version=8, startup_rstack_delay=0.0)
    await ncp.serve_tcp()
    return f"socket://127.0.0.1:{ncp.port}"


@contextlib.asynccontextmanager
async def hub_on(air: VirtualAir, **kw: Any) -> AsyncIterator[HubStandIn]:
    hub = HubStandIn(await port(air, HUB), **kw)
    await hub.start(NETWORK)
    try:
        yield hub
    finally:
        await hub.stop()


@contextlib.asynccontextmanager
async def joined(air: VirtualAir, hub: HubStandIn, eui: str, cls: type[HanDevice], n: int,
                 **kw: Any) -> AsyncIterator[Any]:
    """A device of model `cls` on a new NCP, admitted by the hub and joined."""
    dev = cls(await port(air, eui), install_code=code(n), **kw)
    await hub.admit(eui, code(n))
    await dev.start(NETWORK)
    try:
        yield dev
    finally:
        await dev.stop()


async def until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.02)
