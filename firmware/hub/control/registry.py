"""Command registry and dispatcher: name -> handler(args, data) -> (result, data).

Every link ends here, so a command behaves the same whichever link carried it.
"""

from hub.codecs.frame import parse_json
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
        r = self.answer(name, args, data)
        if isinstance(r, HubError):
            raise r
        return r

    def answer(self, name, args=None, data=None):
        """Run command `name`; returns (result, data), or the HubError it is
        answered with (returned, not raised: see _run). `args` is a dict, or
        the JSON text of one as a link received it (bytes or a view: empty
        means {}), parsed here so that every link answers bad JSON alike."""
        # Every image block comes through here: its frame stays within 11
        # words, the most MicroPython keeps on the C stack (a larger frame is
        # a heap allocation per call, and collections follow).
        self.count += 1
        h = self.handlers.get(name)
        if h is None and self.fallback:
            h = self.fallback(name)
        if h is None:
            return HubError("unknown_command", "unknown command %r" % (name,))
        r = _run(h, args, data)
        if self.after:
            self.after()
        if isinstance(r, Exception):
            return self._error(name, r)
        return r if isinstance(r, tuple) else (r, None)


def _run(h, args, data):
    # The handler's result, or the exception it or its arguments raised
    # (handlers return dicts, tuples or Later, never exceptions): the one
    # function of a command's path that catches, so the one heap frame.
    try:
        return h(_check(args), data)
    except Exception as e:
        return e


def _check(a):
    if a is None:
        return {}
    t = type(a)  # no tuple of types built per call: every block comes here
    if t is memoryview or t is bytes or t is bytearray:
        a = parse_json(a)
    if not isinstance(a, dict):
        raise bad_args("args must be an object")
    return a


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
