"""MQTT duplicate suppression: the responses to the last 32 command IDs.

Stored responses are capped in total bytes so a few large results cannot eat
the heap; an ID whose response was dropped for that reason is still known and
is never executed twice: the link answers it with a `not_found` error saying
the stored response was dropped.
"""


class Dedupe:
    def __init__(self, size=32, budget=1024):
        self.size = size
        self.budget = budget
        self.order = []  # oldest first
        self.rsp = {}  # id -> response, or None when dropped for the budget
        self.sizes = {}  # id -> budget cost of a kept response
        self.bytes = 0

    def __contains__(self, cid):
        return cid in self.rsp

    def get(self, cid):
        """The stored response for `cid` (None if dropped); KeyError if unseen."""
        return self.rsp[cid]

    def put(self, cid, response, size=None):
        """Remember `response` as the answer to command `cid`.

        `size` is what it costs against the budget (default len(response)).
        """
        # Its frame stays within the 11 words MicroPython keeps on the C
        # stack: every quiet image block is put here.
        if cid in self.rsp:
            return
        if size is None:
            size = len(response)
        self.order.append(cid)
        if size > self.budget:
            response = None  # known, never run again, but not kept
        else:
            self.sizes[cid] = size
            self.bytes += size
        self.rsp[cid] = response
        self._tidy()

    def _tidy(self):
        # Forget the oldest IDs beyond `size`, then drop the oldest bodies
        # (keeping their IDs) until within budget.
        while len(self.order) > self.size:
            k = self.order.pop(0)
            if self.rsp.pop(k) is not None:
                self.bytes -= self.sizes.pop(k)
        i = 0
        while self.bytes > self.budget and i < len(self.order):
            k = self.order[i]
            if self.rsp[k] is not None:
                self.bytes -= self.sizes.pop(k)
                self.rsp[k] = None
            i += 1
