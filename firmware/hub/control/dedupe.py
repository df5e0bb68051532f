"""MQTT duplicate suppression: the responses to the last 32 command IDs.

Stored responses are capped in total bytes so a few large results cannot eat
the heap; an ID whose response was dropped for that reason is still known and
is never executed twice: the link answers it with a `not_found` error saying
the stored response was dropped.
"""


class Dedupe:
    """Allocation-stable: the IDs sit in a ring of fixed size and both tables
    are grown to their final size when the link starts, on a heap with no
    holes yet. A table growing later, mid-download, needs a contiguous block
    that a fragmented 100 KiB heap may not have (it failed 25 blocks into the
    first download after a start there); a list used as a queue reallocates
    too."""

    def __init__(self, size=32, budget=1024):
        self.size = size
        self.budget = budget
        self.order = [None] * size  # IDs, the oldest at `pos` once it is full
        self.pos = 0
        self.rsp = {}  # id -> response, or None when dropped for the budget
        self.sizes = {}  # id -> budget cost of a kept response (quiet ones cost nothing)
        self.bytes = 0
        for i in range(size + 1):
            self.rsp[i] = self.sizes[i] = None
        for i in range(size + 1):
            del self.rsp[i], self.sizes[i]

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
        old = self.order[self.pos]
        if old is not None:  # forget the oldest
            self.rsp.pop(old)
            self.bytes -= self.sizes.pop(old, 0)
        self.order[self.pos] = cid
        self.pos = (self.pos + 1) % self.size
        if size is None:
            size = len(response)
        if size > self.budget:
            response = None  # known, never run again, but not kept
        elif size:
            self.sizes[cid] = size
            self.bytes += size
        self.rsp[cid] = response
        if self.bytes > self.budget:
            self._tidy()

    def _tidy(self):
        # Drop the oldest bodies (keeping their IDs) until within budget.
        i = self.pos
        for _ in range(self.size):
            k = self.order[i]
            if k is not None and k in self.sizes:
                self.bytes -= self.sizes.pop(k)
                self.rsp[k] = None
                if self.bytes <= self.budget:
                    return
            i = (i + 1) % self.size
