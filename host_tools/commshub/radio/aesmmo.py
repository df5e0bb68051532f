"""AES-MMO (Matyas-Meyer-Oseas over AES-128), the Zigbee hash, and install-code keys.

The NCP's `aesMmoHash` works on a context (hash so far, bytes so far) so a
host can hash in pieces: updates take whole 16-byte blocks, the final call
takes the rest and adds the Zigbee padding (a 1 bit, zeros, then the message
length in bits: 16 bits for messages under 2**16 bits, else 32 bits followed
by 16 zero bits). An install-code link key is the hash of the install code
with its CRC (CRC-16/X-25, little-endian) appended.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 16
INSTALL_CODE_LENGTHS = (6, 8, 12, 16)  # without the CRC


def _block(hash_so_far: bytes, block: bytes) -> bytes:
    """One MMO step: E_h(m) xor m, with the hash so far as the AES key."""
    enc = Cipher(algorithms.AES(hash_so_far), modes.ECB()).encryptor()
    out = enc.update(block) + enc.finalize()
    return bytes(a ^ b for a, b in zip(out, block))


def mmo_update(result: bytes, length: int, data: bytes) -> tuple[bytes, int]:
    """Hash whole blocks into (result, length); `data` must be a multiple of 16 bytes."""
    if len(data) % BLOCK:
        raise ValueError("aesMmoHash update takes whole 16-byte blocks")
    for i in range(0, len(data), BLOCK):
        result = _block(result, data[i : i + BLOCK])
    return result, length + len(data)


def mmo_final(result: bytes, length: int, data: bytes) -> tuple[bytes, int]:
    """Hash the last bytes with the padding; returns (hash, total length)."""
    whole = len(data) - len(data) % BLOCK
    result, length = mmo_update(result, length, data[:whole])
    rest = data[whole:]
    total = length + len(rest)
    bits = total * 8
    if bits < 1 << 16:
        tail = bits.to_bytes(2, "big")
    else:
        tail = bits.to_bytes(4, "big") + b"\x00\x00"
    padded = rest + b"\x80"
    padded += bytes((-(len(padded) + len(tail))) % BLOCK) + tail
    result, _ = mmo_update(result, 0, padded)
    return result, total


def aes_mmo_hash(data: bytes) -> bytes:
    """The AES-MMO hash of `data` in one go."""
    return mmo_final(bytes(BLOCK), 0, data)[0]


def crc16_x25(data: bytes) -> int:
    """CRC-16/X-25 (reflected CCITT, init and xorout 0xFFFF): the install-code CRC."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


def with_crc(code: bytes) -> bytes:
    """An install code (6, 8, 12 or 16 bytes) with its CRC appended."""
    if len(code) not in INSTALL_CODE_LENGTHS:
        raise ValueError(f"install code must be 6, 8, 12 or 16 bytes, not {len(code)}")
    return bytes(code) + crc16_x25(code).to_bytes(2, "little")


def normalise_install_code(code: bytes) -> bytes:
    """An install code with its CRC, given with it (8, 10, 14, 18 bytes: checked) or without
    (6, 12, 16 bytes, e.g. GBCS's 16: CRC added). 8 bytes is an 8-byte code without CRC
    unless its last two bytes are the CRC of the first six."""
    code = bytes(code)
    if len(code) == 8 and crc16_x25(code[:6]).to_bytes(2, "little") == code[6:]:
        return code
    if len(code) in INSTALL_CODE_LENGTHS:
        return with_crc(code)
    if len(code) - 2 in INSTALL_CODE_LENGTHS:
        if with_crc(code[:-2]) != code:
            raise ValueError("install code CRC does not match")
        return code
    raise ValueError(f"install code must be 6, 8, 12 or 16 bytes (+2 CRC), not {len(code)}")


def install_code_key(code_with_crc: bytes) -> bytes:
    """The link key for an install code given with its CRC (checked)."""
    code = bytes(code_with_crc[:-2])
    if with_crc(code) != bytes(code_with_crc):
        raise ValueError("install code CRC does not match")
    return aes_mmo_hash(code_with_crc)
