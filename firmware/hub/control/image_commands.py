"""The image.* commands of docs/IMAGES.md, section 4: arguments -> Images service.

Table-driven to keep its code small on the heap: each command takes only the
listed arguments and passes them (None when absent; the service checks them)
in that order, plus the frame's data for image.block.

image.block with `"ack": false` is quiet: it gets no reply unless it fails or
completes the file, so a head-end can stream several blocks per answer
(docs/IMAGES.md, section 4).
"""

from hub.control.registry import SILENT, only
from hub.errors import bad_args

_SPEC = (
    ("image.offer", ("size", "hash", "block_size", "window"), "offer"),
    ("image.block", ("offset", "ack"), "block"),
    ("image.status", (), "status"),
    ("image.activate", ("hash", "at", "confirm_s"), "activate"),
    ("image.cancel", (), "cancel"),
    ("image.rollback", (), "rollback"),
    ("image.abort", (), "abort"),
)


def _handler(fn, keys, block):
    if block:
        def b(args, data):
            # Every block of a download: no argument tuple or list built.
            if len(args) > ("offset" in args) + ("ack" in args):
                only(args, *keys)  # names the unexpected one
            ack = args.get("ack")
            if ack is not None and type(ack) is not bool:
                raise bad_args("ack must be true or false")
            r = fn(args.get("offset"), data, ack is not False)
            return SILENT if r is None else r

        return b

    def h(args, data):
        only(args, *keys)
        return fn(*[args.get(k) for k in keys])

    return h


def install(reg, images):
    for name, keys, meth in _SPEC:
        reg.register(name, _handler(getattr(images, meth), keys, meth == "block"))
