"""Device images and the OTA Upgrade cluster server: upload through the han.image commands,
then Query Next Image, Image Block and Upgrade End from a device (the real HAN service and
wiring over a recording EZSP stand-in, as in test_han_reads)."""

import asyncio
import hashlib
import os
import struct
from binascii import hexlify

from hub.errors import HubError
from test_han_reads import ESME, NODE, _hub
from util import raises

MFR, ESME_TYPE = 0x1234, 0x0101
OTA = 0x0019


def ota_file(version, size=600, itype=ESME_TYPE, mfr=MFR):
    """A Zigbee OTA file: the 56-byte header and `size` bytes after it."""
    body = os.urandom(size)
    return struct.pack("<IHHHHHIH32sI", 0x0BEEF11E, 0x0100, 56, 0, mfr, itype, version, 2,
                       b"test image", 56 + size) + body


def sha(b):
    return hexlify(hashlib.sha256(b).digest()).decode()


def upload(reg, img, hsh=None):
    a, _ = reg.dispatch("han.image.offer", {"size": len(img), "hash": hsh or sha(img), "block_size": 256})
    while not a["done"]:
        o, n = a["need"][0]
        a, _ = reg.dispatch("han.image.block", {"offset": o}, memoryview(img)[o:o + n])
    return a


def exchange(ncp, payload):
    """The ZCL payload the hub answers `payload` (from the ESME on the OTA cluster) with, or None."""
    async def main():
        n = len(ncp.sent)
        ncp.incoming(NODE, OTA, payload)
        for _ in range(50):
            await asyncio.sleep_ms(1)
            if len(ncp.sent) > n:
                return ncp.frames()[-1][3]
        return None
    return asyncio.run(main())


def test_images_are_uploaded_checked_and_replaced():
    reg, ncp, app = _hub()
    v1 = ota_file(0x01010000)
    r = upload(reg, v1)
    assert r["state"] == "installed"
    assert r["image"] == {"manufacturer": MFR, "image_type": ESME_TYPE, "version": 0x01010000,
                          "size": len(v1), "sha256": sha(v1)}
    # A file whose hash is not the one offered, and one that is not an OTA file: refused, v1 kept.
    e = raises(HubError, upload, reg, ota_file(0x01020000), "00" * 32)
    assert e.code == "bad_hash"
    e = raises(HubError, upload, reg, b"\x00" * 300)
    assert e.code == "bad_format"
    imgs = reg.dispatch("han.image.list")[0]["images"]
    assert [i["version"] for i in imgs] == [0x01010000]
    v2 = ota_file(0x01020000)
    upload(reg, v2)
    imgs = reg.dispatch("han.image.list")[0]["images"]
    assert [(i["version"], i["sha256"]) for i in imgs] == [(0x01020000, sha(v2))]
    files = [n for n in os.listdir(app.store.dir + "/han_img") if n.endswith(".ota")]
    assert files == ["12340101_01020000.ota"]
    e = raises(HubError, reg.dispatch, "han.image.remove", {"manufacturer": MFR, "image_type": 0x0201})
    assert e.code == "not_found"
    reg.dispatch("han.image.remove", {"manufacturer": MFR, "image_type": ESME_TYPE})
    assert reg.dispatch("han.image.list")[0]["images"] == []


def test_ota_server_offers_serves_blocks_and_reports_the_outcome():
    reg, ncp, app = _hub()
    img = ota_file(0x01010000, 200)
    upload(reg, img)
    # Query Next Image from a device running 1.0.0, then from one already running 1.1.0.
    q = b"\x01\x21\x01" + struct.pack("<BHHI", 0, MFR, ESME_TYPE, 0x01000000)
    rsp = exchange(ncp, q)
    assert rsp[:3] == b"\x19\x21\x02"
    assert struct.unpack_from("<BHHII", rsp, 3) == (0, MFR, ESME_TYPE, 0x01010000, len(img))
    rsp = exchange(ncp, b"\x01\x22\x01" + struct.pack("<BHHI", 0, MFR, ESME_TYPE, 0x01010000))
    assert rsp == b"\x19\x22\x02\x98"  # NO_IMAGE_AVAILABLE
    rsp = exchange(ncp, b"\x01\x23\x01" + struct.pack("<BHHI", 0, MFR, 0x0201, 0))
    assert rsp == b"\x19\x23\x02\x98"  # not for this device type
    # Blocks: what the file holds at the offset asked, at most 64 bytes; a wrong version is aborted.
    got = bytearray()
    tsn = 0x30
    while len(got) < len(img):
        rsp = exchange(ncp, bytes((0x01, tsn, 0x03)) + struct.pack("<BHHIIB", 0, MFR, ESME_TYPE, 0x01010000,
                                                                    len(got), 100))
        assert rsp[:3] == bytes((0x19, tsn, 0x05)) and rsp[3] == 0
        _st, _m, _t, _v, off, n = struct.unpack_from("<BHHIIB", rsp, 3)
        assert off == len(got) and n == min(64, len(img) - off) and len(rsp) == 17 + n
        got += rsp[17:]
        tsn += 1
    assert bytes(got) == img
    st = reg.dispatch("han.ota.status", {"device": ESME})[0]["devices"][0]
    assert (st["state"], st["offset"], st["size"], st["version"]) == ("downloading", len(img), len(img), 0x01010000)
    rsp = exchange(ncp, b"\x01\x40\x03" + struct.pack("<BHHIIB", 0, MFR, ESME_TYPE, 0x01000001, 0, 48))
    assert rsp == b"\x19\x40\x05\x95"  # ABORT
    # Upgrade End SUCCESS: upgrade now, alert 0x8F8A.
    rsp = exchange(ncp, b"\x01\x41\x06" + struct.pack("<BHHI", 0, MFR, ESME_TYPE, 0x01010000))
    assert rsp[:3] == b"\x19\x41\x07"
    m, t, v, now, at = struct.unpack_from("<HHIII", rsp, 3)
    assert (m, t, v, at) == (MFR, ESME_TYPE, 0x01010000, 0) and now == 1700000000 - 946684800
    alerts = [b for n, b in app.events if n == "alert"]
    assert alerts[-1]["code"] == 0x8F8A and alerts[-1]["eui64"] == ESME
    assert reg.dispatch("han.ota.status")[0]["devices"][0]["state"] == "success"
    # Upgrade End INVALID_IMAGE (the device refused it): a Default Response, alert 0x8F89.
    rsp = exchange(ncp, b"\x01\x42\x06" + struct.pack("<BHHI", 0x96, MFR, ESME_TYPE, 0x01010000))
    assert rsp == b"\x18\x42\x0b\x06\x00"
    a = [b for n, b in app.events if n == "alert"][-1]
    assert (a["code"], a["name"], a["reason"]) == (0x8F89, "han_ota_transfer_failed", "invalid_image")
    st = reg.dispatch("han.ota.status", {"device": ESME})[0]["devices"][0]
    assert (st["state"], st["status"], st["status_name"]) == ("failed", 0x96, "invalid_image")


def test_image_notify_goes_to_the_device():
    reg, ncp, app = _hub()
    from test_han_reads import run
    later, _ = reg.dispatch("han.ota.notify", {"device": ESME})
    r, _ = run(reg, later)
    assert r == {"notified": ESME, "node": NODE}
    node, cluster, _ep, p = ncp.frames()[-1]
    assert (node, cluster) == (NODE, OTA) and p[0] == 0x19 and p[2:] == b"\x00\x00\x64"
