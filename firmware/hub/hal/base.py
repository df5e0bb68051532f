"""What every board shares: the files on its flash and the clock epoch."""

import json
import time

from hub.codecs import is_hex
from micropython import const

# The one place the storage root is decided: "/" on a board; tests and host
# runs pass another directory to Hal(root) / hub.app.main(root=...).
ROOT = "/"
_EPOCH_2000 = const(946684800)


def join(a, b):
    if not a:
        return b
    return a.rstrip("/") + "/" + b


def _is_hub_id(s):
    return is_hex(s, 16, b"0123456789ABCDEF")


class BaseHal:
    platform = "unknown"

    def __init__(self, root=ROOT):
        self.root = root
        self.board = self.load_json("board.json")
        self.provision = self.load_json("provision.json")
        # Ports whose time.time() counts from 2000 (ESP32, RP2) need this.
        self.epoch = _EPOCH_2000 if time.gmtime(0)[0] == 2000 else 0
        self.problems = []  # logged by the app once the log exists

    def path(self, name):
        """Absolute path of `name` on the board's filesystem."""
        return join(self.root, name)

    def load_json(self, name):
        """A JSON object from the flash, or {} if absent or unreadable."""
        try:
            with open(self.path(name)) as f:
                obj = json.load(f)
            return obj if isinstance(obj, dict) else {}
        except Exception:
            return {}

    def rtc(self):
        """The board's clock in Unix seconds."""
        return time.time() + self.epoch

    def hub_id(self):
        """The provisioned EUI-64 as 16 uppercase hex digits."""
        h = self.provision.get("hub_id")
        if _is_hub_id(h):
            return h
        self.problems.append("provision.json has no valid hub_id")
        return self.fallback_id()

    def fallback_id(self):
        return "FFFFFFFFFFFFFFFF"

    def mqtt_url(self):
        u = self.provision.get("mqtt_url", "")
        return u if isinstance(u, str) else ""

    def image_ids(self):
        """(manufacturer, image_type) this hub accepts in firmware images."""
        img = self.provision.get("image")
        img = img if isinstance(img, dict) else {}
        m = img.get("manufacturer", 0x1234)
        t = img.get("image_type", 0x0001)
        ok = lambda v: type(v) is int and 0 <= v <= 0xFFFF  # noqa: E731
        return (m if ok(m) else 0x1234), (t if ok(t) else 0x0001)

    def trusted_keys(self):
        """The provisioned image-signing public keys as 64-byte raw X||Y."""
        from binascii import unhexlify

        out = []
        keys = self.provision.get("trusted_keys")
        for k in keys if isinstance(keys, list) else ():
            try:
                if isinstance(k, str) and len(k) == 128:
                    out.append(unhexlify(k))
                    continue
            except ValueError:
                pass
            self.problems.append("provision.json: ignoring a malformed trusted key")
        return out

    def reset_hint(self):
        """What the board itself knows about the last reset, if anything."""
        return None

    def control_streams(self):
        """(StreamReader, StreamWriter) of the control-plane UART."""
        raise NotImplementedError

    def radio_streams(self):
        """(StreamReader, StreamWriter) of the Zigbee NCP's UART, or None: no radio."""
        return None

    def console_shared(self):
        """True when frames share the UART with console text (print)."""
        return False

    def reset(self):
        """Reset the board; does not return."""
        raise SystemExit(3)
