"""The embedded broker (amqtt in a child process) under the load a bench or a HIL run puts on it."""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt

from commshub.broker import EmbeddedBroker
from commshub.links.mqtt_link import parse_broker_url


def _client(url: str, cid: str, lost: threading.Event | None = None) -> mqtt.Client:
    """A connected paho client with its loop running; `lost` is set if it is disconnected."""
    host, port = parse_broker_url(url)
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid)
    if lost is not None:
        c.on_disconnect = lambda *a: lost.set()
    c.connect(host, port)
    c.loop_start()
    return c


def test_connects_survive_concurrent_subscribes():
    """A client that connects while others subscribe keeps its connection.

    amqtt walks its whole subscription table when a client connects, pausing at each
    filter that has retained messages; a SUBSCRIBE landing in a pause used to abort
    the walk ('dictionary changed size during iteration') and drop the new client,
    which came back only after paho's 1 s reconnect delay.
    """
    with EmbeddedBroker() as broker:
        holder = _client(broker.url, "holder")
        for i in range(40):  # retained messages under filters someone holds: the connect walk pauses at each
            holder.publish(f"held/{i}", b"x", qos=1, retain=True).wait_for_publish(5)
        holder.subscribe([(f"held/{i}", 0) for i in range(40)])
        stop = threading.Event()

        def churn() -> None:
            c = _client(broker.url, "churn")
            i = 0
            while not stop.is_set():
                c.subscribe(f"churn/{i}", 0)  # a new filter: the table grows
                i += 1
                time.sleep(0.0005)
            c.disconnect()
            c.loop_stop()

        t = threading.Thread(target=churn, daemon=True)
        t.start()
        dropped = []
        try:
            for k in range(10):
                lost = threading.Event()
                c = _client(broker.url, f"newcomer-{k}", lost)
                if lost.wait(0.15):
                    dropped.append(k)
                c.disconnect()
                c.loop_stop()
        finally:
            stop.set()
            t.join(5)
            holder.disconnect()
            holder.loop_stop()
        assert dropped == [], f"the broker dropped newcomers {dropped} while another client subscribed"
