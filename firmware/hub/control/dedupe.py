"""MQTT duplicate suppression: the responses to the last 32 command IDs.

Stored responses are capped in total bytes so a few large results cannot eat
the heap; an ID whose response was dropped for that reason is still known and
is never executed twice: the link answers it with a `not_found` error saying
the stored response was dropped.
"""


class Dedupe:
    def __init__(self, size=32, budget=6144):
        self.size = size
        self.budget = budget
        self.order = []  # oldest first
        self.rsp = {}  # id -> response bytes, or None when dropped
        self.bytes = 0

    def __contains__(self, cid):
        return cid in self.rsp

    def get(self, cid):
        """The stored response bytes for `cid` (None if dropped); KeyError if unseen."""
        return self.rsp[cid]

    def put(self, cid, response):
        """Remember `response` (bytes) as the answer to command `cid`."""
        if cid in self.rsp:
            return
        if len(self.order) >= self.size:
            old = self.order.pop(0)
            b = self.rsp.pop(old)
            if b:
                self.bytes -= len(b)
        self.order.append(cid)
        if len(response) > self.budget:
            self.rsp[cid] = None
            return
        self.rsp[cid] = response
        self.bytes += len(response)
        # Drop the oldest bodies (keeping their IDs) until within budget.
        i = 0
        while self.bytes > self.budget and i < len(self.order):
            k = self.order[i]
            b = self.rsp[k]
            if b:
                self.bytes -= len(b)
                self.rsp[k] = None
            i += 1
