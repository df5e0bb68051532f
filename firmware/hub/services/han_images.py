"""Device images: the firmware the hub holds for its HAN devices (docs/RADIO.md, "HAN services").

A device image is a GBCS image (a Zigbee OTA file) for a device's manufacturer
code and image type. It is uploaded with `han.image.offer` / `han.image.block`,
the hub's own resumable, windowed download (hub.services.transfer, docs/IMAGES.md
section 4) on a store of its own (`/data/han_img`). When the last block is in,
the file's SHA-256 and its OTA header are checked (streamed: never the image in
RAM), and it becomes the image offered to devices of that manufacturer code and
image type, replacing the one held before. The hub does not check the signature:
the device does (its trusted key), and refuses a bad image with Upgrade End.

Power cuts leave the old or the new image: the file is renamed under a name of
its own, then the index (`index.json`, written atomically) points at it, then the
old file goes; files the index does not name are removed at start.
"""

import hashlib
import os
import struct
from binascii import hexlify

from hub.errors import HubError, bad_args
from hub.services.store import Store, join

OTA_FILE_ID = 0x0BEEF11E
_HDR = 56  # the OTA header's fixed part
_DIR = "han_img"  # under the hub's data directory
_KEEP = ("staging.bin", "transfer.json", "index.json", "ota.json")  # ota.json: hub.services.ota_server


def image_key(mfr, itype):
    """The index key of a device type: manufacturer code and image type as 8 hex digits."""
    return "%04X%04X" % (mfr, itype)


def parse_header(b):
    """(manufacturer, image type, file version, total size) of an OTA file header; bad_format if not one."""
    if len(b) < _HDR:
        raise HubError("bad_format", "shorter than a Zigbee OTA header")
    fid, _v, hlen, _fc, mfr, itype, ver = struct.unpack_from("<IHHHHHI", b, 0)
    total, = struct.unpack_from("<I", b, 52)
    if fid != OTA_FILE_ID or hlen < _HDR:
        raise HubError("bad_format", "not a Zigbee OTA file")
    return mfr, itype, ver, total


class DeviceImages:
    def __init__(self, data_dir, bus, log):
        self.store = Store(data_dir, log, _DIR)
        self.bus = bus
        self.log = log
        idx = self.store.load("index", {})
        self.index = idx if isinstance(idx, dict) else {}  # key -> [version, size, file name, sha256]
        self.xfer = None
        self._tidy()

    def _tidy(self):
        have = os.listdir(self.store.dir)
        gone = [k for k, e in self.index.items() if e[2] not in have]  # a cut while re-installing a version
        for k in gone:
            del self.index[k]
        if gone:
            self.store.save("index", self.index)
        names = [e[2] for e in self.index.values()]
        for n in have:
            if n not in names and n not in _KEEP and not n.endswith(".tmp"):
                self._rm(n)

    def _rm(self, name):
        try:
            os.remove(join(self.store.dir, name))
        except OSError:
            pass

    def find(self, mfr, itype):
        """(version, size, path) of the image for that device type, or None."""
        e = self.index.get(image_key(mfr, itype))
        return None if e is None else (e[0], e[1], join(self.store.dir, e[2]))

    def view(self, key):
        e = self.index[key]
        return {"manufacturer": int(key[:4], 16), "image_type": int(key[4:], 16), "version": e[0],
                "size": e[1], "sha256": e[3]}

    def list(self):
        """han.image.list's result."""
        r = self.xfer.status() if self.xfer else None
        return {"images": [self.view(k) for k in sorted(self.index)], "transfer": r}

    def remove(self, mfr, itype):
        """Stop offering the image for a device type."""
        if type(mfr) is not int or type(itype) is not int:
            raise bad_args("manufacturer and image_type must be ints")
        k = image_key(mfr & 0xFFFF, itype & 0xFFFF)
        if k not in self.index:
            raise HubError("not_found", "no image for %04X/%04X" % (mfr, itype))
        v = self.view(k)
        e = self.index.pop(k)
        self.store.save("index", self.index)
        self._rm(e[2])
        return {"removed": v}

    # -- upload (the hub's own transfer, on this store) ---------------------------------

    def _transfer(self):
        if self.xfer is None:
            from hub.services.transfer import Transfer

            self.xfer = Transfer(self.store, self.bus, self.log)
        return self.xfer

    def offer(self, size, hsh, block_size=None, window=None):
        a = self._transfer().offer(size, hsh, block_size, window)
        return self._install() if a["state"] == "received" else a  # (the last answer got lost)

    def block(self, offset, data, reply=True):
        t = self._transfer()
        a = t.block(offset, data, reply)
        return self._install() if a and a["done"] else a

    def abort(self):
        return {"aborted": self._transfer().abort()}

    def _install(self):
        t = self.xfer
        r = t.rec
        try:
            hdr = self._check(t.path, r["hash"], r["size"])
        except HubError:
            t.abort()
            raise
        mfr, itype, ver, size = hdr
        k = image_key(mfr, itype)
        name = "%s_%08X.ota" % (k, ver)
        old = self.index.get(k)
        t.close()
        if old and old[2] == name:
            self._rm(name)
        os.rename(t.path, join(self.store.dir, name))
        self.index[k] = [ver, size, name, r["hash"]]
        self.store.save("index", self.index)
        if old and old[2] != name:
            self._rm(old[2])
        t.abort()  # the transfer record goes; the staging file is already the image
        self.xfer = None
        self.log.info("han image %s version %08X held (%d bytes)" % (k, ver, size))
        return {"transfer": r["hash"], "offset": size, "need": [], "done": True, "state": "installed",
                "image": self.view(k)}

    def _check(self, path, hsh, size):
        h = hashlib.sha256()
        buf = bytearray(256)
        mv = memoryview(buf)
        first = None
        with open(path, "rb") as f:
            while True:
                n = f.readinto(buf)
                if not n:
                    break
                if first is None:
                    first = bytes(mv[:n])
                h.update(mv[:n])
        if hexlify(h.digest()).decode() != hsh:
            raise HubError("bad_hash", "the file's SHA-256 is not the one offered")
        hdr = parse_header(first or b"")
        if hdr[3] != size:
            raise HubError("bad_format", "the OTA header says %d bytes, the file has %d" % (hdr[3], size))
        return hdr
