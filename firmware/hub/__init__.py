"""The Communications Hub firmware package.

Layers talk one way: links (bytes) -> codecs (messages) -> services (state and
rules) -> command front-ends. Nothing here imports a link from a service.
"""

FW_VERSION = "0.1.0"


def forget(name):
    """Drop module `name` (a dotted path) so its code can leave the heap.

    For code needed once in a while: the next import loads it again.
    """
    import sys

    sys.modules.pop(name, None)
    pkg, _, attr = name.rpartition(".")
    p = sys.modules.get(pkg)
    if p is not None:
        try:
            delattr(p, attr)
        except (AttributeError, KeyError, TypeError):
            pass
