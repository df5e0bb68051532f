"""The head-end side of image transfer and activation (docs/IMAGES.md, section 4).

The hub pulls: `image.offer` {size, hash} is answered with where to resume and
which blocks it needs next; every `image.block` answer lists the next ones.
`push()` keeps up to `window` requested blocks in flight, resumes from the
hub's persisted offset, and after a timeout or a refused block re-offers the
same file (the hub answers with where it really is). Only every `ack_every`-th
block (and the last one sent in a burst) asks for an answer; the others go
with `"ack": false` and are answered only if they fail. Half the messages
through the broker are answers otherwise, and each costs the hub a reply. Any other hub error stops
the push with the hub's code (`bad_signature`, `downgrade`, `busy`, ...).

Works over any `Link` (serial or MQTT): the same service answers both. Over
MQTT it keeps 24 blocks in flight with an answer per 12 (the offer asks the hub
for that window): per block, answers cost the hub, the broker and the head-end
more than the block itself (against amqtt, an answer per 8 blocks in a window
of 16 cost the broker about 10 us a block more, and the download about 8 %).
Over serial the line is the limit, so it keeps the hub's default window of 8
with an answer per 4.
"""

from __future__ import annotations

import calendar
import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from ..links.base import Link, Ticket
from ..protocol.errors import HubError, HubTimeout
from . import gbcs

Progress = Callable[[int, int], None]
WINDOW = 8  # blocks in flight: the hub lists up to 8 in `need` unless the offer asks for more
ACK_EVERY = 4  # blocks per answer
MQTT_WINDOW = 24  # the hub's largest window, asked for by the offer over MQTT
MQTT_ACK_EVERY = 12
VERIFY_ASK_S = 0.25  # how long an image.status ask waits for the hub's answer during verification
MQTT_VERIFY_ASK_S = 2.0  # the longest it waits over MQTT, doubling from VERIFY_ASK_S while none comes


def defaults(link: Link) -> tuple[int, int]:
    """(window, ack_every) push() uses over `link` when not told."""
    return (MQTT_WINDOW, MQTT_ACK_EVERY) if link.name == "mqtt" else (WINDOW, ACK_EVERY)
# Errors that mean "the hub and we disagree about where the transfer is": re-offer and carry on.
RESYNC_CODES = frozenset({"bad_args", "bad_crc", "bad_frame", "no_memory"})
# The hub had no heap for that one command (PROTOCOL.md): it changed nothing, so wait a little and retry.
BACKOFF_S = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
# The verification failures of IMAGES.md section 4, in the order the hub checks them.
VERIFY_CODES = ("bad_hash", "bad_format", "bad_signature", "wrong_manufacturer", "wrong_image_type",
                "wrong_board", "too_large", "downgrade")
OUTCOMES = {0: "success", 1: "no_image_held", 2: "hash_mismatch", 3: "activation_failure"}


class PushError(Exception):
    """The transfer stopped. `code` is the hub's error code, or `timeout` / `protocol`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass
class PushResult:
    """How a transfer went. `bytes_sent` counts this push only (not what the hub already had)."""

    size: int
    file_hash: str
    mi_hash: str | None
    block_size: int
    resumed_from: int
    bytes_sent: int = 0
    blocks_sent: int = 0
    resyncs: int = 0
    elapsed_s: float = 0.0
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def rate_bps(self) -> float:
        """Bytes per second actually sent."""
        return self.bytes_sent / self.elapsed_s if self.elapsed_s > 0 else 0.0


def push(link: Link, image: bytes, progress: Progress | None = None, *, window: int | None = None,
         ack_every: int | None = None, block_size: int | None = None, timeout: float | None = None,
         verify_timeout: float = 120.0, max_resyncs: int = 8, commands: str = "image") -> PushResult:
    """Transfer `image` (a whole GBCS file) to the hub; returns when the hub says `done`.

    `progress(offset, size)` is called with the hub's acknowledged offset.
    `window` caps blocks in flight (the hub lists 8, or up to 24 when the
    offer asks: it does when `window` is over 8); `ack_every` blocks share
    one answer (1: every block is answered); both default by link
    (`defaults()`). `block_size`
    proposes one (the hub decides). `timeout` is per block (default: the
    link's); the answer to the last block waits up to `verify_timeout`, since
    it carries the verification. `max_resyncs` consecutive re-offers without
    progress end the push with PushError("timeout" or the hub's code).
    """
    dw, da = defaults(link)
    window = dw if window is None else window
    ack_every = da if ack_every is None else ack_every
    if window < 1 or ack_every < 1:
        raise ValueError("window and ack_every must be at least 1")
    size = len(image)
    try:
        mi_hash: str | None = gbcs.parse_image(image).mi_hash
    except gbcs.ImageFormatError:
        mi_hash = None  # the hub judges it (bad_format); tests push broken files on purpose
    t0 = time.monotonic()
    file_hash = hashlib.sha256(image).hexdigest()  # once: every re-offer names the file by it
    offer = _offer(link, size, file_hash, block_size, timeout, max_resyncs, commands, window)
    res = PushResult(size=size, file_hash=file_hash, mi_hash=mi_hash,
                     block_size=int(offer.get("block_size") or 0), resumed_from=int(offer.get("offset", 0)))
    answer, failures = offer, 0
    # offset -> (ticket, length), the ticket None for a quiet block: those are in flight until an answered one after them
    in_flight: OrderedDict[int, tuple[Ticket | None, int]] = OrderedDict()
    view = memoryview(image)  # blocks are cut from it without a copy each
    name = f"{commands}.block"
    while not answer.get("done"):
        need = [(int(o), int(n)) for o, n in answer.get("need") or []]
        if not need and not in_flight:
            if int(answer.get("offset", 0)) >= size:
                break  # the hub already holds it all (an earlier push got this far)
            raise PushError("protocol", f"the hub needs nothing but is not done: {answer!r}")
        burst = [(off, n) for off, n in need if off not in in_flight][:max(0, window - len(in_flight))]
        for i, (off, n) in enumerate(burst):
            if not (0 <= off < size and n > 0):
                raise PushError("protocol", f"the hub asked for [{off}, {n}] of a {size}-byte file")
            # Answered: every ack_every-th, the burst's last (so one answer is always awaited), the file's last.
            ack = i == len(burst) - 1 or (i + 1) % ack_every == 0 or off + n >= size
            block = view[off:off + n]
            if ack:
                in_flight[off] = (link.submit(name, {"offset": off}, block), n)
            else:  # no ticket: its answer comes only if it fails, and `need` says so too
                link.send(name, b'{"offset":%d,"ack":false}' % off, block)
                in_flight[off] = (None, n)
            res.blocks_sent += 1
            res.bytes_sent += min(n, size - off)
        off, (ticket, n) = next((o, v) for o, v in in_flight.items() if v[0])
        last = off + n >= size
        try:
            answer = ticket.wait(verify_timeout if last else timeout).result or {}
            # Blocks travel in order: every quiet one sent before this one (in_flight keeps the sending
            # order) has been handled. Those the hub still needs were lost or refused: `need` lists them.
            for o in list(in_flight):
                t = in_flight.pop(o)[0]
                if t:
                    t.forget()
                if o == off:
                    break
            failures = 0
        except (HubTimeout, HubError) as e:
            if isinstance(e, HubError) and e.code not in RESYNC_CODES:
                _forget(in_flight)
                raise PushError(e.code, e.message) from e
            failures += 1
            res.resyncs += 1
            _forget(in_flight)
            if failures > max_resyncs:
                raise PushError("timeout" if isinstance(e, HubTimeout) else e.code,
                                f"{failures} tries in a row without progress; last: {e}") from e
            if isinstance(e, HubError) and e.code == "no_memory":
                time.sleep(BACKOFF_S[min(failures, len(BACKOFF_S)) - 1])
            answer = _offer(link, size, file_hash, block_size, timeout, max_resyncs, commands, window)
        if progress:
            progress(min(int(answer.get("offset", 0)), size), size)
    _forget(in_flight)
    if answer.get("verify") == "reboot":
        # The hub verifies in a clean boot (docs/IMAGES.md): wait for its verdict.
        answer = dict(answer, **_await_verification(link, res.file_hash, verify_timeout))
        res.mi_hash = answer.get("hash") or res.mi_hash
    res.result = answer
    res.elapsed_s = time.monotonic() - t0
    if progress:
        progress(size, size)
    return res


def _await_verification(link: Link, file_hash: str, timeout: float) -> dict[str, Any]:
    """Poll image.status across the hub's verify reboots until this file is staged or failed.

    Returns the transfer record when staged; raises PushError with the hub's
    code (bad_signature, downgrade, ...) when it failed, and `replaced` when
    the hub's transfer record is about another file: an offer queued for the
    hub's persistent MQTT session (say, by an earlier push that gave up while
    the hub was off line) can start a new transfer once ours is done.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    # An ask that lands while the hub reboots is lost over serial, and kept by a broker for the
    # hub's MQTT session (Mosquitto hands them all over when it is back; amqtt may not): a short
    # timeout, or its whole length would add to every verification, but over MQTT one that
    # doubles while no answer comes: asks every 0.25 s piled up a dozen image.status for a hub
    # just started (on a 100 KiB board, more than its heap took).
    ask_s = VERIFY_ASK_S
    while time.monotonic() < deadline:
        try:
            tr = link.request("image.status", timeout=ask_s).result.get("transfer") or {}
            ask_s = VERIFY_ASK_S
        except (HubTimeout, HubError) as e:
            last = e  # rebooting: no answer, or no_memory while it comes up
            if link.name == "mqtt":
                ask_s = min(ask_s * 2, MQTT_VERIFY_ASK_S)
            time.sleep(0.02)
            continue
        state = tr.get("state")
        if tr and tr.get("transfer") != file_hash:
            raise PushError("replaced", f"the hub's transfer is now {str(tr.get('transfer'))[:16]}, another file: "
                            "check `commshub image status`")
        if state == "staged":
            return tr
        if state == "failed":
            raise PushError(str(tr.get("code", "failed")), str(tr.get("message", "verification failed")))
        last = tr
        time.sleep(0.05)
    raise PushError("timeout", f"no verification verdict within {timeout:.0f} s (last: {last})")


def _forget(in_flight: OrderedDict[int, tuple[Ticket | None, int]]) -> None:
    for t, _ in in_flight.values():
        if t:
            t.forget()
    in_flight.clear()


def _offer(link: Link, size: int, file_hash: str, block_size: int | None, timeout: float | None, tries: int,
           commands: str = "image", window: int = WINDOW) -> dict[str, Any]:
    """`image.offer` of the file of `size` bytes and SHA-256 `file_hash`, retried on timeouts and
    `no_memory`; the answer says where to resume. A `window` over the hub's default of 8 is asked
    for (24 at most)."""
    args: dict[str, Any] = {"size": size, "hash": file_hash}
    if block_size:
        args["block_size"] = block_size
    if window > WINDOW:
        args["window"] = min(window, MQTT_WINDOW)
    for attempt in range(tries + 1):
        try:
            return link.request(f"{commands}.offer", args, timeout=timeout).result or {}
        except HubTimeout:
            if attempt == tries:
                raise PushError("timeout", f"no answer to image.offer over {link.name} after {tries + 1} tries")
        except HubError as e:
            if e.code == "no_memory" and attempt < tries:
                time.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
                continue
            hint = " (another transfer is in progress: let it finish, or `commshub image abort`)" \
                if e.code == "busy" else ""
            raise PushError(e.code, e.message + hint) from e
    raise AssertionError("unreachable")


def utc_seconds(at: int | float | str | datetime) -> int:
    """An activation time as UTC seconds: int, aware datetime, or ISO `YYYY-MM-DDTHH:MM:SSZ`."""
    if isinstance(at, (int, float)):
        return int(at)
    if isinstance(at, str):
        if at.strip().isdigit():
            return int(at)
        try:
            at = datetime.fromisoformat(at.strip().replace("Z", "+00:00"))
        except ValueError as e:
            raise ValueError(f"--at must be UTC seconds or ISO 8601 like 2030-01-01T00:00:00Z, got {at!r}") from e
    if at.tzinfo is None:
        raise ValueError("give the activation time in UTC (end it with Z)")
    return calendar.timegm(at.utctimetuple())


def activate(link: Link, mi_hash: str, at: int | str | datetime | None = None,
             timeout: float | None = None) -> dict[str, Any]:
    """`image.activate`: CS06 result {outcome 0..3, outcome_name, running_version, at}.

    Outcome 0 with no `at` means the hub is rebooting into the new slot.
    A non-zero outcome is a result, not an exception.
    """
    args: dict[str, Any] = {"hash": mi_hash.lower()}
    if at is not None:
        args["at"] = utc_seconds(at)
    return link.request("image.activate", args, timeout=timeout).result


def status(link: Link, timeout: float | None = None) -> dict[str, Any]:
    """`image.status`: running version, both slots, transfer in progress, scheduled activation.

    A `no_memory` answer (a board at its heap budget could not load the status code just then) is
    asked again after a short pause, as PROTOCOL.md says, a few times: a read changes nothing.
    """
    for pause in (*BACKOFF_S[2:5], None):
        try:
            return link.request("image.status", timeout=timeout).result
        except HubError as e:
            if e.code != "no_memory" or pause is None:
                raise
            time.sleep(pause)
    raise AssertionError("unreachable")


def rollback(link: Link, timeout: float | None = None) -> dict[str, Any]:
    """`image.rollback`: back to the previous slot (the hub reboots)."""
    return link.request("image.rollback", timeout=timeout).result


def cancel(link: Link, timeout: float | None = None) -> dict[str, Any]:
    """`image.cancel`: drop a scheduled activation; {"cancelled": hash or None}."""
    return link.request("image.cancel", timeout=timeout).result


def abort(link: Link, timeout: float | None = None) -> dict[str, Any]:
    """`image.abort`: drop the transfer in progress and its staging file."""
    return link.request("image.abort", timeout=timeout).result
