"""The Gas Proxy Function's operator side (hub.services.gpf): han.read of a GSME
answered from the mirror, han.gsme.queue and han.gsme.status. Loaded with those
commands and dropped after them; every function takes the Gpf `gpf`.
"""

from binascii import unhexlify

from micropython import const

from hub.codecs import zcl
from hub.errors import HubError, bad_args
from hub.services import device_log

METERING = const(0x0702)
_GSME = const(0)  # device log type
_MAX_MSG = const(75)  # 82-byte APS payload - ZCL header 3 - tunnel id 2 - GET-RESPONSE 2
_MAX_QUEUED = const(8)


def read(gpf, entry, cluster, attrs):
    """han.read's answer for a GSME, from the mirror (None: not a GSME, read the device)."""
    if entry[device_log.TYPE] != _GSME:
        return None
    eui = entry[device_log.EUI]
    m = gpf.mirror.get(eui)
    if cluster != METERING or m is None:
        raise HubError("not_found", "nothing mirrored for %s cluster 0x%04X yet (it reports on waking)"
                       % (eui, cluster))
    from hub.services.han_reads import records_view

    recs = []
    for a in attrs:
        v = m.get(a)
        recs.append((a, zcl.UNSUPPORTED_ATTRIBUTE, None, None) if v is None else (a, zcl.SUCCESS, v[0], v[1]))
    return {"device": eui, "node": entry[device_log.NODE], "cluster": cluster, "endpoint": 1,
            "source": "mirror", "reported_utc": m["utc"], "attrs": records_view(recs)}


def queue(gpf, eui, message):
    """Queue GBCS `message` (hex) for GSME `eui`; han.gsme.queue's result."""
    eui = device_log.parse_eui(eui)
    if not gpf._gsme(eui):
        raise HubError("not_found", "%s is not a GSME in the HAN device log" % eui)
    if not isinstance(message, str) or not message or len(message) & 1:
        raise bad_args("message must be hex digits (whole bytes)")
    try:
        n = len(unhexlify(message))
    except ValueError:
        raise bad_args("message must be hex")
    if n > _MAX_MSG:
        raise HubError("too_large", "a message through the tunnel is at most %d bytes (one APS frame)"
                       % _MAX_MSG)
    q = gpf.queues.get(eui, [])
    if len(q) >= _MAX_QUEUED:
        raise HubError("busy", "%d messages already wait for %s" % (len(q), eui))
    gpf.queues[eui] = q + [message.lower()]
    gpf.store.save("gpf", gpf.queues)
    return {"device": eui, "queued": len(q) + 1}


def status(gpf, eui):
    """han.gsme.status's result."""
    eui = device_log.parse_eui(eui)
    m = gpf.mirror.get(eui, {})
    mirror = [{"id": k, "type": v[0], "value": v[1]} for k, v in m.items() if k != "utc"]
    return {"device": eui, "queued": len(gpf.queues.get(eui, ())), "last_poll_utc": gpf.polls.get(eui),
            "mirror": mirror, "reported_utc": m.get("utc"), "delivered": gpf.delivered}
