"""Just enough engine.io v4 / socket.io v5 over one aiohttp websocket, for the benchmarks.

Why not python-socketio's AsyncClient: its engine.io client starts a task for every message it
receives, so a few hundred clients in one process receiving thousands of messages a second
measure the client, not the server (bench/notes.py saw deliveries queue for seconds in the
clients while the server idled at three quarters of a core). This client handles each frame
inline: one JSON parse, one awaited handler. It speaks the default namespace only, text
frames only (the platform sends no binary attachments), and answers the server's pings.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

Handler = Callable[[str, Any], Awaitable[None]]
log = logging.getLogger(__name__)


class RawSocket:
    """One socket.io connection; `on_event(name, data)` is awaited for every server event."""

    def __init__(self, http: aiohttp.ClientSession, url: str, on_event: Handler) -> None:
        self.http, self.url, self.on_event = http, url, on_event
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._acks: dict[int, asyncio.Future[Any]] = {}
        self._next_id = 0
        self._task: asyncio.Task[None] | None = None
        self.errors = 0
        """Events whose handler raised (logged, and the loop went on)."""

    async def connect(self, auth: dict[str, Any] | None) -> bool:
        """Open the websocket and the default namespace; False when the server refuses."""
        ws = await self.http.ws_connect(
            f"{self.url}/socket.io/?EIO=4&transport=websocket", max_msg_size=0)
        self.ws = ws
        opened = await ws.receive_str()
        if not opened.startswith("0"):
            raise RuntimeError(f"not an engine.io open packet: {opened[:80]}")
        await ws.send_str("40" + (json.dumps(auth) if auth else ""))
        while True:
            answer = await ws.receive_str()
            if answer == "2":
                await ws.send_str("3")
                continue
            break
        if not answer.startswith("40"):
            return False
        self._task = asyncio.create_task(self._loop())
        return True

    async def emit(self, event: str, data: Any) -> None:
        assert self.ws is not None
        await self.ws.send_str("42" + json.dumps([event, data], separators=(",", ":")))

    async def call(self, event: str, data: Any, timeout: float = 60) -> Any:
        """Emit with an acknowledgement and wait for the server's answer."""
        assert self.ws is not None
        self._next_id += 1
        ack_id = self._next_id
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._acks[ack_id] = future
        await self.ws.send_str(
            f"42{ack_id}" + json.dumps([event, data], separators=(",", ":")))
        return await asyncio.wait_for(future, timeout)

    async def _loop(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            data: str = msg.data
            if data.startswith("42"):
                try:
                    event, payload = json.loads(data[2:])
                    await self.on_event(event, payload)
                except Exception:  # one bad message or handler bug must not end the connection
                    self.errors += 1
                    log.exception("socket.io event handler failed on %.80s", data)
            elif data == "2":
                await self.ws.send_str("3")
            elif data.startswith("43"):
                digits = len(data) - len(data[2:].lstrip("0123456789"))
                future = self._acks.pop(int(data[2:digits]), None)
                if future is not None and not future.done():
                    answer = json.loads(data[digits:])
                    future.set_result(answer[0] if answer else None)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._task is not None:
            self._task.cancel()
