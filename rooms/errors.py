"""The one error type raised by the rooms package."""

from __future__ import annotations


class RoomsError(Exception):
    """A domain failure with a stable dotted ``code`` (e.g. ``notes.too_large``).

    Only the socket and HTTP layers turn it into an error event or a status; the code is part
    of the wire contract, the message is for humans and may change.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
