"""The embedded MQTT broker (amqtt), run as its own process.

A separate process keeps the broker's event loop away from the test process and
lets tests stop and restart it like a real broker. `--broker mqtt://host:port`
anywhere in the tools selects an external broker (Mosquitto, EMQX...) instead.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Iterator

from . import paths


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class _SubscriptionTable(dict):
    """amqtt's table of topic filters, iterated over a copy.

    amqtt (0.12.1) walks this table across awaits: on each new connection (sending
    retained messages) and on each broadcast. A SUBSCRIBE from another client landing
    meanwhile raised 'dictionary changed size during iteration', which dropped the
    connecting client (seen: paho is back only after its 1 s reconnect delay; see
    test_embedded_broker.py) and, by amqtt's code, would end a broadcast part-way.
    """

    def __iter__(self) -> Iterator[str]:
        return iter(list(dict.keys(self)))

    def items(self) -> list:  # type: ignore[override]
        return list(dict.items(self))


def serve(host: str, port: int, verbose: bool = False) -> None:
    """Run amqtt in the foreground until SIGINT/SIGTERM."""
    from amqtt.broker import Broker

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("transitions", "amqtt"):
        logging.getLogger(noisy).setLevel(logging.INFO if verbose else logging.ERROR)
    config = {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 2000}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }

    async def main() -> None:
        broker = Broker(config)
        broker._subscriptions = _SubscriptionTable()  # see _SubscriptionTable
        await broker.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print(f"amqtt broker listening on mqtt://{host}:{port}", flush=True)
        await stop.wait()
        await broker.shutdown()

    asyncio.run(main())


class EmbeddedBroker:
    """An amqtt broker in a child process; `url` is where to reach it."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = paths.CACHE / "broker" / f"amqtt-{self.port}.log"

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> "EmbeddedBroker":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        env = dict(os.environ, PYTHONPATH=str(paths.REPO / "host_tools") + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "commshub.broker", "--host", self.host, "--port", str(self.port)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        )
        log.close()
        if not wait_port(self.host, self.port, timeout):
            self.stop()
            raise RuntimeError(f"amqtt did not start on {self.url}; see {self.log_path}")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> "EmbeddedBroker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="commshub.broker", description="Run the embedded amqtt broker.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args(argv)
    serve(a.host, a.port, a.verbose)
    return 0


if __name__ == "__main__":
    sys.exit(main())
