"""A hub under control: a target plus its serial and MQTT links.

This is what the HIL fixtures, the CLI's live view and the benchmarks hold.
"""

from __future__ import annotations

import time
from .links.base import Link, Reply
from .links.mqtt_link import MqttLink
from .links.serial_link import SerialLink
from .targets import Target


class Hub:
    """Bring a target up and talk to it over either link."""

    def __init__(self, target: Target, broker_url: str | None, timeout: float = 5.0) -> None:
        self.target = target
        self.broker_url = broker_url
        self.timeout = timeout
        self.serial: SerialLink | None = None
        self.mqtt: MqttLink | None = None
        self.hub_id: str | None = None
        self.info: dict = {}
        self.boot_s: float | None = None

    @property
    def board(self):
        return self.target.board

    def start(self, ready_timeout: float = 30.0) -> "Hub":
        self.target.start()
        self.serial = SerialLink(self.target.serial_url, baud=self.board.baud, timeout=self.timeout)
        attach = getattr(self.target, "attach", None)
        if attach:
            attach(self.serial)
        self.boot_s = self.target.wait_ready(ready_timeout)
        self.info = self.serial.request("info").result
        self.hub_id = self.info["hub_id"]
        if self.broker_url:
            self._point_at_broker()
            self.mqtt = MqttLink(self.broker_url, self.hub_id, timeout=self.timeout)
            self.wait_online()
        return self

    def _point_at_broker(self) -> None:
        # A real board keeps whatever broker it was given last; the emulator is provisioned.
        assert self.serial is not None
        current = self.serial.request("config.get", {"key": "mqtt.url"}).result.get("value")
        if current != self.broker_url:
            self.serial.request("config.set", {"key": "mqtt.url", "value": self.broker_url})

    def link(self, via: str) -> Link:
        """The link named `via` ("serial" or "mqtt")."""
        link = {"serial": self.serial, "mqtt": self.mqtt}.get(via)
        if link is None:
            raise ValueError(f"no {via} link to this hub (is a broker configured?)")
        return link

    def request(self, command: str, args: dict | None = None, data: bytes = b"", via: str = "serial", timeout: float | None = None) -> Reply:
        return self.link(via).request(command, args, data, timeout=timeout)

    def wait_online(self, timeout: float = 20.0) -> dict:
        """Wait for the retained MQTT status to say online (after boot or reconnect)."""
        assert self.mqtt is not None
        return self.mqtt.wait_status(lambda s: s.get("state") == "online" and s.get("uptime_ms", 0) >= 0, timeout)

    def power_cut(self) -> None:
        self.target.power_cut()

    def power_on(self, ready_timeout: float = 30.0) -> float:
        """Power on and wait until the control plane answers."""
        self.target.power_on()
        self.boot_s = self.target.wait_ready(ready_timeout)
        return self.boot_s

    def power_cycle(self, off_s: float = 0.0, ready_timeout: float = 30.0) -> float:
        self.power_cut()
        if off_s:
            time.sleep(off_s)
        return self.power_on(ready_timeout)

    def reboot(self, via: str = "serial", ready_timeout: float = 30.0) -> dict:
        """Command a reboot and wait for the new boot's `boot` event; returns its body."""
        since = time.monotonic()
        self.request("reboot", {"delay_ms": 50}, via=via)
        assert self.serial is not None
        ev = self.serial.wait_event("ready", timeout=ready_timeout, since=since)
        return ev.body

    def stop(self) -> None:
        for link in (self.mqtt, self.serial):
            if link is not None:
                try:
                    link.close()
                except Exception:
                    pass
        self.target.stop()
