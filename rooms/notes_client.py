"""A Python peer of the notes protocol: what the browser does, over a pycrdt document.

Used by tests, the benchmark and server-side tools (an export bot, a load generator). It never
creates theme sections: it waits for the server's, as the browser must.
"""

from __future__ import annotations

from pycrdt import Doc, Map, Text, TransactionEvent

from rooms.notes import THEMES
from rooms.ysync import (
    AwarenessMessage,
    SyncType,
    parse_message,
    sync_step1,
    sync_step2,
    sync_update,
)


class NotesClient:
    """One editor. Local edits queue update messages in :meth:`take_outbox`."""

    def __init__(self) -> None:
        self.doc: Doc[Map[Text]] = Doc()
        self._outbox: list[bytes] = []
        self._applying_remote = False
        self.doc.observe(self._on_change)

    def hello(self) -> bytes:
        """Sync step 1: our state vector, so the server sends what we lack."""
        return sync_step1(self.doc.get_state())

    def receive(self, message: bytes) -> list[bytes]:
        """Handle one message from the server; return the replies to send back."""
        parsed = parse_message(message)
        if isinstance(parsed, AwarenessMessage):
            return []
        if parsed.kind is SyncType.STEP1:
            return [sync_step2(self.doc.get_update(parsed.payload))]
        self._applying_remote = True
        try:
            self.doc.apply_update(parsed.payload)
        finally:
            self._applying_remote = False
        return []

    def take_outbox(self) -> list[bytes]:
        """Update messages for the local edits made since the last call."""
        out, self._outbox = self._outbox, []
        return out

    def section(self, theme_id: str) -> Text:
        """The text of one theme; ``KeyError`` until the server's sections have arrived."""
        return self.doc.get(THEMES, type=Map)[theme_id]

    def texts(self) -> dict[str, str]:
        """Whole text per theme present in the document."""
        return {key: str(value) for key, value in self.doc.get(THEMES, type=Map).items()}

    def _on_change(self, event: TransactionEvent) -> None:
        # Remote updates also fire this; sending them back would only echo.
        if not self._applying_remote:
            self._outbox.append(sync_update(event.update))
