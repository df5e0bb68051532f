"""Device images and the OTA Upgrade cluster server: upload through the han.image commands,
then Query Next Image, Image Block and Upgrade End from a device (the real HAN service and
wiring over a recording EZSP stand-in, as in test_han_reads)."""

import asyncio
import hashlib
import os
import struct
from binascii import hexlify

from hub.errors import HubError
from hub.services.store import Store
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


def _rebooted(app):
    """A hub started again on `app`'s filesystem (what a reboot or power cut leaves): (reg, ncp, app)."""
    import test_han_reads as t

    root = app.store.dir[:-len("/data")]
    make = t.App

    def on_same_fs():
        a = make()
        a.store = Store(root)
        return a
    t.App = on_same_fs
    try:
        return _hub()
    finally:
        t.App = make


def blocks(ncp, ver, start, stop, tsn=0x50):
    """Image Blocks from `start` until `stop` bytes are held; the data."""
    got = bytearray()
    while start + len(got) < stop:
        rsp = exchange(ncp, bytes((0x01, tsn & 0xFF, 0x03)) +
                       struct.pack("<BHHIIB", 0, MFR, ESME_TYPE, ver, start + len(got), 64))
        assert rsp[3] == 0 and struct.unpack_from("<I", rsp, 12)[0] == start + len(got)
        got += rsp[17:]
        tsn += 1
    return got


def ota_alerts(app):
    return [b for n, b in app.events if n == "alert" and b["code"] in (0x8F8A, 0x8F89)]


def query(ncp, cur=0x01000000, itype=ESME_TYPE):
    return exchange(ncp, b"\x01\x21\x01" + struct.pack("<BHHI", 0, MFR, itype, cur))


def test_progress_survives_a_restart_and_the_outcome_is_reported_once():
    reg, ncp, app = _hub()
    ver = 0x01010000
    img = ota_file(ver, 5000)
    upload(reg, img)
    assert query(ncp)[3] == 0
    held = blocks(ncp, ver, 0, 4300)  # past the first 4096-byte save point
    reg, ncp, app = _rebooted(app)
    st = reg.dispatch("han.ota.status", {"device": ESME})[0]["devices"][0]
    assert st["state"] == "downloading" and 4096 <= st["offset"] <= len(held) and st["size"] == len(img)
    # The device comes back, asks again and resumes at its own offset: the offer stands, nothing restarts.
    assert query(ncp)[3] == 0
    assert reg.dispatch("han.ota.status", {"device": ESME})[0]["devices"][0]["state"] == "downloading"
    held += blocks(ncp, ver, len(held), len(img))
    assert bytes(held) == img
    end = b"\x01\x41\x06" + struct.pack("<BHHI", 0, MFR, ESME_TYPE, ver)
    assert exchange(ncp, end)[:3] == b"\x19\x41\x07"
    assert [(a["code"], a["version"]) for a in ota_alerts(app)] == [(0x8F8A, ver)]
    # The device did not hear the answer: it sends Upgrade End again, and again after a restart.
    assert exchange(ncp, end)[:3] == b"\x19\x41\x07"
    assert len(ota_alerts(app)) == 1
    reg, ncp, app = _rebooted(app)
    assert query(ncp)[3] == 0  # still running the old version: offered again, the outcome kept
    assert exchange(ncp, end)[:3] == b"\x19\x41\x07"
    st = reg.dispatch("han.ota.status", {"device": ESME})[0]["devices"][0]
    assert (st["state"], st["offset"], st["status"]) == ("success", len(img), 0)
    assert ota_alerts(app) == []


def test_an_outcome_saved_but_cut_before_its_alert_is_reported_at_the_next_start():
    reg, ncp, app = _hub()
    ver = 0x01010000
    upload(reg, ota_file(ver, 100))
    query(ncp)

    def cut(name, seq, body):  # the power goes right after the outcome is saved, before the alert
        if body.get("code") == 0x8F89:
            raise OSError("power cut")
    app.bus.subscribe(cut)
    assert exchange(ncp, b"\x01\x41\x06" + struct.pack("<BHHI", 0x96, MFR, ESME_TYPE, ver)) is None
    reg, ncp, app = _rebooted(app)
    assert ota_alerts(app) == []  # the OTA server loads with the first OTA frame or command
    st = reg.dispatch("han.ota.status", {"device": ESME})[0]["devices"][0]
    assert (st["state"], st["status_name"]) == ("failed", "invalid_image")
    assert [(a["code"], a["reason"], a["eui64"]) for a in ota_alerts(app)] == [(0x8F89, "invalid_image", ESME)]
    reg, ncp, app = _rebooted(app)
    reg.dispatch("han.ota.status")
    assert ota_alerts(app) == []


def test_a_query_for_an_image_the_hub_does_not_hold_is_shown_and_nothing_offered():
    reg, ncp, app = _hub()
    upload(reg, ota_file(0x01010000, 100, itype=0x0201))  # a GSME's image
    assert query(ncp) == b"\x19\x21\x02\x98"
    st = reg.dispatch("han.ota.status", {"device": ESME})[0]
    assert st["devices"] == [{"eui64": ESME, "state": "no_image", "last_query": {
        "manufacturer": MFR, "image_type": ESME_TYPE, "version": 0x01000000, "answer": "no_image_available"}}]
    assert st["blocks_served"] == 0
    # A block asked for anyway (the device's own idea of the file): aborted.
    rsp = exchange(ncp, b"\x01\x22\x03" + struct.pack("<BHHIIB", 0, MFR, ESME_TYPE, 0x01010000, 0, 48))
    assert rsp == b"\x19\x22\x05\x95"


def test_progress_kept_for_at_most_eight_devices_dropping_reported_outcomes_only():
    reg, ncp, app = _hub()
    upload(reg, ota_file(0x01010000, 100))
    old = {"0A%014X" % i: ["12340101", 0x01010000, 100, 100, "success", 0, True] for i in range(9)}
    old["0B00000000000001"] = ["12340101", 0x01010000, 40, 100, "downloading", None, False]
    Store(app.store.dir, None, "han_img").save("ota", old)  # what a hub that saw many devices left
    assert query(ncp)[3] == 0  # the OTA server loads, the ESME gets an entry
    devs = {d["eui64"]: d for d in reg.dispatch("han.ota.status")[0]["devices"]}
    assert len(devs) == 8 and devs[ESME]["state"] == "offered"
    assert devs["0B00000000000001"]["state"] == "downloading"  # a transfer in progress is never dropped
    assert ota_alerts(app) == []


def test_damaged_progress_entries_are_dropped_and_the_rest_kept():
    reg, ncp, app = _hub()
    good = ["12340101", 0x01010000, 64, 100, "downloading", None, False]
    Store(app.store.dir, None, "han_img").save("ota", {
        ESME: good, "0A01": ["x", 1, 2, 3, "success", 0, True], "0A02": ["12340101", "1", 0, 0, None, None, False],
        "0A03": ["12340101", 1, 0, 0, "weird", None, False], "0A04": 5, "0A05": good[:6],
        "0A06": ["12340101", 1, 0, 0, "failed", "0x96", False]})
    st = reg.dispatch("han.ota.status")[0]["devices"]
    assert [(d["eui64"], d["state"], d["offset"]) for d in st] == [(ESME, "downloading", 64)]
    assert ota_alerts(app) == []
