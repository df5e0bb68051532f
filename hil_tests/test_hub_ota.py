"""The hub's OTA Upgrade cluster server: a device image built with the project's image tools is
uploaded to the hub (han.image.*, the hub's own resumable transfer), offered to the ESME emulator
on the virtual air, fetched block by block, verified by the meter and installed; an image the meter
must refuse is reported by the hub. Where an image for another device is refused: the hub offers
an image only for the manufacturer code and image type a device's Query Next Image names (it holds
images under the codes in their own OTA headers); a device that gets another device's image anyway
refuses it after the header, and the hub reports that as 0x8F89. The hub's per-device progress is
persisted: an OTA goes on after a hub reboot or power cut, and its outcome is alerted exactly once."""

import os
import random
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from commshub.han.esme import Esme
from commshub.han.gsme import Gsme
from commshub.han.ppmid import Ppmid
from commshub.han.runtime import Network
from commshub.images import gbcs
from commshub.images.push import PushError, push

from han_models import han_models  # noqa: F401  (fixture)
from test_han_join import alert, wait_han_up

pytestmark = pytest.mark.han  # skipped where the board runs without its HAN

MFR, ESME_TYPE, GSME_TYPE, PPMID_TYPE = 0x1234, 0x0101, 0x0201, 0x0501
OTHER_MFR = 0x5678
NEW = 0x01010000  # 1.1.0
KEY = ec.generate_private_key(ec.SECP256R1())


def esme_image(key=KEY, size=1500, version=NEW, image_type=ESME_TYPE, manufacturer=MFR):
    return gbcs.build_image(os.urandom(size), manufacturer=manufacturer, image_type=image_type,
                            file_version=version, header_string="meter %x" % version, key=key)


@pytest.fixture(autouse=True)
def no_esme_image_left(hub):
    """The shared hub offers no ESME image after a test."""
    yield
    for m, t in ((MFR, ESME_TYPE), (MFR, GSME_TYPE), (MFR, PPMID_TYPE), (OTHER_MFR, ESME_TYPE)):
        try:
            hub.request("han.image.remove", {"manufacturer": m, "image_type": t})
        except Exception:  # noqa: BLE001 - none held
            pass


def sw_build(hub, eui):
    """The meter's running firmware version, read through the hub (Basic SWBuildID)."""
    r = hub.request("han.read", {"device": eui, "cluster": 0x0000, "attrs": [0x4000]}).result
    return r["attrs"][0]["value"]


def ota_status(hub, eui):
    return hub.request("han.ota.status", {"device": eui}).result["devices"][0]


def test_esme_upgrades_through_the_hub_and_reports_its_new_version(hub, han_models):  # noqa: F811
    esme = han_models(Esme, trusted_key=KEY.public_key())
    esme.join(hub)
    img = esme_image()
    res = push(hub.serial, img, commands="han.image")
    assert res.result["state"] == "installed"
    held = [i for i in hub.request("han.image.list").result["images"] if i["image_type"] == ESME_TYPE]
    assert held == [{"manufacturer": MFR, "image_type": ESME_TYPE, "version": NEW, "size": len(img),
                     "sha256": res.file_hash}]
    assert sw_build(hub, esme.eui64) == "1.0.0"
    t0 = time.monotonic()
    assert hub.request("han.ota.notify", {"device": esme.eui64}).result["notified"] == esme.eui64
    done = alert(hub.serial, 0x8F8A, eui64=esme.eui64, since=t0, timeout=120)
    assert (done["name"], done["version"], done["image_type"]) == ("han_ota_transfer_succeeded", NEW, ESME_TYPE)
    st = ota_status(hub, esme.eui64)
    assert (st["state"], st["offset"], st["size"]) == ("success", len(img), len(img))
    deadline = time.monotonic() + 20
    while sw_build(hub, esme.eui64) != "1.1.0":
        assert time.monotonic() < deadline, "the meter did not switch to the image it accepted"
        time.sleep(0.2)
    assert esme.dev.ota.accepted_hash == gbcs.parse_image(img).mi_hash
    # Nothing newer now: a second notify leaves the meter where it is.
    hub.request("han.ota.notify", {"device": esme.eui64})
    time.sleep(1)
    assert sw_build(hub, esme.eui64) == "1.1.0"


def test_badly_signed_image_is_refused_by_the_meter_and_reported(hub, han_models):  # noqa: F811
    esme = han_models(Esme, trusted_key=KEY.public_key())
    esme.join(hub)
    bad = esme_image(key=ec.generate_private_key(ec.SECP256R1()), version=NEW + 0x100)
    push(hub.serial, bad, commands="han.image")
    t0 = time.monotonic()
    hub.request("han.ota.notify", {"device": esme.eui64})
    failed = alert(hub.serial, 0x8F89, eui64=esme.eui64, since=t0, timeout=120)
    assert (failed["name"], failed["reason"], failed["version"]) == \
        ("han_ota_transfer_failed", "invalid_image", NEW + 0x100)
    assert ota_status(hub, esme.eui64)["state"] == "failed"
    assert "bad signature" in esme.dev.ota.outcome
    assert sw_build(hub, esme.eui64) == "1.0.0"


def test_esme_upgrade_completes_through_10_percent_loss(hub, air, han_models):  # noqa: F811
    esme = han_models(Esme, trusted_key=KEY.public_key())
    esme.join(hub)
    hub_id = hub.request("info").result["hub_id"]
    air.call(air.air.set_link, hub_id, esme.eui64, loss=0.10)  # per frame, before the MAC's retries
    try:
        img = esme_image(size=3000)
        push(hub.serial, img, commands="han.image")
        t0 = time.monotonic()
        hub.request("han.ota.notify", {"device": esme.eui64})
        deadline = time.monotonic() + 240
        while True:
            st = hub.request("han.ota.status", {"device": esme.eui64}).result["devices"]
            if st and st[0]["state"] == "success":
                break
            assert time.monotonic() < deadline, f"OTA through loss did not finish: {st}"
            if esme.dev.ota.offered is None and st and st[0]["state"] != "offered":
                # A request went unanswered and the client gave up: it starts again, at the offset it holds.
                hub.request("han.ota.notify", {"device": esme.eui64}, timeout=15)
            time.sleep(1)
        assert alert(hub.serial, 0x8F8A, eui64=esme.eui64, since=t0, timeout=5)["version"] == NEW
        deadline = time.monotonic() + 30
        while esme.dev.identity.file_version != NEW:
            assert time.monotonic() < deadline, "the meter did not switch"
            time.sleep(0.2)
        assert esme.dev.ota.accepted_hash == gbcs.parse_image(img).mi_hash
    finally:
        air.call(air.air.set_link, hub_id, esme.eui64, loss=0.0)


def test_sleepy_gsme_upgrades_through_the_hub_only_while_awake(hub, han_models):  # noqa: F811
    # A wake every 3000 s of meter time (5 s real), awake up to 1500 s (2.5 s real) and at most 8 blocks
    # of 48 bytes per wake: the download spans several wakes.
    gsme = han_models(Gsme, time_scale=600.0, wake_interval_s=3000.0, awake_s=1500.0, ota_query_every=1,
                      ota_blocks_per_wake=8, trusted_key=KEY.public_key())
    gsme.join(hub)
    img = esme_image(size=900, image_type=GSME_TYPE)
    push(hub.serial, img, commands="han.image")
    t0 = time.monotonic()
    paused = []  # progress seen while the GSME slept: the transfer waits for its next wake
    deadline = time.monotonic() + 120
    while True:
        devs = hub.request("han.ota.status", {"device": gsme.eui64}).result["devices"]
        if devs and devs[0]["state"] == "success":
            break
        if devs and 0 < devs[0]["offset"] < len(img) and not gsme.dev.awake:
            paused.append(devs[0]["offset"])
        assert time.monotonic() < deadline, f"GSME OTA did not finish: {devs}"
        time.sleep(0.2)
    done = alert(hub.serial, 0x8F8A, eui64=gsme.eui64, since=t0, timeout=5)
    assert (done["version"], done["image_type"]) == (NEW, GSME_TYPE)
    assert len(set(paused)) >= 2  # it stopped at two offsets at least: the download spanned three wakes or more
    wait_for = time.monotonic() + 10
    while gsme.dev.identity.file_version != NEW:
        assert time.monotonic() < wait_for, "the GSME did not switch to the image it accepted"
        time.sleep(0.1)


def test_device_image_upload_refuses_what_is_not_an_ota_file(hub):
    with pytest.raises(PushError) as e:
        push(hub.serial, b"\x00" * 400, commands="han.image")
    assert e.value.code == "bad_format"
    assert all(i["size"] != 400 for i in hub.request("han.image.list").result["images"])


def ota_alerts(hub, eui, since):
    """Every OTA outcome alert (0x8F8A, 0x8F89) for `eui` on the serial link since `since`."""
    return [e.body for e in hub.serial.events("alert") if e.received >= since
            and e.body.get("code") in (0x8F8A, 0x8F89) and e.body.get("eui64") == eui]


def wait_for(what, cond, timeout):
    deadline = time.monotonic() + timeout
    while not (got := cond()):
        assert time.monotonic() < deadline, f"{what} within {timeout} s"
        time.sleep(0.05)
    return got


def test_hub_does_not_offer_an_image_made_for_another_device(hub, han_models):  # noqa: F811
    esme = han_models(Esme, trusted_key=KEY.public_key())
    esme.join(hub)
    push(hub.serial, esme_image(image_type=GSME_TYPE), commands="han.image")  # a gas meter's image
    push(hub.serial, esme_image(manufacturer=OTHER_MFR), commands="han.image")  # another maker's meter
    served = hub.request("han.ota.status").result["blocks_served"]
    t0 = time.monotonic()
    hub.request("han.ota.notify", {"device": esme.eui64})
    st = wait_for("the meter's query", lambda: [d for d in hub.request("han.ota.status", {
        "device": esme.eui64}).result["devices"] if "last_query" in d], 20)[0]
    assert st["state"] == "no_image"
    assert st["last_query"] == {"manufacturer": MFR, "image_type": ESME_TYPE, "version": 0x01000000,
                                "answer": "no_image_available"}
    assert hub.request("han.ota.status").result["blocks_served"] == served
    assert esme.dev.ota.blocks_asked == 0 and esme.dev.ota.offered is None
    assert ota_alerts(hub, esme.eui64, t0) == []  # nothing was transferred: nothing to report
    assert sw_build(hub, esme.eui64) == "1.0.0"


def test_device_refusing_another_devices_image_it_was_offered_is_reported(hub, han_models):  # noqa: F811
    esme = han_models(Esme, trusted_key=KEY.public_key())
    esme.join(hub)
    esme.call(setattr, esme.dev.ota, "query_as", (MFR, GSME_TYPE))  # misconfigured: asks for a GSME's image
    img = esme_image(size=3000, image_type=GSME_TYPE)
    push(hub.serial, img, commands="han.image")
    t0 = time.monotonic()
    hub.request("han.ota.notify", {"device": esme.eui64})
    failed = alert(hub.serial, 0x8F89, eui64=esme.eui64, since=t0, timeout=60)
    assert (failed["reason"], failed["image_type"], failed["version"]) == ("invalid_image", GSME_TYPE, NEW)
    assert "wrong image type" in esme.dev.ota.outcome
    # Refused as soon as the header was in: the rest of the image was never fetched.
    assert 0 < esme.dev.ota.blocks_asked <= 3
    st = ota_status(hub, esme.eui64)
    assert (st["state"], st["status_name"]) == ("failed", "invalid_image") and st["offset"] < len(img)
    assert sw_build(hub, esme.eui64) == "1.0.0"
    time.sleep(1)
    assert len(ota_alerts(hub, esme.eui64, t0)) == 1


def start_ota(hub, esme, size):
    """Push an image of `size` bytes for the ESME and notify it: (image, time of the notify)."""
    img = esme_image(size=size)
    push(hub.serial, img, commands="han.image")
    t0 = time.monotonic()
    hub.request("han.ota.notify", {"device": esme.eui64})
    return img, t0


def held(esme):
    return esme.call(lambda: esme.dev.ota.progress[0])


def finish_ota(hub, esme, img, t0):
    """Wait for the outcome alert and the switch; exactly one outcome alert, and the right image."""
    done = alert(hub.serial, 0x8F8A, eui64=esme.eui64, since=t0, timeout=180)
    assert (done["version"], done["image_type"]) == (NEW, ESME_TYPE)
    wait_for("the meter switching to the image it accepted",
             lambda: esme.dev.identity.file_version == NEW, 30)
    assert esme.dev.ota.accepted_hash == gbcs.parse_image(img).mi_hash
    st = ota_status(hub, esme.eui64)
    assert (st["state"], st["offset"], st["size"]) == ("success", len(img), len(img))
    assert [a["code"] for a in ota_alerts(hub, esme.eui64, t0)] == [0x8F8A]


def test_interrupted_ota_resumes_at_the_offset_the_device_holds(hub, han_models):  # noqa: F811
    esme = han_models(Esme, trusted_key=KEY.public_key())
    esme.join(hub)
    img, t0 = start_ota(hub, esme, 12000)
    wait_for("a quarter of the image at the meter", lambda: held(esme) >= len(img) // 4, 60)
    esme.run(esme.dev.stop())  # the meter's emulator stops mid-transfer (what it holds is kept)
    stopped_at = held(esme)
    assert 0 < stopped_at < len(img)
    st = wait_han_up(hub)
    esme.run(esme.dev.start(Network(st["channel"], st["pan_id"], st["ext_pan_id"])), 90)
    hub.request("han.ota.notify", {"device": esme.eui64})
    finish_ota(hub, esme, img, t0)
    starts = esme.dev.ota.starts
    assert starts[0] == 0 and starts[1] == stopped_at, starts  # the second fetch began where the first stopped
    # The whole image took about one request per block: nothing was fetched twice.
    assert esme.dev.ota.blocks_asked <= -(-len(img) // esme.dev.ota.block_size) + 3


@pytest.mark.parametrize("how", ["reboot", "power_cut"])
def test_ota_completes_after_a_hub_restart_and_reports_once(hub, han_models, how):  # noqa: F811
    esme = han_models(Esme, trusted_key=KEY.public_key())
    esme.join(hub)
    img, t0 = start_ota(hub, esme, 12000)
    wait_for("past the hub's first save point", lambda: held(esme) >= 5000, 60)
    if how == "reboot":
        hub.reboot()
    else:
        hub.power_cycle()
    wait_han_up(hub)
    st = ota_status(hub, esme.eui64)  # what the hub kept of the transfer
    assert st["version"] == NEW and st["size"] == len(img) and st["offset"] >= 4096
    assert st["state"] in ("downloading", "success")
    finish_ota(hub, esme, img, t0)
    assert len(esme.dev.ota.starts) >= 2 and esme.dev.ota.starts[-1] > 0  # resumed, not started again
    # And after the outcome: a restart keeps it and reports nothing new.
    t1 = time.monotonic()
    hub.power_cycle()
    assert ota_status(hub, esme.eui64)["state"] == "success"
    time.sleep(1)
    assert ota_alerts(hub, esme.eui64, t1) == []
    assert [a["code"] for a in ota_alerts(hub, esme.eui64, t0)] == [0x8F8A]


def test_ota_resumes_by_itself_after_the_link_drops(hub, air, han_models):  # noqa: F811
    esme = han_models(Esme, trusted_key=KEY.public_key())
    esme.join(hub)
    hub_id = hub.request("info").result["hub_id"]
    img, t0 = start_ota(hub, esme, 12000)
    wait_for("a quarter of the image at the meter", lambda: held(esme) >= len(img) // 4, 60)
    air.call(air.air.set_link, hub_id, esme.eui64, loss=1.0)  # the meter is out of reach
    try:
        # Longer than a request's MAC and APS retries: requests fail, the meter backs off and tries again.
        wait_for("the meter noticing", lambda: any("again in" in n for n in esme.dev.log), 60)
        time.sleep(2)
        cut_at = held(esme)
        assert cut_at < len(img)
    finally:
        air.call(air.air.set_link, hub_id, esme.eui64, loss=0.0)
    finish_ota(hub, esme, img, t0)  # no new notify: the meter tries again on its own
    assert esme.dev.ota.starts[-1] == cut_at and cut_at > 0, (esme.dev.ota.starts, esme.dev.log[-12:])


def test_power_cuts_at_random_instants_of_an_ota_leave_it_to_complete_reported_once(hub, han_models):  # noqa: F811
    seed = int(os.environ.get("COMMSHUB_SEED", time.time()))
    rng = random.Random(seed)
    esme = han_models(Esme, trusted_key=KEY.public_key())
    esme.join(hub)
    img, t0 = start_ota(hub, esme, 12000)
    cuts = 0
    for i in range(3):
        # Each cut lands while the meter is fetching: somewhere in what is left of the image, its
        # check or Upgrade End (about 4 KB/s on the virtual air; on a real air the cut just comes sooner).
        before = held(esme)
        done = lambda: esme.dev.identity.file_version == NEW  # noqa: E731
        wait_for("the meter fetching again", lambda: held(esme) > before or done(), 60)
        if done():
            break  # it upgraded before this cut
        time.sleep(rng.uniform(0, (len(img) - held(esme)) / 4000 + 0.3))
        hub.power_cycle()
        cuts += 1
        st = hub.request("han.ota.status", {"device": esme.eui64}).result["devices"]
        assert st and st[0]["state"] in ("offered", "downloading", "success"), f"cut {i} (seed {seed}): {st}"
        assert st[0]["offset"] <= len(img) and st[0]["version"] == NEW
        wait_han_up(hub)
        # The meter finds the hub again by itself (it retries), at the offset it holds.
    finish_ota(hub, esme, img, t0)
    assert cuts >= 1
    print(f"\n{cuts} cuts during the OTA, seed {seed}; fetches began at {esme.dev.ota.starts}")


@pytest.mark.parametrize("kind", ["ppmid", "gsme"])
def test_ppmid_and_sleepy_gsme_upgrade_through_10_percent_loss(hub, air, han_models, kind):  # noqa: F811
    if kind == "ppmid":
        dev, itype = han_models(Ppmid, trusted_key=KEY.public_key()), PPMID_TYPE
    else:  # a wake every 5 s (real), awake up to 2.5 s, querying on each wake
        dev, itype = han_models(Gsme, time_scale=600.0, wake_interval_s=3000.0, awake_s=1500.0,
                                ota_query_every=1, trusted_key=KEY.public_key()), GSME_TYPE
    dev.join(hub)
    hub_id = hub.request("info").result["hub_id"]
    air.call(air.air.set_link, hub_id, dev.eui64, loss=0.10)
    try:
        img = esme_image(size=2000, image_type=itype)
        push(hub.serial, img, commands="han.image")
        t0 = time.monotonic()
        if kind == "ppmid":
            hub.request("han.ota.notify", {"device": dev.eui64})
        done = alert(hub.serial, 0x8F8A, eui64=dev.eui64, since=t0, timeout=180)
        assert (done["version"], done["image_type"]) == (NEW, itype)
        wait_for("the device switching", lambda: dev.dev.identity.file_version == NEW, 30)
        assert dev.dev.ota.accepted_hash == gbcs.parse_image(img).mi_hash
        time.sleep(1)
        assert [a["code"] for a in ota_alerts(hub, dev.eui64, t0)] == [0x8F8A]
    finally:
        air.call(air.air.set_link, hub_id, dev.eui64, loss=0.0)
