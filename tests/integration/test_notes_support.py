"""Shared by the notes tests: rooms made in the database, and a notes editor over socket.io.

(No tests here; the name keeps it with the notes tests.)
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from rooms.notes import EMPTY_UPDATE
from rooms.notes_client import NotesClient
from rooms.ysync import SyncMessage, SyncType, parse_message
from server.breakout.models import BreakoutAssignment, BreakoutRoom, BreakoutRound
from server.platform.db import Database
from server.platform.models import Event, Registration
from tests.helpers import Browser, Client

SLUG = "hosten-2020"


@dataclass
class Rooms:
    event_id: int
    ids: dict[str, int]


async def make_rooms(url: str, plan: dict[str, dict[str, Any]]) -> Rooms:
    """An open round with rooms, by key: ``{"name", "regions", "members": [reg ids],
    "facilitator": reg id | None}``, written straight through the models."""
    db = Database(url)
    try:
        async with db.transaction() as s:
            event = await s.scalar(select(Event).where(Event.slug == SLUG))
            assert event is not None
            round_ = BreakoutRound(event_id=event.id, status="open")
            s.add(round_)
            await s.flush()
            ids = {}
            for n, (key, room) in enumerate(plan.items()):
                row = BreakoutRoom(round_id=round_.id, event_id=event.id, key=key,
                                   name=room["name"], regions=room.get("regions", []),
                                   facilitator_id=room.get("facilitator"), position=n)
                s.add(row)
                await s.flush()
                ids[key] = row.id
                for member in room.get("members", []):
                    s.add(BreakoutAssignment(round_id=round_.id, registration_id=member,
                                             room_id=row.id))
            return Rooms(event.id, ids)
    finally:
        await db.close()


async def registration_id(url: str, name: str) -> int:
    db = Database(url)
    try:
        async with db.session() as s:
            found = await s.scalar(select(Registration.id).where(Registration.name == name))
            assert found is not None
            return int(found)
    finally:
        await db.close()


async def participant(base_url: str, name: str, region: str) -> Browser:
    browser = Browser(base_url)
    await browser.register(name=name, region=region)
    return browser


def batch_of(payload: dict[str, Any]) -> list[str]:
    """The messages of one server `notes.sync`: one, or a room's batch (docs/protocol/notes.md)."""
    data = payload["data"]
    return data if isinstance(data, list) else [data]


class NotesPeer:
    """A notes editor over a real socket.io connection: ``NotesClient`` (pycrdt, like the
    browser, never creating sections) answering the server's ``notes.sync`` messages."""

    def __init__(self, client: Client, room_id: int) -> None:
        self.client = client
        self.room_id = room_id
        self.notes = NotesClient()
        self.join_ack: dict[str, Any] = {}
        self.stored_sent = 0
        """Updates this peer sent that the server must store (non-empty step 2 or update)."""
        self.batches = 0
        """Server `notes.sync` events that carried a batch (a list) rather than one message."""
        client.sio.on("notes.sync", self._on_sync)

    @classmethod
    async def open(cls, browser: Browser, room_id: int) -> NotesPeer:
        peer = cls(await browser.connect(SLUG), room_id)
        peer.join_ack = await peer.client.call("notes.join", {"room_id": room_id})
        if peer.join_ack["ok"]:
            await peer.sync(peer.notes.hello())
            await peer.wait(lambda: bool(peer.notes.texts()))
        return peer

    async def _on_sync(self, data: dict[str, Any]) -> None:
        if data["room_id"] != self.room_id:
            return
        self.batches += isinstance(data["data"], list)
        for wire in batch_of(data):
            for reply in self.notes.receive(base64.b64decode(wire)):
                self._count(reply)
                answer = {"room_id": self.room_id, "data": b64(reply)}
                await self.client.sio.emit("notes.sync", answer)

    def _count(self, message: bytes) -> None:
        parsed = parse_message(message)
        if isinstance(parsed, SyncMessage) and parsed.kind is not SyncType.STEP1 \
                and parsed.payload != EMPTY_UPDATE:
            self.stored_sent += 1

    async def sync(self, message: bytes) -> dict[str, Any]:
        """Send one y-protocols message; the server's acknowledgement."""
        return await self.client.call("notes.sync", {"room_id": self.room_id, "data": b64(message)})

    async def type(self, theme: str, text: str, at_start: bool = False) -> None:
        section = self.notes.section(theme)
        if at_start:
            section.insert(0, text)
        else:
            section += text
        await self.flush()

    async def flush(self) -> None:
        for message in self.notes.take_outbox():
            self._count(message)
            ack = await self.sync(message)
            assert ack["ok"], ack

    def texts(self) -> dict[str, str]:
        return self.notes.texts()

    async def wait(self, predicate: Any, timeout: float = 10) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"notes did not converge: {self.texts()}")
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        await self.client.close()


async def export_json(browser: Browser, **query: Any) -> dict[str, Any]:
    response = await browser.http.get(f"/e/{SLUG}/notes/export", params={**query, "format": "json"})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def b64(message: bytes) -> str:
    """The wire form of a y-protocols message (server/notes/sockets.py)."""
    return base64.b64encode(message).decode("ascii")
