"""push.py against a TEST DOUBLE of the transfer protocol.

`FakeImageHub` below is NOT the hub: it is a few lines acting out the
offer/block/need rules of docs/IMAGES.md section 4 (window of 8 blocks,
quiet blocks answered only when they fail, refusing blocks it did not ask for, resuming from persisted progress, a
verification verdict after the last block), so the host side's window, resume
and retry logic can be tested without firmware. The real image service is the
firmware; the end-to-end tests of push() against it are in the HIL suite.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import queue
import threading
import time
from typing import Any

import pytest

from commshub.images import gbcs, push
from commshub.links.base import Link, Reply
from commshub.protocol.errors import HubError

BLOCK = 1024
PERSIST_EVERY = 16 * 1024


class FakeImageHub(Link):
    """Test double: a Link whose far end follows IMAGES.md's transfer rules, in-process."""

    name = "fake"

    def __init__(self, verdict: str | None = None, window: int = 8) -> None:
        super().__init__(timeout=0.3)
        self.verdict = verdict  # an IMAGES.md verification error code, or None for success
        self.window = window
        self._keys = itertools.count(1)
        self.transfer: dict[str, Any] | None = None
        self.drop_answer_to: set[int] = set()  # block offsets whose answer gets lost (once each)
        self.lose_request_for: set[int] = set()  # block offsets whose request never arrives (once each)
        self.max_in_flight = 0
        # Blocks sent that no answer covers yet (push's "in flight": a quiet block until an answered
        # one sent after it is answered), in sending order.
        self._uncovered: list[Any] = []
        self._uncovered_lock = threading.Lock()
        self.quiet = 0  # quiet blocks taken without an answer
        self.calls: list[tuple[str, dict]] = []
        # Answers travel back after a short delay, as over a wire, so requests really overlap.
        self._answers: queue.Queue = queue.Queue()
        threading.Thread(target=self._deliver, daemon=True).start()

    def _deliver(self) -> None:
        while True:
            key, outcome = self._answers.get()
            time.sleep(0.001)
            with self._uncovered_lock:
                if key in self._uncovered:
                    del self._uncovered[:self._uncovered.index(key) + 1]
            self._complete(key, outcome)

    # -- Link hooks ----------------------------------------------------------
    def _new_key(self) -> int:
        return next(self._keys)

    def _transmit(self, key: Any, command: str, args: dict | bytes | None, data: bytes) -> None:
        args = json.loads(args) if isinstance(args, bytes) else args or {}  # bytes: JSON text, as on the wire
        self.calls.append((command, args))
        if command == "image.block":
            with self._uncovered_lock:
                self._uncovered.append(key)
                self.max_in_flight = max(self.max_in_flight, len(self._uncovered))
        if command == "image.block" and args["offset"] in self.lose_request_for:
            self.lose_request_for.discard(args["offset"])
            return
        try:
            outcome: Reply | HubError = Reply(command, self._handle(command, args, data))
        except HubError as e:
            outcome = e
        if isinstance(outcome, Reply) and args.get("ack") is False and not outcome.result["done"]:
            self.quiet += 1
            return  # a quiet block that succeeded: no answer
        if command == "image.block" and args["offset"] in self.drop_answer_to:
            self.drop_answer_to.discard(args["offset"])
            return
        self._answers.put((key, outcome))

    def request(self, command: str, args: dict | None = None, data: bytes = b"", timeout: float | None = None) -> Reply:
        return self.submit(command, args, data).wait(timeout)

    def close(self) -> None:
        pass

    # -- the rules -----------------------------------------------------------
    def _need(self) -> list[list[int]]:
        t = self.transfer
        assert t is not None
        out, off = [], 0
        while off < t["size"] and len(out) < self.window:
            if off not in t["blocks"]:
                out.append([off, min(BLOCK, t["size"] - off)])
            off += BLOCK
        return out

    def _next_missing(self) -> int:
        t = self.transfer
        assert t is not None
        off = 0
        while off in t["blocks"]:
            off += BLOCK
        return min(off, t["size"])

    def _handle(self, command: str, args: dict, data: bytes) -> dict:
        t = self.transfer
        if command == "image.offer":
            if t and t["hash"] != args["hash"] and not t["done"]:
                raise HubError("busy", "another transfer is in progress", command)
            if not t or t["hash"] != args["hash"]:
                t = self.transfer = {"size": args["size"], "hash": args["hash"], "blocks": {}, "persisted": 0,
                                     "done": False}
            # Resume from persisted progress: anything after it is asked for again.
            t["blocks"] = {o: b for o, b in t["blocks"].items() if o < t["persisted"]}
            return {"transfer": t["hash"], "offset": t["persisted"], "block_size": BLOCK, "need": self._need()}
        if command == "image.block":
            off = args["offset"]
            if t is None or [off, len(data)] not in self._need():
                raise HubError("bad_args", f"block at {off} was not asked for", command)
            t["blocks"][off] = data
            nxt = self._next_missing()
            if nxt - t["persisted"] >= PERSIST_EVERY or nxt == t["size"]:
                t["persisted"] = nxt
            if nxt < t["size"]:
                return {"offset": nxt, "need": self._need(), "done": False}
            whole = b"".join(t["blocks"][o] for o in sorted(t["blocks"]))
            if hashlib.sha256(whole).hexdigest() != t["hash"]:
                raise HubError("bad_hash", "file hash mismatch", command)
            t["done"] = True
            if self.verdict:
                raise HubError(self.verdict, "verification failed", command)
            t["image"] = whole
            return {"offset": nxt, "need": [], "done": True}
        if command == "image.activate":
            return {"outcome": 0, "outcome_name": "success", "running_version": "0.1.0", "at": args.get("at")}
        raise HubError("unknown_command", command, command)


def _image(size: int = 40_000) -> bytes:
    mi = bytes((i * 7) & 0xFF for i in range(size))
    return gbcs.build_image(mi, manufacturer=0x1234, image_type=1, file_version=0x00020000, header_string="t")


def test_push_delivers_the_file_keeping_the_window_full() -> None:
    hub, data = FakeImageHub(), _image()
    seen: list[int] = []
    res = push.push(hub, data, lambda off, size: seen.append(off), window=4)
    assert hub.transfer["image"] == data
    assert res.result["done"] and res.resumed_from == 0 and res.bytes_sent == len(data)
    assert res.mi_hash == gbcs.parse_image(data).mi_hash and res.file_hash == hashlib.sha256(data).hexdigest()
    assert seen == sorted(seen) and seen[-1] == len(data)
    assert hub.max_in_flight == 4 and res.rate_bps > 0


def test_quiet_blocks_share_an_answer_and_a_lost_one_is_sent_again_without_a_resync() -> None:
    hub, data = FakeImageHub(), _image()
    hub.lose_request_for = {1 * BLOCK}  # a quiet block (the 2nd of a burst) that never arrives
    res = push.push(hub, data, window=8, ack_every=4)
    assert hub.transfer["image"] == data and res.resyncs == 0
    assert [c for c, _ in hub.calls].count("image.offer") == 1
    blocks = [a for c, a in hub.calls if c == "image.block"]
    answered = [a for a in blocks if a.get("ack") is not False]
    assert hub.quiet >= len(blocks) - len(answered) - 2 > 0  # all quiet ones but the lost one (and its follower)
    assert len(answered) <= len(blocks) // 2  # about one answer per ack_every blocks
    assert [a["offset"] for a in blocks].count(1 * BLOCK) == 2  # the lost one, once more


def test_push_resumes_from_the_hubs_persisted_offset() -> None:
    hub, data = FakeImageHub(), _image()
    hub.drop_answer_to = {20 * BLOCK}
    with pytest.raises(push.PushError, match="timeout"):
        push.push(hub, data, max_resyncs=0, ack_every=1)  # gives up at the first lost answer
    res = push.push(hub, data)
    assert res.resumed_from == 16 * BLOCK and res.bytes_sent == len(data) - 16 * BLOCK
    assert hub.transfer["image"] == data


def test_lost_requests_and_answers_are_retried_by_re_offering() -> None:
    hub, data = FakeImageHub(), _image()
    hub.lose_request_for = {3 * BLOCK}
    hub.drop_answer_to = {30 * BLOCK}
    res = push.push(hub, data, timeout=0.2, ack_every=1)  # every block answered: each loss is a resync
    assert hub.transfer["image"] == data and res.resyncs == 2
    assert [c for c, _ in hub.calls].count("image.offer") == 3


def test_a_verification_failure_stops_with_the_hubs_code() -> None:
    hub = FakeImageHub(verdict="bad_signature")
    with pytest.raises(push.PushError) as e:
        push.push(hub, _image(5000))
    assert e.value.code == "bad_signature"


def test_another_transfer_in_progress_is_busy() -> None:
    hub = FakeImageHub()
    hub.drop_answer_to = {0}
    with pytest.raises(push.PushError):
        push.push(hub, _image(20000), max_resyncs=0, ack_every=1)  # stops with most of it still to send
    with pytest.raises(push.PushError) as e:
        push.push(hub, _image(6000))
    assert e.value.code == "busy" and "image abort" in e.value.message


def test_activate_sends_the_mi_hash_and_a_utc_time() -> None:
    hub = FakeImageHub()
    result = push.activate(hub, "AB" * 32, at="2030-01-01T00:00:00Z")
    assert hub.calls[-1] == ("image.activate", {"hash": "ab" * 32, "at": 1893456000})
    assert result["outcome"] == 0
    assert push.utc_seconds(1893456000) == push.utc_seconds("1893456000") == 1893456000
    with pytest.raises(ValueError):
        push.utc_seconds("2030-01-01T00:00:00")  # no zone: refused rather than guessed


def test_cli_push_and_activate_through_the_test_double(tmp_path, monkeypatch, capsys) -> None:
    from commshub.cli import main
    from commshub.commands import common

    hub, data = FakeImageHub(), _image()
    monkeypatch.setattr(common, "open_link", lambda args, **kw: hub)
    f = tmp_path / "fw.img"
    f.write_bytes(data)
    assert main(["image", "push", str(f), "--activate"]) == 0
    out = capsys.readouterr().out
    assert "transferred" in out and gbcs.parse_image(data).mi_hash in out and "success" in out
    assert hub.transfer["image"] == data
    assert main(["image", "activate", str(f), "--at", "2030-01-01T00:00:00Z"]) == 0
    assert hub.calls[-1][1]["at"] == 1893456000
    assert main(["image", "activate", "not-a-hash"]) == common.EXIT_USAGE
    other = FakeImageHub(verdict="downgrade")
    monkeypatch.setattr(common, "open_link", lambda args, **kw: other)
    assert main(["image", "push", str(f)]) == common.EXIT_HUB_ERROR
    assert "downgrade" in capsys.readouterr().err


def test_online_commands_without_a_hub_say_what_to_do(tmp_path, monkeypatch) -> None:
    from commshub import paths
    from commshub.cli import main

    monkeypatch.setattr(paths, "EMULATORS", tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["image", "status"])
    assert "commshub emulate" in str(e.value)


class _BusyHeapLink:
    """A link whose hub answers image.status with no_memory `fails` times, then with its status."""

    def __init__(self, fails: int) -> None:
        self.fails = fails
        self.asked = 0

    def request(self, command: str, args: Any = None, data: Any = None, timeout: float | None = None) -> Reply:
        self.asked += 1
        if self.asked <= self.fails:
            raise HubError("no_memory", "not enough heap for image.status now: try again", command)
        return Reply(command=command, result={"running": {"version": "1.2.3"}})


def test_status_asks_again_after_no_memory_but_not_forever() -> None:
    link = _BusyHeapLink(fails=2)
    assert push.status(link)["running"]["version"] == "1.2.3"  # type: ignore[arg-type]
    assert link.asked == 3
    with pytest.raises(HubError) as e:
        push.status(_BusyHeapLink(fails=10))  # type: ignore[arg-type]
    assert e.value.code == "no_memory"
