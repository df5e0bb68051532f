"""Event bus: services emit, links (and a few listeners) consume.

Sinks are called synchronously and must only enqueue: an emitter may be in
the middle of a command or of a library call that is not re-entrant.
"""


class Bus:
    def __init__(self):
        self.seq = 0  # the hub's event counter (u16), shared by every link
        self._sinks = []

    def subscribe(self, fn):
        """Call fn(name, seq, body) for every event from now on."""
        self._sinks.append(fn)

    def emit(self, name, body=None):
        """Emit event `name` with a JSON-able dict `body`; returns its seq."""
        seq = self.seq
        self.seq = (seq + 1) & 0xFFFF
        if body is None:
            body = {}
        for fn in self._sinks:
            fn(name, seq, body)
        return seq


def alert(bus, code, name, details):
    """Emit the `alert` event: a domain alert code, its readable name and details."""
    d = {"code": code, "code_hex": "%04X" % code, "name": name}
    d.update(details)
    bus.emit("alert", d)
