"""The han.* commands (PROTOCOL.md, "HAN commands"): arguments -> HAN services.

Loaded only on a board with a radio. Changes go to the device log service,
which persists them at once; the radio follows in the background.
"""

from binascii import unhexlify

from hub.control.registry import only
from hub.errors import bad_args


def install(reg, han, devlog):
    def status(args, data):
        only(args)
        d = han.status()
        d["devices"] = len(devlog.devices)
        d["joined"] = sum(1 for e in devlog.devices if e[5])
        d["refused"] = devlog.refused
        d["permit_joining"] = devlog.permit_until > devlog.clock.utc()
        return d

    def log_read(args, data):
        only(args)
        return devlog.read()

    def log_add(args, data):
        only(args, "eui64", "type", "install_code", "join_s")
        for k in ("eui64", "type", "install_code"):
            if k not in args:
                raise bad_args("missing %s" % k)
        return devlog.add(args["eui64"], args["type"], args["install_code"], args.get("join_s", 3600))

    def log_remove(args, data):
        only(args, "eui64")
        return devlog.remove(args.get("eui64"))

    def devices(args, data):
        only(args)
        return devlog.joined()

    def send(args, data):
        # The payload as hex in args, or as the frame's raw data.
        only(args, "eui64", "cluster", "payload", "profile", "src_ep", "dst_ep")
        payload = data
        if "payload" in args:
            try:
                payload = unhexlify(args["payload"])
            except Exception:
                raise bad_args("payload must be hex")
        return devlog.send(args.get("eui64"), args.get("cluster"), payload, args.get("profile", 0x0109),
                           args.get("src_ep", 1), args.get("dst_ep", 1))

    for name, fn in (("han.status", status), ("han.log", log_read), ("han.log.add", log_add),
                     ("han.log.remove", log_remove), ("han.devices", devices), ("han.send", send)):
        reg.register(name, fn)
