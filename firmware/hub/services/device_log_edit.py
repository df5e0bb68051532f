"""The operator's side of the HAN device log (hub.services.device_log): its
views, adding and removing devices, and sends to a joined device.

Split from the device log so a running HAN holds only what joins and the gate
need: this is loaded with the han.* command that uses it and dropped after it.
Every function takes the DeviceLog `dl`. Changes are stored at once
(atomically, all checks first); the radio follows in `DeviceLog.run()`.
"""

from binascii import hexlify

import asyncio
from micropython import const

from hub.errors import HubError, bad_args
from hub.events import alert
from hub.services.device_log import CODE, EUI, JOINED, NODE, TYPE, UNTIL, _hex, parse_eui

TYPES = ("GSME", "ESME", "CHF", "GPF", "HCALCS", "PPMID", "TYPE2")
_MAX_DEVICES = const(16)
_MAX_HISTORY = const(15)
_MAX_JOIN_S = const(7 * 86400)


def crc_x25(data):
    """CRC-16/X-25 (the install-code CRC, sent little-endian after the code)."""
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


def parse_install_code(v):
    """16-byte install code (32 hex digits), or 18 bytes with its CRC: code + CRC."""
    if isinstance(v, str) and len(v) == 36:
        b = _hex(v, 18, "install_code")
        if crc_x25(b[:16]) != b[16] | (b[17] << 8):
            raise bad_args("install_code CRC does not match")
        return b
    b = _hex(v, 16, "install_code")
    c = crc_x25(b)
    return b + bytes((c & 0xFF, c >> 8))


def _view(dl, e, now):
    return {"eui64": e[EUI], "type": e[TYPE], "type_name": TYPES[e[TYPE]], "join_until": e[UNTIL],
            "window_open": e[UNTIL] > now, "can_join": e[EUI] in dl.keyed and dl.permit_until > now,
            "joined": e[JOINED], "node": e[NODE] if e[NODE] >= 0 else None}


def read(dl):
    """The `han.log` result: the log and the historic log."""
    now = dl.clock.utc()
    return {"log": [_view(dl, e, now) for e in dl.devices],
            "history": [{"eui64": h[0], "type": h[1], "type_name": TYPES[h[1]], "removed": h[2]}
                        for h in dl.history]}


def joined(dl):
    """The `han.devices` result: devices in the log that are on the network."""
    now = dl.clock.utc()
    return {"devices": [_view(dl, e, now) for e in dl.devices if e[JOINED]]}


def _changed(dl, what, eui):
    alert(dl.bus, 0x8F12, "han_device_log_changed", {"change": what, "eui64": eui, "log": read(dl)["log"]})
    dl.wake.set()


def add(dl, eui, dtype, code, join_s):
    """Add (or re-add) a device and open its join window for `join_s` seconds."""
    eui = parse_eui(eui)
    if type(dtype) is not int or not 0 <= dtype < len(TYPES):
        raise bad_args("type must be an int 0..6 (%s)" % ", ".join(TYPES))
    ic = parse_install_code(code)
    if type(join_s) is not int or not 0 <= join_s <= _MAX_JOIN_S:
        raise bad_args("join_s must be an int 0..%d" % _MAX_JOIN_S)
    if eui == dl.han.hub_id:
        raise bad_args("eui64 is the hub's own")
    old = dl._find(eui)
    if old is None and len(dl.devices) >= _MAX_DEVICES:
        raise HubError("busy", "device log full (%d devices)" % _MAX_DEVICES)
    e = [eui, dtype, hexlify(ic).decode(), dl.clock.utc() + join_s, -1, False]
    if old is not None:  # a new install code or window; keeps a device that is on the network
        e[NODE], e[JOINED] = old[NODE], old[JOINED]
    new = [x for x in dl.devices if x[EUI] != eui]
    new.append(e)
    prev = dl.devices
    dl.devices = new
    try:
        dl._save()
    except Exception:
        dl.devices = prev
        raise
    if old is not None and old[CODE] != e[CODE]:
        dl.rekey = True  # the NCP holds the old code's key: replace it
    _changed(dl, "added", eui)
    return _view(dl, e, dl.clock.utc())


def remove(dl, eui):
    """Remove a device: it goes to the historic log and is made to leave."""
    eui = parse_eui(eui)
    e = dl._find(eui)
    if e is None:
        raise HubError("not_found", "%s is not in the device log" % eui)
    prev = (dl.devices, dl.history)
    dl.devices = [x for x in dl.devices if x[EUI] != eui]
    dl.history = (dl.history + [[eui, e[TYPE], dl.clock.utc()]])[-_MAX_HISTORY:]
    try:
        dl._save()
    except Exception:
        dl.devices, dl.history = prev
        raise
    dl.pending.pop(eui, None)
    if e[NODE] >= 0:
        dl.kicks.append((e[NODE], eui))
    _changed(dl, "removed", eui)
    return {"removed": eui}


def send(dl, eui, cluster, payload, profile, src_ep, dst_ep):
    """APS unicast to a joined device; answered at once with a tag, the outcome comes as
    event `han.sent` {"tag", "eui64", "status"} (0: delivered, acked by the device)."""
    eui = parse_eui(eui)
    for k, v, hi in (("cluster", cluster, 0xFFFF), ("profile", profile, 0xFFFF), ("src_ep", src_ep, 240),
                     ("dst_ep", dst_ep, 255)):
        if type(v) is not int or not 0 <= v <= hi:
            raise bad_args("%s must be an int 0..%d" % (k, hi))
    if not isinstance(payload, (bytes, bytearray, memoryview)) or not 0 < len(payload) <= 82:
        raise bad_args("payload must be 1..82 bytes")
    e = dl._find(eui)
    if e is None or not e[JOINED]:
        raise HubError("not_found", "%s is not a joined device in the log" % eui)
    dl.han._need_up()
    dl.sends += 1
    tag = dl.sends
    asyncio.create_task(_send(dl, tag, eui, e[NODE], cluster, bytes(payload), profile, src_ep, dst_ep))
    return {"tag": tag, "node": e[NODE]}


async def _send(dl, tag, eui, node, cluster, payload, profile, src_ep, dst_ep):
    d = {"tag": tag, "eui64": eui}
    try:
        d["status"] = await dl.han.unicast(node, cluster, payload, profile, src_ep, dst_ep, True)
    except HubError as e:
        d["status"] = -1
        d["error"] = e.code
    dl.bus.emit("han.sent", d)
