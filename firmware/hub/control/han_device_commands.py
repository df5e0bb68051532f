"""Commands on the HAN's devices (PROTOCOL.md, "HAN device commands"): reads through
the hub, device images over the OTA Upgrade cluster, the Gas Proxy Function's queue.

Loaded only on a board with a radio. Every argument is checked before a handler
returns; what waits for the radio comes back as a registry.Later.
"""

from hub.control.registry import Later, only


def install(reg, reads):
    def read(args, data):
        only(args, "device", "cluster", "attrs", "endpoint", "timeout_s")
        return Later(reads.read(*reads.check(args)))

    reg.register("han.read", read)
