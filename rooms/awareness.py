"""Who is where in a notes room (cursors, names): relayed, remembered in memory, never stored."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

from rooms.errors import RoomsError
from rooms.ysync import AwarenessEntry, awareness_message, parse_awareness

_GONE = "null"


@dataclass
class AwarenessBook:
    """Latest awareness state per Yjs client id, and which peer (connection) owns it.

    Remembering states lets a newcomer see everyone at once; remembering owners lets the room
    clear a peer's cursors when its connection drops without a goodbye.
    """

    max_clients_per_peer: int = 4
    _entries: dict[int, AwarenessEntry] = field(default_factory=dict)
    _owners: dict[int, Hashable] = field(default_factory=dict)

    def apply(self, payload: bytes, peer: Hashable) -> None:
        """Record an awareness update from ``peer``; refuse it if it claims too many clients.

        A client id seen from another peer moves to this one: a browser that reconnects keeps
        its Yjs client id but gets a new connection, sometimes before the old one is gone.
        """
        entries = parse_awareness(payload)
        claimed = {e.client_id for e in entries}
        if len(self._owned(peer) | claimed) > self.max_clients_per_peer:
            raise RoomsError("notes.awareness_invalid", "too many awareness clients")
        for entry in entries:
            self._record(entry, peer)

    def join_message(self) -> bytes | None:
        """One awareness message with every present client, for a newcomer."""
        present = [e for e in self._entries.values() if e.state != _GONE]
        return awareness_message(present) if present else None

    def leave_message(self, peer: Hashable) -> bytes | None:
        """Mark the clients of ``peer`` gone; the message tells the others to drop them."""
        gone = [
            AwarenessEntry(cid, self._entries[cid].clock + 1, _GONE)
            for cid, owner in self._owners.items()
            if owner == peer and self._entries[cid].state != _GONE
        ]
        for cid in self._owned(peer):
            del self._owners[cid]
            del self._entries[cid]
        return awareness_message(gone) if gone else None

    def _owned(self, peer: Hashable) -> set[int]:
        return {cid for cid, owner in self._owners.items() if owner == peer}

    def _record(self, entry: AwarenessEntry, peer: Hashable) -> None:
        # Same rule as y-protocols: a newer clock wins, and equal clocks only for a removal.
        known = self._entries.get(entry.client_id)
        if known is None or entry.clock > known.clock or entry.state == _GONE:
            self._entries[entry.client_id] = entry
            self._owners[entry.client_id] = peer
