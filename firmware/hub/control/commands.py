"""The command set of PROTOCOL.md ("Commands") mapped onto the services.

Handlers only pick arguments apart and call a service; the rules live in the
services, so every front-end shares them.
"""

from hub.errors import bad_args

from hub.control.registry import int_arg, only
from micropython import const

# log.tail output is kept small enough for one serial frame once JSON-escaped.
_TAIL_MAX = const(3000)


def install(reg, system, clock, config, log):
    """Register the foundation commands on Registry `reg`."""

    def ping(args, data):
        r = {"pong": True}
        if "echo" in args:
            r["echo"] = args["echo"]
        only(args, "echo")
        return r, data

    def info(args, data):
        only(args)
        return system.info()

    def status(args, data):
        only(args)
        return system.status()

    def reboot(args, data):
        only(args, "delay_ms")
        return system.reboot(int_arg(args, "delay_ms", 0, 10000, 100))

    def time_get(args, data):
        only(args)
        return clock.get()

    def time_set(args, data):
        only(args, "utc", "iso")
        if ("utc" in args) == ("iso" in args):
            raise bad_args("give exactly one of utc, iso")
        if "iso" in args:

            try:
                utc = clock.parse_iso(args["iso"])
            except ValueError as e:
                raise bad_args("iso: %s" % e)
        else:
            utc = args["utc"]
        clock.set(utc)
        return clock.get()

    def log_tail(args, data):
        only(args, "n")
        n = int_arg(args, "n", 1, 200, 20)
        return {"lines": log.tail(n, _TAIL_MAX)}

    def config_get(args, data):
        only(args, "key")
        if "key" in args:
            k = args["key"]
            return {"key": k, "value": config.get(k if isinstance(k, str) else repr(k))}
        return {"config": config.get()}

    def config_set(args, data):
        only(args, "key", "value", "values")
        if "values" in args:
            if "key" in args or "value" in args:
                raise bad_args("give key and value, or values")
            values = args["values"]
        elif "key" in args and "value" in args:
            if not isinstance(args["key"], str):
                raise bad_args("key must be a string")
            values = {args["key"]: args["value"]}
        else:
            raise bad_args("give key and value, or values")
        config.set(values)
        return {"config": config.get()}

    for name, fn in (
        ("ping", ping), ("info", info), ("status", status), ("reboot", reboot),
        ("time.get", time_get), ("time.set", time_set), ("log.tail", log_tail),
        ("config.get", config_get), ("config.set", config_set),
    ):
        reg.register(name, fn)
