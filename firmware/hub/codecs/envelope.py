"""MQTT payloads (PROTOCOL.md, "MQTT"): JSON commands, binary envelopes, replies.

    cmd      {"id": "<1..32 chars>", "cmd": "ping", "args": {...}}
    cmd/bin  idlen u8 | id | payload (as in a serial frame)
"""

from hub.codecs import dumps, loads
from hub.codecs.frame import decode_payload, parse_json, payload_size, write_payload
from hub.errors import HubError


class EnvelopeError(HubError):
    """A command that cannot be run; `cid`/`cmd` are what could be read of it."""

    def __init__(self, code, message, cid=None, cmd=None):
        super().__init__(code, message)
        self.cid = cid
        self.cmd = cmd


def _valid_id(cid):
    return isinstance(cid, str) and 1 <= len(cid) <= 32


def parse_cmd(msg):
    """JSON command -> (id, cmd, args, None) (as parse_bin's, no data);
    EnvelopeError bad_json / bad_request."""
    try:
        obj = loads(msg)
    except HubError as e:
        raise EnvelopeError(e.code, e.message)
    if not isinstance(obj, dict):
        raise EnvelopeError("bad_request", "payload must be a JSON object")
    cid = obj.get("id")
    if not _valid_id(cid):
        raise EnvelopeError("bad_request", "id must be a string of 1..32 chars")
    cmd = obj.get("cmd")
    if not isinstance(cmd, str) or not cmd:
        raise EnvelopeError("bad_request", "missing cmd", cid)
    # Other fields are ignored, so a head-end may add its own (timestamps).
    return cid, cmd, obj.get("args", {}), None


def parse_bin(msg):
    """Binary command -> (id, cmd, args, data|None); EnvelopeError otherwise."""
    mv = msg if type(msg) is memoryview else memoryview(msg)
    if len(mv) < 1 or mv[0] < 1 or mv[0] > 32 or 1 + mv[0] > len(mv):
        raise EnvelopeError("bad_request", "bad id length")
    n = mv[0]
    try:
        cid = str(mv[1:1 + n], "utf-8")
    except Exception:
        raise EnvelopeError("bad_request", "id is not UTF-8")
    try:
        name, jb, data = decode_payload(mv, 1 + n)
    except ValueError as e:
        raise EnvelopeError("bad_frame", str(e), cid)
    try:
        args = parse_json(jb)
    except HubError as e:
        raise EnvelopeError(e.code, e.message, cid, name)
    return cid, name, args, (data if len(data) else None)


def rsp_ok(cid, cmd, result):
    """JSON success reply."""
    return dumps({"id": cid, "cmd": cmd, "ok": True, "result": result})


def rsp_err(cid, cmd, code, message):
    """JSON error reply (`id`/`cmd` null when unknown)."""
    return dumps({"id": cid, "cmd": cmd, "ok": False,
                  "error": {"code": code, "message": message}})


def rsp_bin(cid, cmd, result, data):
    """Binary success reply: idlen, id, payload (name, result JSON, data)."""
    i = cid.encode()
    n = cmd.encode()
    j = dumps(result).encode()
    buf = bytearray(1 + len(i) + payload_size(n, j, data))
    buf[0] = len(i)
    buf[1:1 + len(i)] = i
    write_payload(buf, 1 + len(i), n, j, data)
    return buf


def evt(name, seq, utc, body):
    """JSON event: {"event", "seq", "utc", ...body}."""
    d = {"event": name, "seq": seq, "utc": utc}
    for k in body:
        if k not in d:
            d[k] = body[k]
    return dumps(d)
