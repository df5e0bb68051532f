"""The virtual NCP (commshub.radio) against stock bellows, and its ASH link byte by byte."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
import time
from typing import Any

from bellows.ash import (
    AckFrame,
    AshProtocol,
    DataFrame,
    NakFrame,
    Reserved,
    RStackFrame,
    RstFrame,
    parse_frame,
)
from bellows.exception import InvalidCommandError
from bellows.ezsp import EZSP
import bellows.types as t
import pytest
import zigpy.config
import zigpy.exceptions

from commshub.radio import VirtualNcp

EUI = "00:11:22:33:44:55:66:77"


def run(coro_fn: Callable[[], Awaitable[Any]], timeout: float = 30.0) -> Any:
    """Run one async test body with a hard time bound."""

    async def bounded() -> Any:
        return await asyncio.wait_for(coro_fn(), timeout)

    return asyncio.run(bounded())


@contextlib.asynccontextmanager
async def bellows_on(ncp: VirtualNcp) -> AsyncIterator[EZSP]:
    """A stock bellows EZSP host connected to `ncp` over socket://."""
    await ncp.serve_tcp("127.0.0.1", 0)
    cfg = zigpy.config.SCHEMA_DEVICE(
        {zigpy.config.CONF_DEVICE_PATH: f"socket://127.0.0.1:{ncp.port}"}
    )
    ezsp = EZSP(cfg)
    try:
        await ezsp.connect(use_thread=False)
        yield ezsp
    finally:
        await ezsp.disconnect()
        await ncp.close()


@pytest.mark.parametrize("version", [8, 13])
def test_bellows_connects_resets_and_negotiates(version: int) -> None:
    ncp = VirtualNcp(protocol_version=version, eui64=EUI)

    async def body() -> None:
        t0 = time.monotonic()
        async with bellows_on(ncp) as ezsp:
            elapsed = time.monotonic() - t0
            assert ezsp.ezsp_version == version
            (eui,) = await ezsp.getEui64()
            assert str(eui) == EUI
            # bellows on socket:// waits 2 s for an unsolicited RSTACK, then resets.
            assert elapsed < 4.0
        # RST path: legacy version(4), then version again in our frame format.
        assert ncp.received[:2] == ["version", "version"]
        if version >= 13:
            assert ncp.received[2] == "customFrame"  # the XNCP probe
        assert ncp.unhandled == []

    run(body)


def test_unsolicited_rstack_skips_the_host_reset_wait() -> None:
    ncp = VirtualNcp(protocol_version=13, eui64=EUI, startup_rstack_delay=0.0)

    async def body() -> None:
        t0 = time.monotonic()
        async with bellows_on(ncp) as ezsp:
            assert time.monotonic() - t0 < 1.0
            assert ezsp.ezsp_version == 13

    run(body)


def test_unknown_command_gets_invalid_command_not_a_timeout() -> None:
    ncp = VirtualNcp(protocol_version=8, startup_rstack_delay=0.0)

    async def body() -> None:
        async with bellows_on(ncp) as ezsp:
            t0 = time.monotonic()
            with pytest.raises(InvalidCommandError):
                await ezsp.getRouteTableEntry(0)
            assert time.monotonic() - t0 < 1.0
            assert ncp.unhandled == ["getRouteTableEntry"]
            # The link is still good afterwards.
            (status,) = await ezsp.networkState()
            assert status == t.EmberNetworkStatus.NO_NETWORK

    run(body)


def test_network_init_then_form_network() -> None:
    ncp = VirtualNcp(protocol_version=8, startup_rstack_delay=0.0)
    params = t.EmberNetworkParameters(
        extendedPanId=t.ExtendedPanId.convert("aa:bb:cc:dd:ee:ff:00:11"),
        panId=t.EmberPanId(0x1A62),
        radioTxPower=8,
        radioChannel=15,
        joinMethod=t.EmberJoinMethod.USE_MAC_ASSOCIATION,
        nwkManagerId=t.EmberNodeId(0),
        nwkUpdateId=0,
        channels=t.Channels.ALL_CHANNELS,
    )

    async def body() -> None:
        async with bellows_on(ncp) as ezsp:
            (status,) = await ezsp.networkInit(t.EmberNetworkInitBitmask.NETWORK_INIT_NO_OPTIONS)
            assert status == t.EmberStatus.NOT_JOINED
            (status,) = await ezsp.setPolicy(
                t.EzspPolicyId.TRUST_CENTER_POLICY, t.EzspDecisionBitmask.ALLOW_JOINS
            )
            assert status == t.EzspStatus.SUCCESS
            # Like EmberZNet: no network without a security state first.
            with pytest.raises(zigpy.exceptions.FormationFailure, match="SECURITY_STATE_NOT_SET"):
                await ezsp.formNetwork(params)
            state = t.EmberInitialSecurityState(
                bitmask=t.EmberInitialSecurityBitmask.HAVE_PRECONFIGURED_KEY
                | t.EmberInitialSecurityBitmask.HAVE_NETWORK_KEY,
                preconfiguredKey=t.KeyData(b"ZigBeeAlliance09"),
                networkKey=t.KeyData(bytes(range(16))),
                networkKeySequenceNumber=0,
                preconfiguredTrustCenterEui64=t.EUI64(bytes(8)),
            )
            assert (await ezsp.setInitialSecurityState(state))[0] == t.EmberStatus.SUCCESS
            # bellows' formNetwork waits for stackStatusHandler NETWORK_UP.
            await ezsp.formNetwork(params)
            status, node_type, got = await ezsp.getNetworkParameters()
            assert status == t.EmberStatus.SUCCESS
            assert node_type == t.EmberNodeType.COORDINATOR
            assert got.panId == 0x1A62 and got.radioChannel == 15
            assert (await ezsp.networkState())[0] == t.EmberNetworkStatus.JOINED_NETWORK
            assert (await ezsp.getNodeId())[0] == 0x0000
            assert (await ezsp.permitJoining(60))[0] == t.EmberStatus.SUCCESS
            status, key = await ezsp.getKey(t.EmberKeyType.CURRENT_NETWORK_KEY)
            assert status == t.EmberStatus.SUCCESS and bytes(key.key) == bytes(range(16))
            (status, value) = await ezsp.getConfigurationValue(
                t.EzspConfigId.CONFIG_KEY_TABLE_SIZE
            )
            assert status == t.EzspStatus.SUCCESS and value > 0

    run(body)


# -- ASH, byte by byte -----------------------------------------------------------


class RawHost:
    """A minimal ASH host on a TCP stream, to poke the NCP's link layer directly."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buf = b""

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    def send(self, frame: Any) -> None:
        self.writer.write(AshProtocol._stuff_bytes(frame.to_bytes()) + bytes([Reserved.FLAG]))

    async def recv(self, timeout: float = 2.0) -> Any:
        while bytes([Reserved.FLAG]) not in self.buf:
            self.buf += await asyncio.wait_for(self.reader.read(4096), timeout)
        raw, _, self.buf = self.buf.partition(bytes([Reserved.FLAG]))
        return parse_frame(AshProtocol._unstuff_bytes(raw))


def test_ash_reset_ack_retransmit_and_nak() -> None:
    ncp = VirtualNcp(protocol_version=8, t_rx_ack=0.2)

    async def body() -> None:
        await ncp.serve_tcp("127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", ncp.port)
        host = RawHost(reader, writer)
        try:
            # RST as bellows sends it (cancel bytes first): RSTACK v2, software reset.
            host.send_raw(b"\x1a" * 32 + bytes.fromhex("c038bc7e"))
            rstack = await host.recv()
            assert rstack == RStackFrame(version=2, reset_code=t.NcpResetCode.RESET_SOFTWARE)
            # The protocol-facts vector: DATA(0,0,0) carrying legacy version(4).
            host.send_raw(bytes.fromhex("004221a850ed2c7e"))
            assert await host.recv() == AckFrame(res=0, ncp_ready=0, ack_num=1)
            rsp = await host.recv()
            assert isinstance(rsp, DataFrame)
            assert (rsp.frm_num, rsp.re_tx, rsp.ack_num) == (0, False, 1)
            assert rsp.ezsp_frame[:4] == bytes([0x00, 0x80, 0x00, 8])  # legacy, v8
            # Not acknowledged: the NCP sends it again with reTx set.
            again = await host.recv(timeout=1.0)
            assert (again.frm_num, again.re_tx, again.ezsp_frame) == (0, True, rsp.ezsp_frame)
            host.send(AckFrame(res=0, ncp_ready=0, ack_num=1))
            # A damaged DATA frame (bad CRC) is NAKed with the frame number we expect.
            good = DataFrame(frm_num=1, re_tx=False, ack_num=1, ezsp_frame=b"\x01\x00\x01\x05\x00")
            damaged = bytearray(good.to_bytes())
            damaged[-1] ^= 0xFF
            host.send_raw(AshProtocol._stuff_bytes(bytes(damaged)) + b"\x7e")
            assert await host.recv() == NakFrame(res=0, ncp_ready=0, ack_num=1)
            # Out of sequence (frame 3 when 1 is due), still rejecting: no second NAK;
            # then the good frame (nop) is ACKed and answered.
            host.send(good.replace(frm_num=3))
            host.send(good)
            assert await host.recv() == AckFrame(res=0, ncp_ready=0, ack_num=2)
            nop = await host.recv()
            assert (nop.frm_num, nop.ack_num) == (1, 2)
            assert nop.ezsp_frame == bytes([0x01, 0x80, 0x01, 0x05, 0x00])
            # A retransmitted copy of a frame already received: ACKed, not answered twice.
            host.send(good.replace(re_tx=True, ack_num=2))  # also acks the nop response
            assert await host.recv() == AckFrame(res=0, ncp_ready=0, ack_num=2)
            with pytest.raises(TimeoutError):
                await host.recv(timeout=0.5)
        finally:
            writer.close()
            await ncp.close()

    run(body)


def test_legacy_frame_other_than_version_gets_legacy_invalid_command() -> None:
    ncp = VirtualNcp(protocol_version=8)

    async def body() -> None:
        await ncp.serve_tcp("127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", ncp.port)
        host = RawHost(reader, writer)
        try:
            host.send(RstFrame())
            assert isinstance(await host.recv(), RStackFrame)
            # bellows' watchdog: readCounters (0xF1) in the legacy frame, before version.
            host.send(DataFrame(frm_num=0, re_tx=False, ack_num=0, ezsp_frame=b"\x07\x00\xf1"))
            assert await host.recv() == AckFrame(res=0, ncp_ready=0, ack_num=1)
            rsp = await host.recv()
            assert rsp.ezsp_frame == bytes([0x07, 0x80, 0x58, t.EzspStatus.ERROR_VERSION_NOT_SET])
        finally:
            writer.close()
            await ncp.close()

    run(body)


@pytest.mark.parametrize("version", [8, 13])
def test_every_command_with_random_bytes_gets_one_answer_first(version: int) -> None:
    """Fuzz: each EZSP command id with random payloads is answered (its response or
    invalidCommand) with the host's sequence number, before any callback; nothing escapes."""
    import random

    rng = random.Random(version)

    async def body() -> None:
        ncp = VirtualNcp(protocol_version=version)
        ids = sorted({cid for cid, _, _ in ncp.commands.values()})
        answered = 0
        for round_ in range(6):
            for cid in ids:
                seq = rng.randrange(256)
                payload = bytes(rng.randrange(256) for _ in range(rng.choice((0, 1, 3, 8, 20, 70))))
                frame = bytes([seq, 0x00, 0x01]) + cid.to_bytes(2, "little") + payload
                out = ncp.handle_frame(frame)
                assert out, (cid, payload.hex())
                first = out[0]
                assert first[0] == seq and first[1] == 0x80
                assert int.from_bytes(first[3:5], "little") in (cid, 0x0058)
                answered += 1
            await asyncio.sleep(0)  # let started radio activity run between rounds
        assert answered == 6 * len(ids)
        # Only commands without a handler were refused as unknown: no handler broke on
        # a request it could parse (unparseable ones are answered ERROR_INVALID_VALUE).
        from commshub.radio.ncp import _HANDLERS

        assert not [n for n in ncp.unhandled if n in _HANDLERS]
        await ncp.close()

    run(body)


def test_ash_link_survives_random_bytes_and_still_talks() -> None:
    """10,000 random chunks (with flags, escapes, cancel and substitute bytes mixed in)
    on the NCP's UART: no exception; afterwards a reset and a command still work."""
    import random

    rng = random.Random(7)
    ncp = VirtualNcp(protocol_version=8, t_rx_ack=0.05)

    async def body() -> None:
        await ncp.serve_tcp("127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", ncp.port)
        host = RawHost(reader, writer)
        try:
            specials = b"\x7e\x7d\x1a\x18\x11\x13\xc0"
            for _ in range(10_000):
                chunk = bytes(rng.choice(specials) if rng.random() < 0.2 else rng.randrange(256)
                              for _ in range(rng.randrange(1, 12)))
                host.send_raw(chunk)
            await writer.drain()
            host.send_raw(b"\x1a" + b"\x7e")  # cancel whatever is half-received
            await asyncio.sleep(0.3)
            host.buf = b""
            while True:  # drop whatever the NCP answered to the noise
                try:
                    await asyncio.wait_for(reader.read(65536), 0.3)
                except TimeoutError:
                    break
            host.send(RstFrame())
            while not isinstance(await host.recv(), RStackFrame):
                pass
            host.send_raw(bytes.fromhex("004221a850ed2c7e"))  # legacy version(4)
            assert await host.recv() == AckFrame(res=0, ncp_ready=0, ack_num=1)
            rsp = await host.recv()
            assert rsp.ezsp_frame[:4] == bytes([0x00, 0x80, 0x00, 8])
        finally:
            writer.close()
            await ncp.close()

    run(body, timeout=120)


def test_paced_uart_takes_at_least_the_line_time_of_its_bytes() -> None:
    with pytest.raises(ValueError):
        VirtualNcp(baud=0)
    ncp = VirtualNcp(protocol_version=8, startup_rstack_delay=0.0, baud=9600)

    async def body() -> None:
        async with bellows_on(ncp) as ezsp:
            t0 = time.monotonic()
            (eui,) = await ezsp.getEui64()
            elapsed = time.monotonic() - t0
            # At least: request DATA frame (5 EZSP + control + CRC + flag = 9 bytes) in,
            # response (5 + 8 EUI-64 + 4) out, 10 bits a byte at 9600 baud.
            assert elapsed >= (9 + 17) * 10 / 9600
            assert eui == ncp.eui64

    run(body)
