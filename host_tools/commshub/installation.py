"""The HAN part of `commshub run`: an ESME, a GSME and a PPMID on the emulated hub's air.

Each device is a `commshub han start --foreground` process (the same emulator a user
starts by hand) on a virtual NCP of the hub's own air, added to the hub's device log
over the control plane, so it joins through the trust centre with its install code
like any real device. Nothing here talks Zigbee: the devices and the hub do.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import paths
from .links.base import Link
from .protocol.errors import HubError, HubTimeout

# (kind, GBCS device type code of the device log: 0 GSME, 1 ESME, 5 PPMID)
DEVICES = (("esme", 1), ("gsme", 0), ("ppmid", 5))
JOIN_WINDOW_S = 3600


@dataclass
class Member:
    """One device of the installation and its process."""

    kind: str
    type_code: int
    eui64: str
    install_code: str
    port: int
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None


@dataclass
class Installation:
    """Starts the devices, logs them on the hub, stops them; opens the air to others."""

    name: str
    hub_id: str
    air: Any  # the emulated hub's AirThread
    members: list[Member] = field(default_factory=list)
    capture: Any = None

    def open_air(self) -> int:
        """A control port on the hub's air (as `commshub air serve` has), so that
        `commshub han start --air 127.0.0.1:PORT` and bellows can join this HAN too."""
        from .radio.control import AirControl

        control = AirControl(self.air.air)
        port: int = self.air.call(control.serve)
        return port

    def capture_to(self, path: str | Path) -> None:
        """Write a capture of the air (JSON lines + a readable .txt beside it) until stop()."""
        from .radio import capture

        names = {self.hub_id: "hub"} | {self.eui_for(k): k.upper() for k, _ in DEVICES}
        self.capture = capture.attach(self.air, path, names=names)

    def eui_for(self, kind: str) -> str:
        """A stable, locally administered EUI-64 per instance and kind (so a log entry stays valid)."""
        return "06" + hashlib.sha256(f"{self.name}/{kind}".encode()).hexdigest()[:14].upper()

    def start(self, hub: Link) -> list[Member]:
        """Start each device on a new NCP of the air and add it to the hub's device log."""
        logs = paths.REPO / ".cache" / "han"
        logs.mkdir(parents=True, exist_ok=True)
        for kind, code in DEVICES:
            eui = self.eui_for(kind)
            ncp = self.air.add_ncp(eui)
            m = Member(kind, code, eui, os.urandom(16).hex().upper(), self.air.serve_tcp(ncp),
                       log=logs / f"{self.name}-{kind}.log")
            # Log it first: a device that finds the network before it may join is refused once.
            hub.request("han.log.add", {"eui64": eui, "type": code, "install_code": m.install_code,
                                        "join_s": JOIN_WINDOW_S}, timeout=10)
            cmd = [sys.executable, "-m", "commshub.cli", "han", "start", "--kind", kind, "--foreground", "--fresh",
                   "--port", f"socket://127.0.0.1:{m.port}", "--eui64", eui, "--install-code", m.install_code,
                   "--ext-pan-id", self.hub_id, "--name", f"{self.name}-{kind}"]
            with open(m.log, "wb") as out:
                m.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          env=dict(os.environ, PYTHONPATH=str(paths.REPO / "host_tools")))
            self.members.append(m)
        return self.members

    def stop(self) -> None:
        """Stop the device processes (their log entries stay on the hub, as after a power cut)."""
        if self.capture is not None:
            from .radio import capture

            capture.detach(self.air, self.capture)
            self.capture = None
        for m in self.members:
            if m.proc and m.proc.poll() is None:
                m.proc.terminate()
        for m in self.members:
            if m.proc:
                try:
                    m.proc.wait(5)
                except subprocess.TimeoutExpired:
                    m.proc.kill()
        self.members.clear()


def han_summary(link: Link) -> dict[str, Any] | None:
    """The hub's HAN state and device log for the status view (None: the hub has no radio)."""
    try:
        st = link.request("han.status", timeout=2).result
        log = link.request("han.log", timeout=2).result
    except HubError as e:
        if e.code == "unknown_command":
            return None
        return {"error": f"{e.code}: {e.message}"}
    except HubTimeout as e:
        return {"error": str(e)}
    return {"status": st, "log": log.get("log", [])}
