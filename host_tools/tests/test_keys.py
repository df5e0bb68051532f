"""Signing keys: key pairs, public key forms, the development key, provisioning."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from commshub import paths
from commshub.emulator import fsimage
from commshub.images import keys

CERT = Path(__file__).with_name("fixtures") / "gbcs" / "supplier-90b3d51f30010000-ds.pem"


def test_new_keypair_writes_a_private_pem_0600_and_the_public_hex(tmp_path: Path) -> None:
    pem, pub = keys.new_keypair(tmp_path)
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    assert len(pub) == 128 and pem.with_suffix(".pub").read_text().strip() == pub
    assert keys.public_raw_hex(keys.load_private(pem)) == pub
    with pytest.raises(FileExistsError):
        keys.new_keypair(tmp_path, pem.stem)


def test_public_keys_load_from_every_form(tmp_path: Path) -> None:
    pem, pub = keys.new_keypair(tmp_path, "k")
    for source in (pub, "04" + pub, str(pem), str(tmp_path / "k.pub")):
        assert keys.public_raw_hex(keys.load_public(source)) == pub
    assert keys.public_raw_hex(keys.load_public(CERT)).startswith("30c2ab5a")
    with pytest.raises(keys.BadKey):
        keys.load_public("00" * 64)  # not a point on the curve
    with pytest.raises(keys.BadKey):
        keys.load_public("nonsense")


def test_dev_key_is_made_once_with_mode_0600(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(paths, "CACHE", tmp_path)
    first = keys.dev_key()
    assert stat.S_IMODE(keys.dev_key_path().stat().st_mode) == 0o600
    assert keys.public_raw_hex(keys.dev_key()) == keys.public_raw_hex(first) == keys.dev_public_hex()
    assert keys.dev_key_path().parent == tmp_path / "keys"


def test_dev_key_lives_in_an_ignored_directory() -> None:
    import subprocess

    out = subprocess.run(["git", "check-ignore", "-q", str(paths.CACHE / "keys" / keys.DEV_KEY_NAME)],
                         cwd=paths.REPO)
    assert out.returncode == 0, ".cache/keys must be git-ignored"


def test_provision_carries_image_ids_and_trusted_keys() -> None:
    pub = keys.public_raw_hex(keys.generate())
    p = fsimage.Provision(hub_id="0200112233445566", image_manufacturer=0x121D, image_type=0,
                          trusted_keys=[pub.upper()])
    doc = json.loads(p.to_json())
    assert doc["image"] == {"manufacturer": 0x121D, "image_type": 0} and doc["trusted_keys"] == [pub]
    assert fsimage.Provision.from_json(p.to_json()) == p
    assert p.to_json() == fsimage.Provision.from_json(p.to_json()).to_json()  # canonical
    with pytest.raises(ValueError, match="128 hex"):
        fsimage.Provision(hub_id="0200112233445566", trusted_keys=("abc",))
    with pytest.raises(ValueError, match="image_type"):
        fsimage.Provision(hub_id="0200112233445566", image_type=0x10000)


def test_emulated_boards_trust_the_dev_key() -> None:
    from commshub.emulator.board import EmulatedBoard

    board = EmulatedBoard("emulator", name="keys-test")
    assert board.provision.trusted_keys == (keys.dev_public_hex(),)
    assert (board.provision.image_manufacturer, board.provision.image_type) == (0x1234, 0x0001)
