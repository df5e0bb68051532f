"""The han.* commands on the network and its device log (PROTOCOL.md, "HAN commands").

Loaded only when one of them comes (hub.han_devices registers a small trampoline
per name; command han.X.Y is the function X_Y here) and dropped again after it: a running HAN does not hold their code.
Changes go to the device log, which persists them at once; the radio follows in
the background. `svc` is hub.han_devices.HanDevices.
"""

from binascii import unhexlify

from hub.control.registry import only
from hub.errors import bad_args


def _edit():
    # Loaded with the commands that change or show the log (not with han.status) and dropped after them.
    from hub.services import device_log_edit

    return device_log_edit


def status(svc, args, data):
    only(args)
    dl = svc.devlog
    h = svc.han
    e = h.ezsp
    link = e.link
    ash = link.ash
    dec = ash.dec
    d = {"state": h.state, "ezsp": e.version, "stack": e.stack, "ncp_eui64": h.ncp_eui,
         "ext_pan_id": h.hub_id, "formed": h.formed, "resumed": h.resumed,
         "restarts": h.restarts, "commands": e.commands, "timeouts": e.timeouts,
         "rx": h.rx, "rx_dropped": h.rx_dropped, "tx": h.tx, "tx_failed": h.tx_failed,
         # the ASH link's counters
         "ash": ("idle", "connecting", "connected", "failed")[ash.state],
         "ash_tx": link.tx_frames, "ash_rx": link.rx_frames, "ash_frames": dec.frames,
         "ash_faults": dec.faults, "ncp_resets": link.resets, "ash_failures": link.failures,
         "t_ack_ms": ash.t_ack}
    if h.params:
        d["channel"], d["pan_id"] = h.params
    if h.error:
        d["error"] = h.error
    d["devices"] = len(dl.devices)
    d["joined"] = sum(1 for e in dl.devices if e[5])
    d["refused"] = dl.refused
    d["permit_joining"] = dl.permit_until > dl.clock.utc()
    return d


def log(svc, args, data):
    only(args)
    return _edit().read(svc.devlog)


def log_add(svc, args, data):
    only(args, "eui64", "type", "install_code", "join_s")
    for k in ("eui64", "type", "install_code"):
        if k not in args:
            raise bad_args("missing %s" % k)
    return _edit().add(svc.devlog, args["eui64"], args["type"], args["install_code"], args.get("join_s", 3600))


def log_remove(svc, args, data):
    only(args, "eui64")
    return _edit().remove(svc.devlog, args.get("eui64"))


def devices(svc, args, data):
    only(args)
    return _edit().joined(svc.devlog)


def send(svc, args, data):
    # The payload as hex in args, or as the frame's raw data.
    only(args, "eui64", "cluster", "payload", "profile", "src_ep", "dst_ep")
    payload = data
    if "payload" in args:
        try:
            payload = unhexlify(args["payload"])
        except Exception:
            raise bad_args("payload must be hex")
    return _edit().send(svc.devlog, args.get("eui64"), args.get("cluster"), payload, args.get("profile", 0x0109),
                     args.get("src_ep", 1), args.get("dst_ep", 1))
