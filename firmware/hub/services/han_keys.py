"""Keeping the NCP in step with the HAN device log (hub.services.device_log): the
transient link keys of devices whose join window is open, permit-joining, and
making removed or refused devices leave. Loaded by DeviceLog.run while there is
such work and dropped when there is none (every window closed, no key on the
NCP, joining closed): a HAN whose devices have joined does not hold it.
"""

import struct
import time
from binascii import unhexlify

from micropython import const

from hub.errors import HubError
from hub.services.device_log import CODE, EUI, UNTIL
from hub.services.han import eui_bytes

# EZSP ids (bellows.types names).
_PERMIT_JOINING = const(0x0022)
_AES_MMO_HASH = const(0x006F)
_CLEAR_TRANSIENT_KEYS = const(0x006B)
_REMOVE_DEVICE = const(0x00A8)
_ADD_TRANSIENT_KEY = const(0x00AF)  # v8..v12
_IMPORT_TRANSIENT_KEY = const(0x0111)  # v13
_T_ANNCE_MS = const(10000)  # a join the NCP let through must announce itself within this
_PERMIT_MAX = const(254)  # permitJoining's longest finite duration
_REKEY_S = const(43200)


async def _permit_joining(han, seconds):
    # Open joining for `seconds` (0 closes).
    han._need_up()
    await han._status_cmd(_PERMIT_JOINING, bytes((seconds,)), "permitJoining")


async def _install_key(han, eui, code_crc):
    # Transient link key for EUI hex `eui` from its install code + CRC (18 bytes).
    han._need_up()
    ctx = bytes(20) + b"\x01" + bytes((len(code_crc),)) + code_crc
    p = await han._status_cmd(_AES_MMO_HASH, ctx, "aesMmoHash")
    key = p[1:17]
    if han.ezsp.version >= 13:
        p = await han.ezsp.cmd(_IMPORT_TRANSIENT_KEY, eui_bytes(eui) + key + b"\x00")
        if struct.unpack_from("<I", p)[0]:
            raise HubError("radio_error", "importTransientKey refused")
    else:
        await han._status_cmd(_ADD_TRANSIENT_KEY, eui_bytes(eui) + key, "addTransientLinkKey")


async def _clear_keys(han):
    # Drop every transient link key on the NCP.
    han._need_up()
    await han.ezsp.cmd(_CLEAR_TRANSIENT_KEYS)


async def _remove_device(han, node, eui):
    # Make a joined device leave (the trust centre's removeDevice).
    han._need_up()
    e = eui_bytes(eui)
    await han.ezsp.cmd(_REMOVE_DEVICE, struct.pack("<H", node) + e + e)


async def step(dl):
    """Bring the NCP in step with DeviceLog `dl`: make kicked devices leave, refuse joins that never
    announced themselves, keys for open windows only (renewed before the NCP times them out),
    permit-joining while any window is open."""
    han = dl.han
    now = dl.clock.utc()
    while dl.kicks:
        node, eui = dl.kicks[0]
        await _remove_device(han, node, eui)
        dl.kicks.pop(0)
    for eui, (node, t) in list(dl.pending.items()):
        if time.ticks_diff(time.ticks_ms(), t) > _T_ANNCE_MS:
            del dl.pending[eui]
            dl._refuse(eui, node, "key_exchange_failed")
    want = {}
    for e in dl.devices:
        if e[UNTIL] > now:
            want[e[EUI]] = e
    if dl.keyed and now - dl.keyed_at > _REKEY_S:
        dl.rekey = True  # before the NCP's transient keys time out (18 h at most) in a long window
    if dl.rekey or any(k not in want for k in dl.keyed):
        await _clear_keys(han)
        dl.keyed = set()
        dl.rekey = False
    if not dl.keyed:
        dl.keyed_at = now
    for eui, e in want.items():
        if eui not in dl.keyed:
            await _install_key(han, eui, unhexlify(e[CODE]))
            dl.keyed.add(eui)
    if want:
        left = max(e[UNTIL] for e in want.values()) - now
        if dl.permit_until - now < min(left, 30):
            n = min(_PERMIT_MAX, left)
            await _permit_joining(han, n)
            dl.permit_until = now + n
    elif dl.permit_until > now:
        await _permit_joining(han, 0)
        dl.permit_until = 0
