"""Bad images and bad transfers: each refused with its own code and an alert; nothing runs."""

import hashlib
import time

import pytest

from commshub.images import gbcs, push
from commshub.protocol.errors import HubError

from image_helpers import alerts, bump, image_for, other_key, running_version, wait_alert


@pytest.fixture
def untouched(hub):
    """The running image and slots must be exactly as before the test."""
    before = push.status(hub.serial)
    yield before
    after = push.status(hub.serial)
    assert after["running"] == before["running"]
    assert hub.request("info").result["fw_version"] == before["running"]["version"]
    try:
        push.abort(hub.serial)
    except HubError:
        pass


def _refused(hub, via, image: bytes, code: str, **kw):
    since = time.monotonic()
    with pytest.raises(push.PushError) as e:
        push.push(hub.link(via), image, **kw)
    assert e.value.code == code, e.value
    if code not in ("too_large",):  # refused at the offer: nothing was verified
        alert = wait_alert(hub.serial, 0x8F1C, since)
        assert alert.get("reason", alert.get("error", code)) == code or code in str(alert)


def test_bad_signature_is_refused(hub, via, untouched):
    image = bytearray(image_for(hub))
    image[-1] ^= 0x01  # last byte of s
    _refused(hub, via, bytes(image), "bad_signature")


def test_image_signed_with_an_untrusted_key_is_refused(hub, via, untouched):
    _refused(hub, via, image_for(hub, key=other_key()), "bad_signature")


def test_manufacturer_and_image_type_must_be_this_hubs(hub, untouched):
    _refused(hub, "serial", image_for(hub, manufacturer=0x4321), "wrong_manufacturer")
    _refused(hub, "serial", image_for(hub, image_type=0x0002), "wrong_image_type")


def test_image_for_another_board_is_refused(hub, untouched):
    from commshub.images.hub_image import build_hub_image

    other = "rpi-pico-w" if hub.board.name != "rpi-pico-w" else "esp32-devkitc"
    image = build_hub_image(other, version=bump(running_version(hub)))
    _refused(hub, "serial", image, "wrong_board")


def test_downgrade_is_refused(hub, untouched):
    old = running_version(hub)
    a, b, c = (int(x) for x in old.split("."))
    lower = f"{a}.{b}.{c - 1}" if c else f"{a}.{b - 1}.255" if b else "0.0.0"
    _refused(hub, "serial", image_for(hub, version=lower), "downgrade")
    _refused(hub, "serial", image_for(hub, version=old), "downgrade")


def test_image_whose_minimum_version_is_above_the_running_one_is_refused(hub, untouched):
    new = bump(running_version(hub))
    _refused(hub, "serial", image_for(hub, version=bump(new), min_version=new), "downgrade")


def test_truncated_image_is_refused(hub, via, untouched):
    image = image_for(hub)
    _refused(hub, via, image[: len(image) - 100], "bad_format")


def test_oversize_image_is_refused_at_the_offer(hub, via, untouched):
    with pytest.raises(HubError) as e:
        hub.request("image.offer", {"size": 64 * 1024 * 1024, "hash": "00" * 32}, via=via)
    assert e.value.code == "too_large"


def _send_all(link, offered_hash: str, size: int, blocks: bytes) -> str:
    """Offer `size` bytes under `offered_hash`, send `blocks` as asked; return the hub's verdict code."""
    ans = link.request("image.offer", {"size": size, "hash": offered_hash}).result
    while not ans.get("done"):
        off, n = ans["need"][0]
        ans = link.request("image.block", {"offset": off}, bytes(blocks[off:off + n]), timeout=60).result
    with pytest.raises(push.PushError) as e:
        push._await_verification(link, offered_hash, 60)
    return e.value.code


def test_corrupted_block_fails_the_whole_file_hash(hub, via, untouched):
    image = image_for(hub)
    corrupt = bytearray(image)
    corrupt[len(image) // 2] ^= 0xFF
    since = time.monotonic()
    assert _send_all(hub.link(via), hashlib.sha256(image).hexdigest(), len(image), corrupt) == "bad_hash"
    assert wait_alert(hub.serial, 0x8F1C, since)["reason"] == "bad_hash"


def test_wrong_offered_hash_is_refused(hub, untouched):
    image = image_for(hub)
    assert _send_all(hub.serial, "11" * 32, len(image), image) == "bad_hash"


def test_blocks_it_did_not_ask_for_are_refused_and_change_nothing(hub, via, untouched):
    image = image_for(hub)
    link = hub.link(via)
    ans = link.request("image.offer", {"size": len(image), "hash": hashlib.sha256(image).hexdigest()}).result
    (off, n), *_ = ans["need"]
    bs = ans["block_size"]
    for bad in (len(image) + 4096, -1, off + 1, off + bs * 10):
        with pytest.raises(HubError) as e:
            link.request("image.block", {"offset": bad}, image[max(bad, 0):max(bad, 0) + 16] or b"x")
        assert e.value.code == "bad_args", bad
    first = link.request("image.block", {"offset": off}, image[off:off + n]).result
    with pytest.raises(HubError) as e:  # the same block again: a duplicate
        link.request("image.block", {"offset": off}, image[off:off + n])
    assert e.value.code == "bad_args"
    assert first["offset"] == off + n
    # ...and the transfer still completes from where it is.
    res = push.push(link, image)
    assert res.resumed_from >= off + n and res.result["done"]


def test_quiet_blocks_are_answered_only_when_they_fail(hub, via, untouched):
    image = image_for(hub)
    link = hub.link(via)
    ans = link.request("image.offer", {"size": len(image), "hash": hashlib.sha256(image).hexdigest()}).result
    (o0, n0), (o1, n1), *_ = ans["need"]
    quiet = link.submit("image.block", {"offset": o0, "ack": False}, image[o0:o0 + n0])
    with pytest.raises(HubError) as e:  # the same block again, quiet too: refused, and that is answered
        link.request("image.block", {"offset": o0, "ack": False}, image[o0:o0 + n0])
    assert e.value.code == "bad_args"
    with pytest.raises(HubError) as e:
        link.request("image.block", {"offset": o1, "ack": "no"}, image[o1:o1 + n1])
    assert e.value.code == "bad_args"  # and the block was not taken:
    after = link.request("image.block", {"offset": o1}, image[o1:o1 + n1]).result
    assert after["offset"] == o1 + n1  # the quiet block was stored
    # Answers come in order: had the quiet block been answered, it would be here by now.
    assert not quiet.done
    quiet.forget()


def test_only_one_transfer_at_a_time(hub, untouched):
    a, b = image_for(hub), image_for(hub, note="another one")
    hub.request("image.offer", {"size": len(a), "hash": hashlib.sha256(a).hexdigest()})
    with pytest.raises(HubError) as e:
        hub.request("image.offer", {"size": len(b), "hash": hashlib.sha256(b).hexdigest()})
    assert e.value.code == "busy"
