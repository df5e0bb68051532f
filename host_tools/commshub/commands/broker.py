"""`commshub broker`: run the embedded MQTT broker in the foreground."""

from __future__ import annotations

import argparse

from .. import broker


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "broker",
        help="run the embedded MQTT broker (amqtt) in the foreground",
        description="Run the embedded amqtt broker. Hubs and tools reach it as mqtt://HOST:PORT; "
        "any other broker (Mosquitto, EMQX) works the same through --broker.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=1883, help="port (default 1883)")
    p.add_argument("-v", "--verbose", action="store_true", help="log connections and packets")
    p.set_defaults(func=lambda a: broker.main(["--host", a.host, "--port", str(a.port)] + (["-v"] if a.verbose else [])))
