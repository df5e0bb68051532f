"""What both links share: matching replies to requests, and collecting events."""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ..protocol.errors import HubError, HubTimeout


@dataclass
class Reply:
    """A successful answer: the JSON result, any raw data, and the round trip."""

    command: str
    result: Any
    data: bytes = b""
    rtt_s: float = 0.0


@dataclass
class Event:
    name: str
    body: dict = field(default_factory=dict)
    received: float = field(default_factory=time.monotonic)


class _Pending:
    __slots__ = ("done", "outcome", "sent")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.outcome: Reply | HubError | None = None
        self.sent = time.monotonic()


class Ticket:
    """A request already on the wire whose answer is collected later (see `Link.submit`)."""

    __slots__ = ("link", "key", "slot", "command")

    def __init__(self, link: "Link", key: Any, slot: _Pending, command: str) -> None:
        self.link, self.key, self.slot, self.command = link, key, slot, command

    @property
    def done(self) -> bool:
        return self.slot.done.is_set()

    def wait(self, timeout: float | None = None) -> Reply:
        """The answer (raises HubError or HubTimeout, as `request` does)."""
        return self.link._wait(self.key, self.slot, self.command, timeout)

    def forget(self) -> None:
        """Stop waiting for the answer; if it comes it is ignored."""
        with self.link._lock:
            self.link._pending.pop(self.key, None)


class Link:
    """Base of SerialLink and MqttLink: request bookkeeping and the event log."""

    name = "link"

    def __init__(self, timeout: float = 5.0, on_event: Callable[[Event], None] | None = None) -> None:
        self.timeout = timeout
        self.on_event = on_event
        self._lock = threading.Lock()
        self._pending: dict[Any, _Pending] = {}
        self._events: collections.deque[Event] = collections.deque(maxlen=2000)
        self._event_cv = threading.Condition()

    # -- requests ------------------------------------------------------------
    def _register(self, key: Any) -> _Pending:
        slot = _Pending()
        with self._lock:
            self._pending[key] = slot
        return slot

    def _complete(self, key: Any, outcome: Reply | HubError) -> bool:
        with self._lock:
            slot = self._pending.pop(key, None)
        if slot is None:
            return False
        if isinstance(outcome, Reply):
            outcome.rtt_s = time.monotonic() - slot.sent
        slot.outcome = outcome
        slot.done.set()
        return True

    def _wait(self, key: Any, slot: _Pending, command: str, timeout: float | None) -> Reply:
        wait = self.timeout if timeout is None else timeout
        if not slot.done.wait(wait):
            with self._lock:
                self._pending.pop(key, None)
            raise HubTimeout(f"no answer to {command!r} over {self.name} within {wait:.1f} s")
        if isinstance(slot.outcome, HubError):
            raise slot.outcome
        assert isinstance(slot.outcome, Reply)
        return slot.outcome

    # -- events --------------------------------------------------------------
    def _push_event(self, event: Event) -> None:
        with self._event_cv:
            self._events.append(event)
            self._event_cv.notify_all()
        if self.on_event:
            self.on_event(event)

    def events(self, name: str | None = None) -> list[Event]:
        """Events received so far (optionally of one name), oldest first."""
        with self._event_cv:
            return [e for e in self._events if name is None or e.name == name]

    def clear_events(self) -> None:
        with self._event_cv:
            self._events.clear()

    def wait_event(
        self,
        name: str,
        timeout: float = 10.0,
        where: Callable[[Event], bool] | None = None,
        since: float | None = None,
    ) -> Event:
        """Wait for an event called `name` (received after `since`, matching `where`)."""
        deadline = time.monotonic() + timeout
        with self._event_cv:
            while True:
                for e in self._events:
                    if e.name == name and (since is None or e.received >= since) and (where is None or where(e)):
                        return e
                left = deadline - time.monotonic()
                if left <= 0:
                    raise HubTimeout(f"no {name!r} event over {self.name} within {timeout:.1f} s")
                self._event_cv.wait(left)

    # -- pipelining ----------------------------------------------------------
    def send(self, command: str, args: dict | bytes | None = None, data: bytes = b"") -> Any:
        """Send a request whose answer nobody awaits; returns its key (seq or id).

        An answer that comes anyway is dropped. An image push sends its quiet
        blocks this way: the hub answers one only when it fails, and the next
        answered block's `need` lists it again. `args` may be JSON text
        already (bytes): a block's is formatted, not dumped, on that hot path.
        """
        key = self._new_key()
        self._transmit(key, command, args, data)
        return key

    def submit(self, command: str, args: dict | None = None, data: bytes = b"") -> Ticket:
        """Send a request without waiting; `ticket.wait()` collects the answer.

        Requests go on the wire in submit order, so several can be in flight
        (image blocks use this to keep the hub's window full).
        """
        key = self._new_key()
        slot = self._register(key)
        self._transmit(key, command, args, data)
        return Ticket(self, key, slot, command)

    # -- to be provided ------------------------------------------------------
    def _new_key(self) -> Any:
        """A fresh key matching a request to its answer (seq on serial, id on MQTT)."""
        raise NotImplementedError

    def _transmit(self, key: Any, command: str, args: dict | bytes | None, data: bytes) -> None:
        """Put one request, tagged with `key`, on the wire."""
        raise NotImplementedError

    def request(self, command: str, args: dict | None = None, data: bytes = b"", timeout: float | None = None) -> Reply:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
