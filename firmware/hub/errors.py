"""Structured errors shared by services and front-ends.

A service raises HubError(code, message); every front-end turns it into the
same `{"code", "message"}` (PROTOCOL.md, "Errors").
"""

# Codes: unknown_command, bad_args, bad_json, bad_request, bad_frame, bad_crc,
# too_large, busy, not_found, internal.


class HubError(Exception):
    """An error answered to the requester; bad input changes nothing."""

    def __init__(self, code, message=""):
        super().__init__(code, message)
        self.code = code
        self.message = message

    def to_dict(self):
        return {"code": self.code, "message": self.message}


def bad_args(message):
    """Shorthand for the most common error."""
    return HubError("bad_args", message)
