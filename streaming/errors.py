"""Typed errors of the media engine.

Every failure the server may show to a user is a :class:`StreamingError` with a
stable dotted ``code``; only the HTTP and socket layers translate it into a
status or an error event.
"""

from __future__ import annotations

__all__ = ["StreamingError"]


class StreamingError(Exception):
    """A media-engine failure with a stable dotted ``code`` and a human ``message``.

    Codes in use: ``sdp.invalid``, ``stage.busy``, ``stage.viewer_cap``,
    ``stage.offline``, ``stage.invalid_id``, ``session.not_found``,
    ``engine.not_running``, ``recording.active``, ``recording.not_active``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"StreamingError({self.code!r}, {self.message!r})"
