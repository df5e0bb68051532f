"""Hub configuration (PROTOCOL.md, "Config keys"): validated, all or nothing.

Only explicitly set keys are persisted, so a default that comes from
provisioning (mqtt.url) still applies until someone overrides it.
"""

from hub.errors import HubError, bad_args


def parse_mqtt_url(url):
    """'mqtt://host:port' -> (host, port); ValueError if malformed."""
    if not isinstance(url, str) or not url.startswith("mqtt://"):
        raise ValueError("want mqtt://host:port")
    rest = url[7:]
    host, sep, port = rest.rpartition(":")
    if not sep:
        host, port = rest, "1883"
    if not host or not port.isdigit() or len(port) > 5:
        raise ValueError("want mqtt://host:port")
    for c in host.encode():  # bytes: a str's characters would each become a name (see is_hex)
        if c in b"/ @?#" or c < 0x21 or c > 0x7E:
            raise ValueError("bad host")
    p = int(port)
    if not 1 <= p <= 65535:
        raise ValueError("port out of range")
    return host, p


def _str(limit):
    def check(v):
        if not isinstance(v, str):
            return "must be a string"
        if len(v) > limit:
            return "at most %d characters" % limit

    return check


def _int(lo, hi):
    def check(v):
        if type(v) is not int:
            return "must be an int"
        if not lo <= v <= hi:
            return "must be %d..%d" % (lo, hi)

    return check


def _url(v):
    if v == "":
        return None
    try:
        parse_mqtt_url(v)
    except ValueError as e:
        return "must be \"\" or mqtt://host:port (%s)" % e


def _level(v):
    if v not in ("debug", "info", "warn", "error"):
        return "must be debug, info, warn or error"


# key -> (default, check(value) -> None or a reason)
SCHEMA = {
    "label": ("", _str(64)),
    "notes": ("", _str(2048)),
    "mqtt.url": ("", _url),
    "mqtt.keepalive": (60, _int(5, 3600)),
    "status.interval_s": (30, _int(1, 3600)),
    "log.level": ("info", _level),
    "han.channel": (15, _int(11, 26)),
    "han.pan_id": (0, _int(0, 0xFFFE)),
}


class Config:
    def __init__(self, store=None, defaults=None, bus=None, log=None):
        self.store = store
        self.bus = bus
        self.defaults = {k: v[0] for k, v in SCHEMA.items()}
        if defaults:
            for k, v in defaults.items():
                if k in SCHEMA and SCHEMA[k][1](v) is None:
                    self.defaults[k] = v
        saved = store.load("config", {}) if store else {}
        self.overrides = {}
        for k, v in saved.items():
            if k in SCHEMA and SCHEMA[k][1](v) is None:
                self.overrides[k] = v
            elif log:
                log.warn("config: ignoring stored %s" % k)

    def get(self, key=None):
        """The value of `key`, or the whole configuration as a dict."""
        if key is None:
            d = dict(self.defaults)
            d.update(self.overrides)
            return d
        if key not in SCHEMA:
            raise HubError("bad_args", "unknown key %r" % (key,))
        return self.overrides.get(key, self.defaults[key])

    def __getitem__(self, key):
        return self.get(key)

    def set(self, values):
        """Set several keys at once: all are valid or nothing changes.

        Persists atomically and emits `config.changed`; returns the changed keys.
        """
        if not isinstance(values, dict) or not values:
            raise bad_args("values must be a non-empty object")
        for k, v in values.items():
            if not isinstance(k, str) or k not in SCHEMA:
                raise bad_args("unknown key %r" % (k,))
            why = SCHEMA[k][1](v)
            if why:
                raise bad_args("%s %s" % (k, why))
        changed = [k for k in sorted(values) if self.get(k) != values[k]]
        if not changed:
            return changed
        new = dict(self.overrides)
        new.update(values)
        if self.store:
            self.store.save("config", new)  # raises before anything changed
        self.overrides = new
        if self.bus:
            self.bus.emit("config.changed", {"keys": changed})
        return changed
