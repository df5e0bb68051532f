"""GBCS image files: the DCC sample, build/parse/sign/verify, zigpy agreeing on every header."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography import x509
from zigpy.ota.image import OTAImageHeader

from commshub.images import gbcs, keys

FIXTURES = Path(__file__).with_name("fixtures") / "gbcs"
SAMPLE = FIXTURES / "sample-esme-firmware-image.bin"
CERT = FIXTURES / "supplier-90b3d51f30010000-ds.pem"
SAMPLE_MI_HASH = "7542f475e3f12eae887d81e32c46d313741d67076b13caec2f82e00ba5e1bb36"



def _cert_key():
    return x509.load_pem_x509_certificate(CERT.read_bytes()).public_key()


def _zigpy_agrees(data: bytes, img: gbcs.GbcsImage) -> None:
    """zigpy's own reading of the header gives the values our parse reports."""
    hdr, rest = OTAImageHeader.deserialize(data)
    assert hdr.upgrade_file_id == 0x0BEEF11E and hdr.header_version == 0x0100
    assert hdr.header_length == img.header_length == len(data) - len(rest)
    assert hdr.manufacturer_id == img.manufacturer and hdr.image_type == img.image_type
    assert hdr.file_version == img.file_version and hdr.stack_version == img.stack_version
    assert hdr.image_size == img.total_size == len(data)
    assert bytes(hdr.header_string).rstrip(b"\0").decode() == img.header_string
    if img.hw_versions:
        assert (hdr.minimum_hardware_version, hdr.maximum_hardware_version) == img.hw_versions
    else:
        assert not hdr.hardware_versions_present
    assert rest[:len(img.mi)] == img.mi


def test_dcc_sample_parses_with_the_documented_values() -> None:
    data = SAMPLE.read_bytes()
    img = gbcs.parse_image(data)
    assert (img.header_length, img.manufacturer, img.image_type) == (60, 0x121D, 0x0000)
    assert (img.file_version, img.stack_version, img.total_size) == (0xACDCACDC, 2, 361)
    assert img.header_string == "I am a GFI ESME[] firmware image"
    assert img.hw_versions == (0x1111, 0x1211)
    assert len(img.mi) == 235 and img.mi == data[60:295]
    assert img.force_replace is False and img.signed
    assert img.mi_hash == SAMPLE_MI_HASH
    _zigpy_agrees(data, img)


def test_dcc_sample_verifies_with_the_certificate_and_not_once_changed() -> None:
    data = SAMPLE.read_bytes()
    assert gbcs.verify(data, _cert_key())
    flipped = bytearray(data)
    flipped[100] ^= 0x01  # inside the MI
    assert not gbcs.verify(bytes(flipped), _cert_key())
    assert not gbcs.verify(data, keys.generate().public_key())


def test_dcc_sample_rebuilds_byte_for_byte_from_its_fields() -> None:
    data = SAMPLE.read_bytes()
    img = gbcs.parse_image(data)
    again = gbcs.build_image(img.mi, manufacturer=img.manufacturer, image_type=img.image_type,
                             file_version=img.file_version, header_string=img.header_string,
                             hw_versions=img.hw_versions)
    assert again[:-gbcs.SIG_LEN] == data[:-gbcs.SIG_LEN]


@pytest.mark.parametrize("hw", [None, (0x0100, 0x02FF)])
@pytest.mark.parametrize("force", [False, True])
def test_built_images_round_trip_and_zigpy_reads_them(hw, force) -> None:
    key = keys.generate()
    mi = bytes(range(256)) * 3
    data = gbcs.build_image(mi, manufacturer=0x1234, image_type=0x0001, file_version=0x00020000,
                            header_string="commshub test", hw_versions=hw, force_replace=force, key=key)
    img = gbcs.parse_image(data)
    assert img.mi == mi and img.mi_hash == hashlib.sha256(mi).hexdigest()
    assert img.force_replace is force and img.hw_versions == hw
    assert img.header_length == (60 if hw else 56) and img.version_text == "0.2.0"
    assert data[-66:-64] == bytes([int(force), 0x40])
    _zigpy_agrees(data, img)
    assert gbcs.verify(img, key.public_key())
    assert not gbcs.verify(img, keys.generate().public_key())


def test_sign_fills_an_unsigned_image_and_re_signs_a_signed_one() -> None:
    a, b = keys.generate(), keys.generate()
    unsigned = gbcs.build_image(b"payload", manufacturer=1, image_type=2, file_version=3, header_string="x")
    assert not gbcs.parse_image(unsigned).signed and not gbcs.verify(unsigned, a.public_key())
    signed_a = gbcs.sign(unsigned, a)
    assert signed_a[:-64] == unsigned[:-64] and gbcs.verify(signed_a, a.public_key())
    signed_b = gbcs.sign(signed_a, b)
    assert gbcs.verify(signed_b, b.public_key()) and not gbcs.verify(signed_b, a.public_key())


def test_signature_converts_between_raw_and_der() -> None:
    key = keys.generate()
    raw = gbcs.sign_mi(b"mi", key)
    assert len(raw) == 64 and gbcs.der_to_raw(gbcs.raw_to_der(raw)) == raw


@pytest.mark.parametrize("damage, message", [
    (lambda d: d[:40], "too short"),
    (lambda d: b"\0\0\0\0" + d[4:], "not a Zigbee OTA file"),
    (lambda d: d[:-1], "truncated"),
    (lambda d: d + b"\0", "truncated or padded"),
    (lambda d: d[:-66] + b"\x02" + d[-65:], "force-replace"),
    (lambda d: d[:-65] + b"\x41" + d[-64:], "signature length"),
])
def test_malformed_images_are_refused_with_a_reason(damage, message) -> None:
    good = gbcs.build_image(b"x" * 100, manufacturer=1, image_type=1, file_version=1, header_string="t")
    with pytest.raises(gbcs.ImageFormatError, match=message):
        gbcs.parse_image(damage(good))


def test_header_values_are_checked_when_building() -> None:
    with pytest.raises(ValueError, match="manufacturer"):
        gbcs.build_image(b"x", manufacturer=0x10000, image_type=1, file_version=1, header_string="")
    with pytest.raises(ValueError, match="32 fit"):
        gbcs.build_image(b"x", manufacturer=1, image_type=1, file_version=1, header_string="y" * 33)
    with pytest.raises(ValueError, match="empty"):
        gbcs.build_image(b"", manufacturer=1, image_type=1, file_version=1, header_string="")
