"""Commands on the HAN's devices (PROTOCOL.md, "HAN device commands"): reads through
the hub, device images over the OTA Upgrade cluster, the Gas Proxy Function's queue.

Loaded only on a board with a radio, and only when one of these commands comes
(hub.han_devices registers a small trampoline per name; command han.X.Y is the
function X_Y here). Every argument is
checked before a handler returns; what waits for the radio comes back as a
registry.Later. `svc` is hub.han_devices.HanDevices (its services are made on
first use).
"""

from hub.control.image_commands import _handler
from hub.control.registry import Later, only
from hub.errors import bad_args
from hub.services.device_log import EUI, NODE


def _device(args):
    if "device" not in args:
        raise bad_args("missing device")
    return args["device"]


def read(svc, args, data):
    only(args, "device", "cluster", "attrs", "endpoint", "timeout_s")
    reads = svc.reads()
    try:
        a = reads.check(args)
    except Exception:
        svc.drop_reads()  # nothing to wait for
        raise
    return Later(svc.reading(reads.read(*a)))


def image_list(svc, args, data):
    only(args)
    return svc.images().list()


def image_remove(svc, args, data):
    only(args, "manufacturer", "image_type")
    return svc.images().remove(args.get("manufacturer"), args.get("image_type"))


def image_offer(svc, args, data):
    return _handler(svc.images().offer, ("size", "hash", "block_size", "window"), False)(args, data)


def image_block(svc, args, data):
    return _handler(svc.images().block, ("offset", "ack"), True)(args, data)


def image_abort(svc, args, data):
    only(args)
    return svc.images().abort()


def ota_status(svc, args, data):
    only(args, "device")
    eui = args.get("device")
    return svc.ota().status(None if eui is None else svc.device(eui)[EUI])


def ota_notify(svc, args, data):
    only(args, "device")
    e = svc.device(_device(args))
    return Later(_notify(svc.ota(), e))


async def _notify(ota, entry):
    await ota.notify(entry[NODE])
    return {"notified": entry[EUI], "node": entry[NODE]}


def gsme_queue(svc, args, data):
    only(args, "device", "message")
    from hub.services import gpf_ops  # dropped with this module (hub.han_devices)

    return gpf_ops.queue(svc.gpf(), args.get("device"), args.get("message"))


def gsme_status(svc, args, data):
    only(args, "device")
    from hub.services import gpf_ops

    return gpf_ops.status(svc.gpf(), _device(args))
