"""Verification at power-on (0x8F1B): a damaged active slot is not run; the other valid one is."""

import time

import pytest

from commshub.images import push

from image_helpers import image_for, mi_hash, running_version, wait_alert, wait_version


def _damage_flash_file(flash, board, path: str) -> None:
    """Flip a byte of `path` inside the powered-off board's littlefs flash image."""
    from littlefs import LittleFS, UserContext

    ctx = UserContext(buffer=bytearray(flash.read_bytes()))
    fs = LittleFS(context=ctx, block_size=board.block_size, block_count=board.block_count, mount=False)
    fs.mount()
    with fs.open(path, "rb") as f:
        data = bytearray(f.read())
    data[len(data) // 2] ^= 0xFF
    with fs.open(path, "wb") as f:
        f.write(bytes(data))
    fs.unmount()
    flash.write_bytes(bytes(ctx.buffer))


def test_a_damaged_active_slot_falls_back_to_the_other_with_an_alert(hub):
    if hub.target.kind != "emulator":
        pytest.skip("needs to edit the flash while the board is off: emulator only")
    old = running_version(hub)
    image = image_for(hub)
    push.push(hub.serial, image)
    push.activate(hub.serial, mi_hash(image))
    st = wait_version(hub, image_version(image))
    active = st["running"]["slot"]
    time.sleep(0.5)  # let it confirm
    hub.power_cut()
    _damage_flash_file(hub.target.emu.flash_path, hub.board, f"/slots/{active}/lib/hub/app.mpy")
    since = time.monotonic()
    hub.power_on()
    st = wait_version(hub, old)
    assert st["running"]["slot"] != active
    alert = wait_alert(hub.serial, 0x8F1B, since)
    assert alert.get("slot") == active or active in str(alert)


def image_version(image: bytes) -> str:
    from commshub.images import gbcs

    return gbcs.parse_image(image).version_text
