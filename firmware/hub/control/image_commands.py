"""The image.* commands of docs/IMAGES.md, section 4: arguments -> Images service.

Table-driven to keep its code small on the heap: each command takes only the
listed arguments and passes them (None when absent; the service checks them)
in that order, plus the frame's data for image.block.
"""

from hub.control.registry import only

_SPEC = (
    ("image.offer", ("size", "hash", "block_size"), "offer"),
    ("image.block", ("offset",), "block"),
    ("image.status", (), "status"),
    ("image.activate", ("hash", "at", "confirm_s"), "activate"),
    ("image.cancel", (), "cancel"),
    ("image.rollback", (), "rollback"),
    ("image.abort", (), "abort"),
)


def _handler(fn, keys, with_data):
    def h(args, data):
        only(args, *keys)
        a = [args.get(k) for k in keys]
        if with_data:
            a.append(data)
        return fn(*a)

    return h


def install(reg, images):
    for name, keys, meth in _SPEC:
        reg.register(name, _handler(getattr(images, meth), keys, meth == "block"))
