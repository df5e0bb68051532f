"""A JSON-lines control port for a VirtualAir in its own process (`commshub air serve`).

One request per line, one answer per line: `{"cmd": ..., ...}` ->
`{"ok": true, ...}` or `{"ok": false, "error": "..."}` (a bad request changes
nothing). Commands:

- `add_ncp {eui64, ezsp=8, pty=false, port=0, baud=null}` -> `{eui64, port, pty}`: a new
  NCP on TCP (bellows `socket://HOST:port`) and, with `pty`, on a pty too; `baud`
  paces its UART (default: the server's --baud, else unpaced).
- `list` -> `{radios: [{eui64, ezsp, up, node_id, node_type, port, pty}]}`
- `set_link {a, b, loss=0, latency_s=0}`, `set_default_link {loss, latency_s}`
- `reset_ncp {eui64}`, `faults {eui64, drop, corrupt, nak, drop_rx, ...}`
- `events` -> the connection becomes a stream of AirEvents, one JSON record per
  line (capture's record format), until the client closes it.

`request(host, port, obj)` is the client side for scripts and tests.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import bellows.types as t

from commshub.radio.air import AirEvent, VirtualAir
from commshub.radio.capture import to_record
from commshub.radio.ncp import SUPPORTED_VERSIONS, VirtualNcp, to_eui64

MAX_LINE = 64 * 1024


class ControlError(ValueError):
    """A request the control port refuses (answered as {"ok": false, "error": ...})."""


class AirControl:
    """Serves the control protocol for one VirtualAir."""

    def __init__(self, air: VirtualAir, ncp_host: str = "127.0.0.1",
                 baud: int | None = None) -> None:
        self.air = air
        self.ncp_host = ncp_host
        self.baud = baud
        self.ptys: dict[t.EUI64, str] = {}
        self._server: asyncio.Server | None = None

    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen for control clients; the port."""
        self._server = await asyncio.start_server(self._client, host, port, limit=MAX_LINE)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening and close every NCP."""
        if self._server is not None:
            self._server.close()
        for ncp in list(self.air.radios.values()):
            await ncp.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    req = json.loads(line)
                    if not isinstance(req, dict):
                        raise ControlError("a request is a JSON object")
                    if req.get("cmd") == "events":
                        await self._stream(writer)
                        return
                    answer = {"ok": True, **await self.handle(req)}
                except (ControlError, ValueError, TypeError, KeyError) as exc:
                    answer = {"ok": False, "error": str(exc) or type(exc).__name__}
                writer.write(json.dumps(answer).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writer.close()

    async def _stream(self, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[AirEvent] = asyncio.Queue()
        self.air.add_listener(queue.put_nowait)
        try:
            writer.write(b'{"ok": true, "streaming": "events"}\n')
            while True:
                event = await queue.get()
                writer.write(json.dumps(to_record(event)).encode() + b"\n")
                await writer.drain()
        finally:
            self.air.remove_listener(queue.put_nowait)

    def _ncp(self, req: dict[str, Any]) -> VirtualNcp:
        eui = to_eui64(str(req["eui64"]))
        ncp = self.air.radios.get(eui)
        if ncp is None:
            raise ControlError(f"no NCP {eui} on this air")
        return ncp

    async def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        """Carry out one request; the answer's fields."""
        cmd = req.get("cmd")
        if cmd == "add_ncp":
            baud = req.get("baud")
            return await self.add_ncp(str(req["eui64"]), int(req.get("ezsp", 8)),
                                      bool(req.get("pty", False)), int(req.get("port", 0)),
                                      int(baud) if baud is not None else None)
        if cmd == "list":
            return {"radios": [self.describe(n) for n in self.air.radios.values()]}
        if cmd == "set_link":
            a, b = self._ncp({"eui64": req["a"]}), self._ncp({"eui64": req["b"]})
            self.air.set_link(a, b, float(req.get("loss", 0.0)), float(req.get("latency_s", 0.0)))
            return {}
        if cmd == "set_default_link":
            self.air.set_default_link(float(req.get("loss", 0.0)), float(req.get("latency_s", 0.0)))
            return {}
        if cmd == "reset_ncp":
            self._ncp(req).reset_ncp()
            return {}
        if cmd == "faults":
            ncp = self._ncp(req)
            knobs = {k: v for k, v in req.items() if k not in ("cmd", "eui64")}
            ncp.faults.set(**knobs)
            return {"counts": dict(ncp.faults.counts)}
        raise ControlError(f"unknown command {cmd!r} (add_ncp, list, set_link, "
                           "set_default_link, reset_ncp, faults, events)")

    async def add_ncp(self, eui64: str, ezsp: int = 8, pty: bool = False,
                      port: int = 0, baud: int | None = None) -> dict[str, Any]:
        """A new NCP on the air, served on TCP (and a pty)."""
        if ezsp not in SUPPORTED_VERSIONS:
            raise ControlError(f"EZSP v{ezsp} not supported (8 to 13)")
        ncp = self.air.add_ncp(eui64, protocol_version=ezsp, baud=baud or self.baud)
        await ncp.serve_tcp(self.ncp_host, port)
        if pty:
            self.ptys[ncp.eui64] = ncp.open_pty()
        return self.describe(ncp)

    def describe(self, ncp: VirtualNcp) -> dict[str, Any]:
        """What a client wants to know about one NCP."""
        tok = ncp.tokens
        return {
            "eui64": str(ncp.eui64), "ezsp": ncp.protocol_version, "up": ncp.up,
            "node_id": ncp.node_id if ncp.up else None,
            "node_type": t.EmberNodeType(tok.node_type).name if tok else None,
            "port": ncp.port if ncp._servers else None, "pty": self.ptys.get(ncp.eui64),
            "baud": ncp.baud,
        }


def request(host: str, port: int, obj: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """Send one control request to an air server and return its answer (blocking)."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(json.dumps(obj).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the air server closed the connection")
            data += chunk
    answer: dict[str, Any] = json.loads(data)
    return answer
