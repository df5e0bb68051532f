"""OTA Upgrade cluster server (0x0019, Zigbee OTA / SE 1.4) for the HAN's devices.

Query Next Image -> the image held for the device's manufacturer code and image
type when its version is newer than the one running (else NO_IMAGE_AVAILABLE);
Image Block Request -> Image Block Response read from the file at the offset
asked (at most _MAX_DATA bytes: one APS frame), through one preallocated buffer
and one open file; Upgrade End SUCCESS -> Upgrade End Response "upgrade now",
alert 0x8F8A; any other status (the device refused the image: bad signature,
not its own) -> Default Response, alert 0x8F89.

Per-device progress (`han.ota.status`) is kept in `han_img/ota.json`, written
atomically (hub.services.store): when an image is offered, when the first block
goes, each time the offset crosses a multiple of _SAVE_EVERY bytes (after a power
cut the offset shown may lag the device's by less than that; the device resumes
at its own offset, which the next block brings back) and at the outcome. An
outcome is reported once: it is saved unreported, alerted, then saved reported;
an Upgrade End repeated for an outcome already reported (the device did not hear
our answer: lost, or the hub restarted) is answered again without a new alert,
and one saved but not yet reported (a cut in between) is alerted when this
server next loads. A device whose query matched no image is remembered in RAM
only (`last_query`), so an engineer sees what it asked for.
"""

import struct

import asyncio
from micropython import const

from hub.codecs import zcl
from hub.events import alert
from hub.services.han_images import image_key

SE_PROFILE = const(0x0109)
OTA = const(0x0019)
_IMAGE_NOTIFY = const(0x00)
_QUERY = const(0x01)
_QUERY_RSP = const(0x02)
_BLOCK = const(0x03)
_BLOCK_RSP = const(0x05)
_END = const(0x06)
_END_RSP = const(0x07)
_NO_IMAGE = const(0x98)
_ABORT = const(0x95)
_MAX_DATA = const(64)  # 17 bytes of header and fields + 64 fit the 82-byte APS payload
_FC = zcl.FC_CLUSTER | zcl.FC_TO_CLIENT | zcl.FC_NO_DEFAULT_RSP
ZIGBEE_EPOCH = 946684800
STATUS_NAMES = {0x00: "success", 0x95: "abort", 0x96: "invalid_image", 0x97: "wait_for_data",
                0x98: "no_image_available", 0x99: "require_more_image"}
_SAVE_EVERY = const(4096)
_KEEP_DEVICES = const(8)  # progress entries kept (ota.json stays small however many devices came and went)
# Progress entry: [image key, version, offset, size, state, status, outcome reported]
KEY, VERSION, OFFSET, SIZE, STATE, STATUS, REPORTED = 0, 1, 2, 3, 4, 5, 6


def _valid(v):
    """Is `v` (from ota.json) a progress entry this code can use?"""
    try:
        int(v[KEY], 16)
        return len(v) == 7 and len(v[KEY]) == 8 and v[VERSION] + v[OFFSET] + v[SIZE] >= 0 and \
            v[STATE] in (None, "offered", "downloading", "success", "failed") and (v[STATUS] or 0) >= 0
    except Exception:
        return False


class OtaServer:
    def __init__(self, han, images, clock, bus, log, tsn):
        self.han = han
        self.tsn = tsn  # fn() -> the next ZCL sequence number of the hub's own requests
        self.images = images
        self.clock = clock
        self.bus = bus
        self.log = log
        self.store = images.store
        p = self.store.load("ota", {})
        self.progress = {e: v for e, v in p.items() if _valid(v)}  # eui -> entry (a damaged one is dropped)
        self.queries = {}  # eui -> (manufacturer, image type, version) of a query that matched no image
        self.buf = bytearray(17 + _MAX_DATA)
        self._file = None  # (path, open file) of the image last served
        self.blocks = 0
        han.receivers[(SE_PROFILE, OTA)] = self.frame
        for e, pr in self.progress.items():
            if pr[STATE] in ("success", "failed") and not pr[REPORTED]:
                self._report(e, pr)  # a cut between saving an outcome and reporting it

    def _save(self):
        self.store.save("ota", self.progress)

    def _entry(self, eui, mfr, itype, ver, size, state="offered"):
        """A new progress entry for `eui`; beyond _KEEP_DEVICES devices, entries whose outcome was reported go."""
        p = self.progress
        p.pop(eui, None)
        for e in [e for e in p if p[e][REPORTED]][:max(0, len(p) + 1 - _KEEP_DEVICES)]:
            del p[e]
        pr = p[eui] = [image_key(mfr, itype), ver, 0, size, state, None, False]
        return pr

    def status(self, eui=None):
        """han.ota.status's result: every device's progress, or one device's."""
        out = []
        for e, p in self.progress.items():
            if eui is None or e == eui:
                d = {"eui64": e, "manufacturer": int(p[KEY][:4], 16), "image_type": int(p[KEY][4:], 16),
                     "version": p[VERSION], "offset": p[OFFSET], "size": p[SIZE], "state": p[STATE]}
                if p[STATUS] is not None:
                    d["status"] = p[STATUS]
                    d["status_name"] = STATUS_NAMES.get(p[STATUS], "0x%02X" % p[STATUS])
                out.append(d)
        for e, q in self.queries.items():
            if eui is None or e == eui:
                d = [x for x in out if x["eui64"] == e]
                d = d[0] if d else {"eui64": e, "state": "no_image"}
                d["last_query"] = {"manufacturer": q[0], "image_type": q[1], "version": q[2],
                                   "answer": "no_image_available"}
                if d not in out:
                    out.append(d)
        return {"devices": out, "blocks_served": self.blocks}

    async def notify(self, node):
        """Image Notify (payload type 0, jitter 100: query now) to the device at `node`."""
        await self.han.unicast(node, OTA, zcl.encode_header(_FC, self.tsn(), _IMAGE_NOTIFY) + b"\x00\x64")

    def frame(self, node, eui, aps, payload):
        """A frame from a device on the OTA cluster (the HAN service's receiver)."""
        try:
            h = zcl.decode_header(payload)
            if h.is_global or not h.to_server:
                return
            if h.cmd == _QUERY:
                out = self._query(eui, payload, h.size)
            elif h.cmd == _BLOCK:
                out = self._block(eui, payload, h.size)
            elif h.cmd == _END:
                out = self._end(eui, payload, h)
            else:
                if h.fc & zcl.FC_NO_DEFAULT_RSP:
                    return
                out = self._default(h, zcl.UNSUP_CLUSTER_COMMAND)
            if out is not None:
                out[1] = h.seq
        except Exception as e:  # a malformed request: no answer, the device asks again
            self.log.warn("ota: bad frame from %s (%r)" % (eui, e))
            return
        if out is not None:  # copied now: the block buffer serves the next request
            asyncio.create_task(self._send(node, aps, bytes(out)))

    async def _send(self, node, aps, out):
        try:
            await self.han.unicast(node, OTA, out, aps[0], aps[3], aps[2])
        except Exception as e:  # the radio went away: the device asks again
            self.log.warn("ota: answer to 0x%04X not sent (%r)" % (node, e))

    def _default(self, h, status):
        return bytearray(zcl.encode_header(zcl.FC_TO_CLIENT | zcl.FC_NO_DEFAULT_RSP, h.seq, zcl.DEFAULT_RSP) +
                         zcl.encode_default_rsp(h.cmd, status))

    def _query(self, eui, p, off):
        _fc, mfr, itype, cur = struct.unpack_from("<BHHI", p, off)
        img = self.images.find(mfr, itype)
        if img is None or img[0] <= cur:
            self.queries[eui] = (mfr, itype, cur)
            return bytearray(zcl.encode_header(_FC, 0, _QUERY_RSP) + bytes((_NO_IMAGE,)))
        self.queries.pop(eui, None)
        ver, size, _path = img
        pr = self.progress.get(eui)
        # The same image again: a resumed download, or a repeated Upgrade End to come (a failure is retried).
        if pr is None or pr[VERSION] != ver or pr[KEY] != image_key(mfr, itype) or pr[STATE] == "failed":
            self._entry(eui, mfr, itype, ver, size)
            self._save()
        return bytearray(zcl.encode_header(_FC, 0, _QUERY_RSP) + struct.pack("<BHHII", 0, mfr, itype, ver, size))

    def _block(self, eui, p, off):
        _fc, mfr, itype, ver, start, want = struct.unpack_from("<BHHIIB", p, off)
        img = self.images.find(mfr, itype)
        if img is None or img[0] != ver or start > img[1]:
            return bytearray(zcl.encode_header(_FC, 0, _BLOCK_RSP) + bytes((_ABORT,)))
        n = min(want, _MAX_DATA, img[1] - start)
        buf = self.buf
        buf[0:3] = zcl.encode_header(_FC, 0, _BLOCK_RSP)
        struct.pack_into("<BHHIIB", buf, 3, 0, mfr, itype, ver, start, n)
        f = self._open(img[2])
        f.seek(start)
        got = f.readinto(memoryview(buf)[17:17 + n])
        if got != n:
            self._close()
            return bytearray(zcl.encode_header(_FC, 0, _BLOCK_RSP) + bytes((_ABORT,)))
        self.blocks += 1
        pr = self.progress.get(eui)
        if pr is None or pr[VERSION] != ver:
            pr = self._entry(eui, mfr, itype, ver, img[1])
        end = start + n
        if pr[STATE] != "downloading" or end // _SAVE_EVERY != pr[OFFSET] // _SAVE_EVERY:
            pr[STATE] = "downloading"
            pr[OFFSET] = max(pr[OFFSET], end)
            self._save()
        else:
            pr[OFFSET] = max(pr[OFFSET], end)
        return memoryview(buf)[:17 + n]

    def _open(self, path):
        f = self._file
        if f is None or f[0] != path:
            self._close()
            f = self._file = (path, open(path, "rb"))
        return f[1]

    def _close(self):
        if self._file:
            self._file[1].close()
            self._file = None

    def _end(self, eui, p, h):
        status, mfr, itype, ver = struct.unpack_from("<BHHI", p, h.size)
        pr = self.progress.get(eui)
        if pr is None or pr[VERSION] != ver:
            pr = self._entry(eui, mfr, itype, ver, 0, None)
        self._close()
        again = pr[STATUS] == status and pr[REPORTED] and pr[STATE] in ("success", "failed")
        if not again:  # a new outcome: saved unreported, reported, saved reported
            pr[STATUS] = status
            pr[STATE] = "failed" if status else "success"
            if not status:
                pr[OFFSET] = max(pr[OFFSET], pr[SIZE])
            pr[REPORTED] = False
            self._save()
            self._report(eui, pr)
        if status == 0:
            now = self.clock.utc() - ZIGBEE_EPOCH
            return bytearray(zcl.encode_header(_FC, 0, _END_RSP) + struct.pack("<HHIII", mfr, itype, ver, now, 0))
        if h.fc & zcl.FC_NO_DEFAULT_RSP:
            return None
        return self._default(h, zcl.SUCCESS)

    def _report(self, eui, pr):
        """Alert the outcome in `pr` (0x8F8A / 0x8F89) for the image it names, then save it as reported."""
        d = {"eui64": eui, "manufacturer": int(pr[KEY][:4], 16), "image_type": int(pr[KEY][4:], 16),
             "version": pr[VERSION]}
        st = pr[STATUS]
        if st == 0:
            alert(self.bus, 0x8F8A, "han_ota_transfer_succeeded", d)
        else:
            d["status"] = st
            d["reason"] = STATUS_NAMES.get(st, "0x%02X" % st)
            alert(self.bus, 0x8F89, "han_ota_transfer_failed", d)
        pr[REPORTED] = True
        self._save()
