"""The live terminal view of a running installation (what `make run` shows)."""

from __future__ import annotations

import collections
import time
from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .links.base import Event


def _dur(ms: int | None) -> str:
    if ms is None:
        return "-"
    s = ms // 1000
    return f"{s // 3600}h{s // 60 % 60:02d}m{s % 60:02d}s" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def _bar(used: int, total: int, width: int = 24) -> Text:
    frac = min(1.0, used / total) if total else 0.0
    n = round(frac * width)
    style = "green" if frac < 0.7 else "yellow" if frac < 0.9 else "red"
    return Text("█" * n, style=style) + Text("░" * (width - n), style="dim") + Text(f" {used // 1024} / {total // 1024} KiB")


class StatusView:
    """Keeps the latest info/status and recent events; renders them as one panel."""

    def __init__(self, setup: dict[str, str]) -> None:
        self.setup = setup
        self.info: dict[str, Any] = {}
        self.status: dict[str, Any] = {}
        self.online: dict[str, Any] = {}
        self.han: dict[str, Any] | None = None
        self.error: str | None = None
        self.events: collections.deque[Event] = collections.deque(maxlen=8)
        self.console: collections.deque[str] = collections.deque(maxlen=6)
        self.updated = 0.0

    def add_event(self, e: Event) -> None:
        self.events.append(e)

    def render(self, budget: int) -> Panel:
        st, info = self.status, self.info
        head = Table.grid(padding=(0, 2))
        head.add_column(style="bold cyan")
        head.add_column()
        state = self.online.get("state", "?")
        state_text = Text(state, style="bold green" if state == "online" else "bold red")
        head.add_row("hub", Text(f"{info.get('hub_id', '?')}  ") + state_text)
        head.add_row("board", f"{info.get('board', '?')}  firmware {info.get('fw_version', '?')}  MicroPython {info.get('micropython', '?')}")
        head.add_row("uptime", f"{_dur(st.get('uptime_ms'))}   boots {st.get('boot_count', '-')}   last reset: {st.get('reset_cause', '-')}")
        utc = st.get("utc")
        clock = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(utc)) if isinstance(utc, int) else "-"
        head.add_row("hub clock", f"{clock}  ({'set over the control plane' if st.get('time_set') else 'not set: host time'})")
        used = int(info.get("heap_used", 0))
        head.add_row("heap", _bar(used, budget) + Text(f"   peak {int(info.get('heap_peak', 0)) // 1024} KiB"))
        mq = st.get("links", {}).get("mqtt", {})
        head.add_row("mqtt", f"{mq.get('state', '?')} to {self.setup.get('broker', '-')}  reconnects {mq.get('reconnects', '-')}")
        head.add_row("serial", f"{self.setup.get('serial', '-')}  (try: commshub console)")
        head.add_row("topics", self.setup.get("topics", "-"))
        if self.han is not None:
            head.add_row("HAN", self._han_text())
        ev = Table(show_header=True, header_style="bold", box=None, expand=True)
        ev.add_column("age", width=6)
        ev.add_column("event", width=18)
        ev.add_column("detail")
        now = time.monotonic()
        for e in reversed(self.events):
            detail = ", ".join(f"{k}={v}" for k, v in e.body.items() if k not in ("event", "seq", "utc"))
            ev.add_row(f"{now - e.received:4.0f}s", e.name, detail)
        parts: list[Any] = [head]
        if self.han and self.han.get("log"):
            dev = Table(show_header=True, header_style="bold", box=None, expand=True)
            for c in ("device", "EUI-64", "state", "node"):
                dev.add_column(c)
            for e in self.han["log"]:
                state = "joined" if e.get("joined") else "may join" if e.get("window_open") else "waiting"
                node = e.get("node")
                dev.add_row(str(e.get("type_name", e.get("type"))), str(e.get("eui64")),
                            Text(state, style="green" if e.get("joined") else "yellow"),
                            f"0x{node:04X}" if isinstance(node, int) else "-")
            parts += [Text(""), dev]
        parts += [Text(""), Text("recent events", style="bold"), ev]
        if self.error:
            parts.append(Text(f"\n{self.error}", style="red"))
        title = f"Comms Hub emulator — {self.setup.get('board', '')}"
        return Panel(Group(*parts), title=title, subtitle="Ctrl-C to stop", border_style="blue")

    def _han_text(self) -> str:
        h = self.han or {}
        if "error" in h:
            return str(h["error"])
        st, log = h.get("status", {}), h.get("log", [])
        return (f"{st.get('state', '?')}  channel {st.get('channel', '-')}  PAN 0x{int(st.get('pan_id') or 0):04X}  "
                f"EZSP v{st.get('ezsp', '?')}   {sum(1 for e in log if e.get('joined'))}/{len(log)} devices joined")

    def line(self) -> str:
        """A one-line summary for non-interactive output."""
        st, info = self.status, self.info
        return (
            f"hub {info.get('hub_id', '?')} {self.online.get('state', '?')} up {_dur(st.get('uptime_ms'))} "
            f"boots {st.get('boot_count', '-')} heap {int(info.get('heap_used', 0)) // 1024}K "
            f"mqtt {st.get('links', {}).get('mqtt', {}).get('state', '?')}"
            + (f" han {self._han_text()}" if self.han is not None else "")
        )
