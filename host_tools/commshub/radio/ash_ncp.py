"""The NCP side of ASH (Silicon Labs' UART framing for EZSP) over an asyncio stream.

Frame encoding is bellows': its frame classes (`DataFrame`, `AckFrame`, ...)
do the CRC and the data randomisation, `AshProtocol._stuff_bytes` /
`_unstuff_bytes` the byte stuffing. The state machine here is the NCP's:

* RST from the host -> RSTACK (version 2) and both sequence counters zeroed.
* Host DATA frames: in-sequence ones are ACKed and delivered, a retransmitted
  duplicate is ACKed and dropped, an out-of-sequence or damaged one is NAKed
  (once, until the next good frame: the "reject condition").
* Our DATA frames (responses and callbacks) go one at a time (window 1): each
  waits for the host's ACK, is sent again with reTx set after a timeout or a
  NAK, and after `max_tries` unacknowledged tries the link sends an ERROR
  frame and drops what it had queued.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
import dataclasses
import logging
import random
from typing import Any

from bellows.ash import (
    AckFrame,
    AshFrame,
    AshProtocol,
    DataFrame,
    ErrorFrame,
    PSEUDO_RANDOM_DATA_SEQUENCE,
    NakFrame,
    ParsingError,
    Reserved,
    RStackFrame,
    RstFrame,
    parse_frame,
)
import bellows.types as t

LOGGER = logging.getLogger(__name__)

ASH_VERSION = 2
# How long the NCP waits for the host's ACK of one of its DATA frames before
# retransmitting (the host's own initial value is 1.6 s).
T_RX_ACK = 1.6
# Unacknowledged tries of one DATA frame before the NCP gives up (ERROR frame).
MAX_TRIES = 5
# A host frame longer than this (before the flag) is garbage: drop it.
MAX_FRAME_BYTES = 600
# Longest EZSP frame one DATA frame carries (the randomisation sequence's length).
MAX_DATA_BYTES = len(PSEUDO_RANDOM_DATA_SEQUENCE)

_stuff: Callable[[bytes], bytes] = AshProtocol._stuff_bytes
_unstuff: Callable[[bytes], bytes] = AshProtocol._unstuff_bytes


@dataclasses.dataclass
class UartFaults:
    """Faults injected on the NCP's UART (for hosts' HIL tests); probabilities 0..1.

    `drop`: a frame the NCP sends is never written; `corrupt`: one of its bytes
    is flipped (the host sees a bad CRC); `nak`: a good host DATA frame is
    NAKed (and not delivered) as if it arrived damaged; `drop_rx`: a host
    frame is lost on the way in. The `*_next` counters force the fault on the
    next N frames regardless of the probabilities. `counts` says what happened.
    """

    drop: float = 0.0
    corrupt: float = 0.0
    nak: float = 0.0
    drop_rx: float = 0.0
    drop_next: int = 0
    corrupt_next: int = 0
    nak_next: int = 0
    drop_rx_next: int = 0
    seed: int | None = None
    counts: dict[str, int] = dataclasses.field(
        default_factory=lambda: {"drop": 0, "corrupt": 0, "nak": 0, "drop_rx": 0}
    )

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def set(self, **knobs: Any) -> None:
        """Change knobs by name (unknown names raise ValueError, nothing changes)."""
        bad = [k for k in knobs if k not in ("drop", "corrupt", "nak", "drop_rx", "drop_next",
                                             "corrupt_next", "nak_next", "drop_rx_next", "seed")]
        if bad:
            raise ValueError(f"unknown UART fault knob(s): {', '.join(bad)}")
        for key, value in knobs.items():
            setattr(self, key, value)
        if "seed" in knobs:
            self._rng = random.Random(self.seed)

    def hit(self, kind: str) -> bool:
        """Whether fault `kind` strikes this frame (and count it)."""
        forced = getattr(self, f"{kind}_next")
        if forced > 0:
            setattr(self, f"{kind}_next", forced - 1)
        elif not (getattr(self, kind) and self._rng.random() < getattr(self, kind)):
            return False
        self.counts[kind] += 1
        return True

    def damage(self, raw: bytes) -> bytes:
        """`raw` with one byte (not the flag) flipped."""
        pos = self._rng.randrange(max(1, len(raw) - 1))
        out = bytearray(raw)
        out[pos] ^= 0x55
        return bytes(out)


class AshNcpLink:
    """One ASH link, NCP side, over an asyncio (reader, writer) pair.

    `on_data(ezsp_frame)` gets each EZSP frame the host sends, in order and
    once; `on_reset()` runs after each host RST (once the RSTACK is queued).
    Call `send(ezsp_frame)` to queue a response or callback; `run()` reads
    until the stream ends.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: Any,
        on_data: Callable[[bytes], None],
        on_reset: Callable[[], None] | None = None,
        *,
        t_rx_ack: float = T_RX_ACK,
        max_tries: int = MAX_TRIES,
        faults: UartFaults | None = None,
    ) -> None:
        self.faults = faults if faults is not None else UartFaults()
        self._reader = reader
        self._writer = writer
        self._on_data = on_data
        self._on_reset = on_reset
        self.t_rx_ack = t_rx_ack
        self.max_tries = max_tries
        self._buffer = bytearray()
        self._discarding = False
        self._rx_seq = 0  # ackNum: the next host frame number we expect
        self._tx_seq = 0  # frame number of our next new DATA frame
        self._rejecting = False
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._outstanding: int | None = None  # frame number awaiting the host's ACK
        self._acked = asyncio.Event()
        self._nak = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self.failed = False
        # Counters, for tests and the status view.
        self.stats: dict[str, int] = {
            "rx_data": 0,
            "rx_bad": 0,
            "tx_data": 0,
            "tx_retx": 0,
            "tx_nak": 0,
            "resets": 0,
        }

    # -- output -------------------------------------------------------------

    def _write(self, frame: AshFrame) -> None:
        if self._writer.is_closing():
            return
        LOGGER.debug("NCP sends %r", frame)
        if self.faults.hit("drop"):
            return
        raw = _stuff(frame.to_bytes())
        if self.faults.hit("corrupt"):
            raw = self.faults.damage(raw)
        self._writer.write(raw + bytes([Reserved.FLAG]))

    def write_raw(self, data: bytes) -> None:
        """Write bytes to the host as they are (fault injection, line noise)."""
        if not self._writer.is_closing():
            self._writer.write(bytes(data))

    def send_rstack(self, code: t.NcpResetCode = t.NcpResetCode.RESET_POWER_ON) -> None:
        """Send RSTACK (e.g. unsolicited at power-on, as zigbeed does) and restart."""
        self._restart()
        self._write(RStackFrame(version=ASH_VERSION, reset_code=code))

    def send(self, ezsp_frame: bytes) -> None:
        """Queue an EZSP frame (response or callback) for delivery to the host."""
        if self.failed:
            LOGGER.debug("link failed, dropping %s", ezsp_frame.hex())
            return
        if len(ezsp_frame) > MAX_DATA_BYTES:
            LOGGER.error("EZSP frame of %d bytes is too long, dropped", len(ezsp_frame))
            return
        self._queue.put_nowait(bytes(ezsp_frame))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.get_running_loop().create_task(self._send_loop())

    async def _send_loop(self) -> None:
        while not self._queue.empty():
            payload = self._queue.get_nowait()
            frm_num = self._tx_seq
            self._tx_seq = (self._tx_seq + 1) % 8
            self._outstanding = frm_num
            self._acked.clear()
            for attempt in range(self.max_tries):
                self._nak.clear()
                if attempt:
                    self.stats["tx_retx"] += 1
                self.stats["tx_data"] += 1
                self._write(
                    DataFrame(
                        frm_num=frm_num,
                        re_tx=attempt > 0,
                        ack_num=self._rx_seq,
                        ezsp_frame=payload,
                    )
                )
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.t_rx_ack):
                        await self._wait_ack_or_nak()
                if self._acked.is_set():
                    break
            else:
                LOGGER.warning("host did not acknowledge frame %d, link failed", frm_num)
                self._outstanding = None
                self._fail(t.NcpResetCode.ERROR_EXCEEDED_MAXIMUM_ACK_TIMEOUT_COUNT)
                return
            self._outstanding = None

    async def _wait_ack_or_nak(self) -> None:
        acked = asyncio.ensure_future(self._acked.wait())
        naked = asyncio.ensure_future(self._nak.wait())
        try:
            await asyncio.wait({acked, naked}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            acked.cancel()
            naked.cancel()

    def _fail(self, code: t.NcpResetCode) -> None:
        self.failed = True
        while not self._queue.empty():
            self._queue.get_nowait()
        self._write(ErrorFrame(version=ASH_VERSION, reset_code=code))

    def _restart(self) -> None:
        """Zero the counters and drop queued output (RST/RSTACK)."""
        if self._sender is not None and self._sender is not asyncio.current_task():
            self._sender.cancel()
        self._sender = None
        while not self._queue.empty():
            self._queue.get_nowait()
        self._outstanding = None
        self._rx_seq = self._tx_seq = 0
        self._rejecting = False
        self.failed = False

    # -- input --------------------------------------------------------------

    async def run(self) -> None:
        """Read and handle host frames until EOF; then stop sending."""
        try:
            while True:
                chunk = await self._reader.read(4096)
                if not chunk:
                    break
                self.feed(chunk)
        except ConnectionError:
            pass
        finally:
            if self._sender is not None:
                self._sender.cancel()

    def feed(self, data: bytes) -> None:
        """Handle raw bytes from the host (flags, escapes, cancel/substitute)."""
        for byte in data:
            if byte == Reserved.FLAG:
                frame, self._buffer = bytes(self._buffer), bytearray()
                if self._discarding:
                    self._discarding = False
                elif frame:
                    self._frame_bytes(frame)
            elif byte == Reserved.CANCEL:
                self._buffer.clear()
                self._discarding = False
            elif byte == Reserved.SUBSTITUTE:
                self._buffer.clear()
                self._discarding = True
            elif byte in (Reserved.XON, Reserved.XOFF):
                continue
            elif not self._discarding:
                self._buffer.append(byte)
                if len(self._buffer) > MAX_FRAME_BYTES:
                    self._buffer.clear()
                    self._discarding = True

    def _frame_bytes(self, raw: bytes) -> None:
        if self.faults.hit("drop_rx"):
            return
        try:
            data = _unstuff(raw)
            frame = parse_frame(data)
        except (ParsingError, ValueError, IndexError) as exc:
            self.stats["rx_bad"] += 1
            LOGGER.debug("bad frame %s: %s", raw.hex(), exc)
            if raw and raw[0] & DataFrame.MASK == DataFrame.MASK_VALUE:
                self._reject()
            return
        LOGGER.debug("NCP got %r", frame)
        if isinstance(frame, RstFrame):
            self._host_reset()
        elif isinstance(frame, DataFrame):
            self._handle_ack_num(frame.ack_num)
            self._data(frame)
        elif isinstance(frame, AckFrame):
            self._handle_ack_num(frame.ack_num)
        elif isinstance(frame, NakFrame):
            self._handle_ack_num(frame.ack_num)
            if self._outstanding is not None and not self._acked.is_set():
                self._nak.set()
        # RSTACK/ERROR from a host make no sense: ignore them.

    def _handle_ack_num(self, ack_num: int) -> None:
        if self._outstanding is not None and ack_num == (self._outstanding + 1) % 8:
            self._acked.set()

    def _data(self, frame: DataFrame) -> None:
        if self.failed:
            return
        if frame.frm_num == self._rx_seq and self.faults.hit("nak"):
            self._reject()
        elif frame.frm_num == self._rx_seq:
            self._rx_seq = (self._rx_seq + 1) % 8
            self._rejecting = False
            self.stats["rx_data"] += 1
            self._write(AckFrame(res=0, ncp_ready=0, ack_num=self._rx_seq))
            self._on_data(frame.ezsp_frame)
        elif frame.re_tx:
            # A copy of one we already have (our ACK got lost): ACK again, drop it.
            self._write(AckFrame(res=0, ncp_ready=0, ack_num=self._rx_seq))
        else:
            self._reject()

    def _reject(self) -> None:
        if not self._rejecting:
            self._rejecting = True
            self.stats["tx_nak"] += 1
            self._write(NakFrame(res=0, ncp_ready=0, ack_num=self._rx_seq))

    def _host_reset(self) -> None:
        self.stats["resets"] += 1
        self.send_rstack(t.NcpResetCode.RESET_SOFTWARE)
        if self._on_reset is not None:
            self._on_reset()

    def close(self) -> None:
        """Stop sending and close the stream."""
        if self._sender is not None:
            self._sender.cancel()
        self._writer.close()
