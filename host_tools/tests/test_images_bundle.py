"""App bundles and whole hub images: pack/unpack, manifest checks, the CLI."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import pytest
from zigpy.ota.image import OTAImageHeader

from commshub.cli import main
from commshub.emulator import fsimage
from commshub.images import bundle, gbcs, keys
from commshub.images.hub_image import build_hub_image, inspect
from commshub.images.manifest import build_manifest, slot_files, source_version

FIXTURES = Path(__file__).with_name("fixtures") / "gbcs"


def test_bundle_round_trip_holds_the_compiled_slot_tree() -> None:
    data = bundle.build_bundle("emulator", version="0.2.0", min_version="0.1.0", note="n", built="2030-01-01T00:00:00Z")
    assert data[:4] == b"CHAB" and data[4] == 1
    (mlen,) = struct.unpack_from("<I", data, 5)
    manifest = json.loads(data[9:9 + mlen])
    b = bundle.unpack(data)
    assert b.manifest == manifest and b.version == "0.2.0" and b.boards == ["emulator"]
    assert manifest["min_version"] == "0.1.0" and manifest["arch"] == "x86" and manifest["note"] == "n"
    assert manifest["built"] == "2030-01-01T00:00:00Z" and "test_fault" not in manifest
    # The same files, in the same order, as the factory image's slot A.
    assert b.files == slot_files(fsimage.build_app("emulator"))
    assert [f["path"] for f in manifest["files"]] == [p for p, _ in b.files]
    assert data[9 + mlen:] == b"".join(d for _, d in b.files)


def test_version_defaults_to_the_source_and_is_reported_from_the_manifest() -> None:
    assert bundle.unpack(bundle.build_bundle("emulator")).version == source_version()


def test_multi_board_bundles_only_when_the_code_is_identical() -> None:
    b = bundle.unpack(bundle.build_bundle("emulator", boards=["esp32-wrover", "emulator"]))
    assert b.boards == ["emulator", "esp32-wrover"] and b.manifest["arch"] is None
    # esp32-devkitc compiles with mpy-cross -O3 (no line numbers): other bytes, one image per board.
    with pytest.raises(bundle.BundleError, match="compiles differently"):
        bundle.build_bundle("emulator", boards=["esp32-devkitc"])


def test_test_faults_only_when_asked_and_only_known_ones() -> None:
    b = bundle.unpack(bundle.build_bundle("emulator", test_fault="never_confirm"))
    assert b.manifest["test_fault"] == "never_confirm"
    with pytest.raises(ValueError):
        bundle.build_bundle("emulator", test_fault="explode")


def _small() -> tuple[dict, list[tuple[str, bytes]]]:
    files = [("lib/hub/a.mpy", b"AAAA"), ("lib/hub/b.mpy", b"BB")]
    return build_manifest(files, version="1.2.3", boards=["emulator"], arch="x86"), files


@pytest.mark.parametrize("damage, message", [
    (lambda d: b"XXXX" + d[4:], "magic"),
    (lambda d: d[:4] + b"\x02" + d[5:], "format 2"),
    (lambda d: d[:-1], "ends 1 bytes early"),
    (lambda d: d + b"!", "after the last file"),
    (lambda d: d[:-1] + b"C", "sha256"),
    (lambda d: d[:5] + struct.pack("<I", 10**6) + d[9:], "runs past"),
])
def test_damaged_bundles_are_refused_with_a_reason(damage, message) -> None:
    data = bundle.pack(*_small())
    assert bundle.unpack(data).files == _small()[1]
    with pytest.raises(bundle.BundleError, match=message):
        bundle.unpack(damage(data))


@pytest.mark.parametrize("path", ["/lib/x.mpy", "lib/../boot.py", ""])
def test_manifest_paths_must_stay_inside_the_slot(path: str) -> None:
    manifest, files = _small()
    manifest["files"][0]["path"] = path
    with pytest.raises(bundle.BundleError, match="path"):
        bundle.check_manifest(manifest)


def test_pack_refuses_files_the_manifest_does_not_list() -> None:
    manifest, files = _small()
    with pytest.raises(bundle.BundleError):
        bundle.pack(manifest, list(reversed(files)))


def test_hub_image_is_a_signed_gbcs_image_of_the_bundle() -> None:
    key = keys.generate()
    data = build_hub_image("emulator", version="0.2.0", key=key, manufacturer=0x1234, image_type=1)
    img = gbcs.parse_image(data)
    hdr, _ = OTAImageHeader.deserialize(data)
    assert (hdr.manufacturer_id, hdr.image_type, hdr.file_version) == (0x1234, 1, 0x00020000)
    assert hdr.image_size == len(data) and img.header_string == "commshub 0.2.0 emulator"
    assert gbcs.verify(img, key.public_key()) and not gbcs.verify(img, keys.dev_key().public_key())
    found = inspect(data)
    assert found.is_hub_image and found.bundle.version == "0.2.0"
    assert img.mi_hash == hashlib.sha256(img.mi).hexdigest()
    assert gbcs.verify(build_hub_image("emulator"), keys.dev_key().public_key())  # dev key by default


# -- the CLI ------------------------------------------------------------------

def test_cli_build_inspect_verify(tmp_path: Path, capsys) -> None:
    out = tmp_path / "fw.img"
    assert main(["image", "build", "--board", "emulator", "--version", "0.3.0", "--note", "cli", "-o", str(out)]) == 0
    assert "built" in capsys.readouterr().out
    assert main(["image", "inspect", "--json", str(out)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["bundle"]["version"] == "0.3.0" and doc["signed_by_dev_key"] is True
    assert doc["mi_hash"] == gbcs.parse_image(out.read_bytes()).mi_hash
    assert main(["image", "inspect", str(out)]) == 0
    assert "hub app bundle" in capsys.readouterr().out
    assert main(["image", "verify", str(out)]) == 0
    assert main(["image", "verify", "--pub", keys.public_raw_hex(keys.generate()), str(out)]) == 1
    assert "does not verify" in capsys.readouterr().err


def test_cli_unsigned_build_then_sign_with_a_new_key(tmp_path: Path, capsys) -> None:
    img = tmp_path / "u.img"
    assert main(["image", "build", "--board", "emulator", "--unsigned", "-o", str(img)]) == 0
    assert main(["image", "verify", str(img)]) == 1
    assert "unsigned" in capsys.readouterr().err
    assert main(["keys", "new", "--out", str(tmp_path), "--name", "k"]) == 0
    assert main(["image", "sign", str(img), "--key", str(tmp_path / "k.pem")]) == 0
    assert main(["image", "verify", "--key", str(tmp_path / "k.pem"), str(img)]) == 0
    assert main(["image", "verify", "--pub", str(tmp_path / "k.pub"), str(img)]) == 0


def test_cli_on_the_dcc_sample(capsys) -> None:
    sample = str(FIXTURES / "sample-esme-firmware-image.bin")
    assert main(["image", "inspect", sample]) == 0
    out = capsys.readouterr().out
    assert "7542f475e3f12eae887d81e32c46d313741d67076b13caec2f82e00ba5e1bb36" in out and "0x121d" in out
    assert main(["image", "verify", "--cert", str(FIXTURES / "supplier-90b3d51f30010000-ds.pem"), sample]) == 0


def test_cli_refuses_what_is_not_an_image(tmp_path: Path, capsys) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\0" * 100)
    assert main(["image", "inspect", str(junk)]) == 1
    assert "not a valid GBCS image" in capsys.readouterr().err
    assert main(["image", "verify", str(junk)]) == 1
    assert main(["image", "inspect", str(tmp_path / "missing.img")]) == 1
    assert "no image file" in capsys.readouterr().err
