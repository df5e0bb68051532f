"""The control plane over MQTT, as a head-end would drive it (paho-mqtt)."""

from __future__ import annotations

import itertools
import json
import os
import socket
import threading
import time
from typing import Any, Callable
from urllib.parse import urlparse

import paho.mqtt.client as mqtt

from ..protocol import frame as fr
from ..protocol.errors import HubError, HubTimeout
from .base import Event, Link, Reply

TOPIC_ROOT = "commshub"


def parse_broker_url(url: str) -> tuple[str, int]:
    """`mqtt://host:port` (or host:port) -> (host, port); port defaults to 1883."""
    if "://" not in url:
        url = "mqtt://" + url
    u = urlparse(url)
    if u.scheme not in ("mqtt", "tcp"):
        raise ValueError(f"unsupported broker URL {url!r}: use mqtt://host:port")
    if not u.hostname:
        raise ValueError(f"broker URL {url!r} has no host")
    return u.hostname, u.port or 1883


def set_nodelay(client: mqtt.Client) -> None:
    """Turn off Nagle on paho's socket (paho leaves it on).

    Without it a publish written while our previous PUBACK is still unacknowledged
    waits for the broker's delayed ACK: every request-response costs ~40 ms.
    """
    sock = client.socket()
    if sock is not None and hasattr(sock, "setsockopt"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def ready_client(broker_url: str, client_id: str, topics: list[tuple[str, int]] | None = None,
                 on_message: Callable | None = None, timeout: float = 10.0) -> mqtt.Client:
    """A paho client with its loop running, connected (CONNACK seen, Nagle off) and subscribed to
    `topics` (SUBACK seen), so that what a benchmark times holds none of the setup.
    Raises HubTimeout if the broker does not accept it within `timeout` s."""
    host, port = parse_broker_url(broker_url)
    up, subscribed = threading.Event(), threading.Event()

    def on_connect(client, _userdata, _flags, reason_code, _properties) -> None:
        if not reason_code.is_failure:
            set_nodelay(client)
            up.set()

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    c.on_connect = on_connect
    c.on_subscribe = lambda *a: subscribed.set()
    if on_message is not None:
        c.on_message = on_message
    c.connect(host, port)
    c.loop_start()
    ok = up.wait(timeout)
    if ok and topics:
        c.subscribe(topics)
        ok = subscribed.wait(timeout)
    if not ok:
        c.loop_stop()
        raise HubTimeout(f"MQTT broker {broker_url} did not accept client {client_id} in {timeout:.0f} s")
    return c


def topic_prefix(hub_id: str) -> str:
    return f"{TOPIC_ROOT}/{hub_id}/"


def encode_bin_envelope(req_id: str, command: str, args: dict | bytes | None, data: bytes) -> bytes:
    """`cmd/bin` payload: idlen, id, then the serial payload layout."""
    rid = req_id.encode()
    return fr.encode_payload(command, args, data, bytes((len(rid),)) + rid)


def decode_bin_envelope(payload: bytes) -> tuple[str, str, Any, bytes]:
    n = payload[0]
    rid = payload[1 : 1 + n].decode()
    name, body, data = fr.decode_payload(payload[1 + n :])
    return rid, name, body, data


class MqttLink(Link):
    """Request/response, events and the retained status of one hub over a broker."""

    name = "mqtt"
    _ids = itertools.count(1)

    def __init__(
        self,
        broker_url: str,
        hub_id: str,
        timeout: float = 5.0,
        client_id: str | None = None,
        on_event: Callable[[Event], None] | None = None,
        on_status: Callable[[dict], None] | None = None,
    ) -> None:
        super().__init__(timeout, on_event)
        self.broker_url = broker_url
        self.hub_id = hub_id
        self.prefix = topic_prefix(hub_id)
        self.on_status = on_status
        self.status: dict | None = None
        self.last_response: dict | None = None
        self._status_cv = threading.Condition()
        self._tag = f"h{os.getpid():x}{next(self._ids)}"
        self._n = itertools.count(1)
        self._connected = threading.Event()
        self.connects = 0
        self._suback = threading.Event()
        host, port = parse_broker_url(broker_url)
        cid = client_id or f"commshub-host-{self._tag}"
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv311)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self._suback.set()
        self.client.on_disconnect = lambda *a: self._connected.clear()
        self.client.reconnect_delay_set(0.2, 2)
        try:
            self.client.connect(host, port, keepalive=30)
        except OSError as e:
            raise ConnectionError(f"cannot reach MQTT broker at {broker_url}: {e}") from e
        self.client.loop_start()
        if not self._connected.wait(timeout) or not self._suback.wait(timeout):
            self.client.loop_stop()
            raise HubTimeout(f"MQTT broker {broker_url} did not accept the connection in {timeout:.0f} s")

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            return
        set_nodelay(client)
        self._suback.clear()
        client.subscribe([(self.prefix + t, 1) for t in ("rsp", "rsp/bin", "evt", "status")])
        self._connected.set()
        self.connects += 1

    def _on_message(self, client, userdata, msg) -> None:
        sub = msg.topic[len(self.prefix) :]
        try:
            if sub == "rsp/bin":
                rid, name, body, data = decode_bin_envelope(msg.payload)
                self._complete(rid, Reply(name, body, data))
                return
            doc = json.loads(msg.payload)
        except (ValueError, IndexError, UnicodeDecodeError):
            return  # not ours to judge; a head-end ignores what it cannot read
        if sub == "rsp":
            rid = doc.get("id")
            if doc.get("ok"):
                self._complete(rid, Reply(doc.get("cmd", ""), doc.get("result")))
            else:
                err = doc.get("error") or {}
                self._complete(rid, HubError(str(err.get("code")), str(err.get("message")), doc.get("cmd")))
            self.last_response = doc
        elif sub == "evt":
            self._push_event(Event(str(doc.get("event")), doc))
        elif sub == "status":
            with self._status_cv:
                self.status = doc
                self._status_cv.notify_all()
            if self.on_status:
                self.on_status(doc)

    # -- requests ------------------------------------------------------------
    def new_id(self) -> str:
        return f"{self._tag}-{next(self._n)}"

    def publish(self, subtopic: str, payload: bytes | str, qos: int = 1, retain: bool = False,
                wait: bool = True) -> None:
        """Publish anything under the hub's prefix (fuzzing, hand-made commands).

        After a broker restart this waits for the link to reconnect first, and
        with `wait` for the broker to take the message (its PUBACK).
        """
        if not (self._connected.is_set() and self._suback.is_set()) and \
                not (self._connected.wait(self.timeout) and self._suback.wait(self.timeout)):
            raise HubTimeout(f"not connected to the MQTT broker {self.broker_url}")
        info = self.client.publish(self.prefix + subtopic, payload, qos=qos, retain=retain)
        if wait:
            info.wait_for_publish(self.timeout)

    def request(
        self,
        command: str,
        args: dict | None = None,
        data: bytes = b"",
        timeout: float | None = None,
        req_id: str | None = None,
    ) -> Reply:
        """Send one command (JSON, or the binary envelope when there is data) and wait."""
        rid = req_id or self.new_id()
        slot = self._register(rid)
        self._transmit(rid, command, args, data)
        return self._wait(rid, slot, command, timeout)

    def _new_key(self) -> str:
        return self.new_id()

    def _transmit(self, key: Any, command: str, args: dict | bytes | None, data: bytes) -> None:
        # Not waiting for the broker's PUBACK: the hub's answer acknowledges a
        # request (or its timeout says it was lost), and waiting for each one
        # would allow one block in flight between here and the broker, where
        # an image push keeps a window of them.
        if data:
            self.publish("cmd/bin", encode_bin_envelope(key, command, args, data), wait=False)
        else:
            doc: dict[str, Any] = {"id": key, "cmd": command}
            if args:
                doc["args"] = json.loads(args) if isinstance(args, bytes) else args
            self.publish("cmd", json.dumps(doc, separators=(",", ":")), wait=False)

    def wait_status(self, where: Callable[[dict], bool], timeout: float = 10.0) -> dict:
        """Wait until the retained status satisfies `where` (e.g. state == 'online')."""
        deadline = time.monotonic() + timeout
        with self._status_cv:
            while self.status is None or not where(self.status):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise HubTimeout(f"status of {self.hub_id} is {self.status!r} after {timeout:.0f} s")
                self._status_cv.wait(left)
            return self.status

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
