"""Command registry and dispatcher: name -> handler(args, data) -> (result, data).

Every link ends here, so a command behaves the same whichever link carried it.
"""

from hub.errors import HubError, bad_args

# A handler's "no reply": a quiet command that succeeded (image.block with
# ack false). Links send nothing for it; errors are always answered.
SILENT = (None, False)


class Later:
    """A handler's answer that needs to wait (a radio round trip): the link
    awaits `Registry.finish(later)` in a task of its own and answers then, so
    it keeps serving other requests meanwhile. Checks are done before a
    handler returns one: bad input is still answered at once."""

    def __init__(self, coro):
        self.coro = coro


class Registry:
    def __init__(self, log=None, after=None):
        self.handlers = {}
        # fn(name) -> handler or None, for names not registered one by one (the HAN's
        # han.* commands: no per-name closure and dict entry held for each).
        self.fallback = None
        self.log = log
        self.after = after  # called after every command (heap sampling)
        self.count = 0

    def register(self, name, handler):
        """Register handler(args: dict, data: memoryview|None) for `name`.

        The handler returns a result dict, (result, data) to send bytes, or
        SILENT for no reply at all.
        """
        self.handlers[name] = handler

    async def finish(self, later):
        """(result, data) of a Later, errors mapped as dispatch maps them."""
        try:
            r = await later.coro
        except Exception as e:
            raise self._error("a deferred command", e)
        return r if isinstance(r, tuple) else (r, None)

    def _error(self, name, e):
        """The HubError a handler's exception is answered with."""
        if isinstance(e, HubError):
            return e
        if isinstance(e, MemoryError):  # not the command's fault: the heap, now (PROTOCOL.md)
            import gc

            gc.collect()
            return HubError("no_memory", "not enough heap for %s now: try again" % name)
        if self.log:
            self.log.exc("command %s failed" % name, e)
        return HubError("internal", "%s: %s" % (type(e).__name__, e))

    def dispatch(self, name, args=None, data=None):
        """Run command `name`; returns (result, data) or raises HubError."""
        self.count += 1
        try:
            h = self.handlers.get(name)
            if h is None and self.fallback:
                h = self.fallback(name)
            if h is None:
                raise HubError("unknown_command", "unknown command %r" % (name,))
            if args is None:
                args = {}
            elif not isinstance(args, dict):
                raise bad_args("args must be an object")
            try:
                r = h(args, data)
            except Exception as e:
                raise self._error(name, e)
            if isinstance(r, tuple):
                return r
            return r, None
        finally:
            if self.after:
                self.after()


def only(args, *allowed):
    """Reject any key of `args` not in `allowed`."""
    for k in args:
        if k not in allowed:
            raise bad_args("unexpected argument %r" % (k,))


def int_arg(args, key, lo, hi, default):
    """args[key] as an int in lo..hi, or `default` when absent."""
    v = args.get(key, default)
    if type(v) is not int or not lo <= v <= hi:
        raise bad_args("%s must be an int %d..%d" % (key, lo, hi))
    return v
