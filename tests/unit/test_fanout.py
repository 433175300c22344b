"""Broadcasts without a task per recipient (server/platform/fanout.py), on a real socket.io
server and clients: everyone gets it, the skipped one does not, and a recipient whose client
stopped answering pings is closed beside the broadcast, never holding it up."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import socketio
from hypercorn.asyncio import serve
from hypercorn.config import Config

from server.platform.fanout import LocalManager, RedisManager
from tests.conftest import free_port


class Node:
    def __init__(self, manager: Any) -> None:
        self.sio = socketio.AsyncServer(async_mode="asgi", client_manager=manager)
        self.release = asyncio.Event()  # a slow disconnect handler waits for this
        self.disconnected: list[str] = []

        @self.sio.event
        async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
            await self.sio.enter_room(sid, "alla")

        @self.sio.event
        async def disconnect(sid: str, reason: Any = None) -> None:
            await self.release.wait()
            self.disconnected.append(sid)


@pytest.fixture(params=["memory", "redis"])
async def node(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Node, str]]:
    redis_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    manager = LocalManager() if request.param == "memory" else RedisManager(
        redis_url, channel=f"fanout-test-{time.time_ns()}")
    node = Node(manager)
    port = free_port()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    stop = asyncio.Event()
    server = asyncio.create_task(serve(socketio.ASGIApp(node.sio), config,  # type: ignore[arg-type]
                                       shutdown_trigger=stop.wait))
    try:
        for _ in range(100):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.05)
        yield node, f"http://127.0.0.1:{port}"
    finally:
        node.release.set()
        stop.set()
        await asyncio.wait_for(server, 10)


async def listener(url: str, inbox: asyncio.Queue[tuple[int, Any]], n: int) -> socketio.AsyncClient:
    client = socketio.AsyncClient(reconnection=False)

    @client.on("nytt")
    async def nytt(data: Any) -> None:
        await inbox.put((n, data))

    await client.connect(url, transports=["websocket"])
    return client


async def test_a_broadcast_reaches_everyone_but_the_skipped(node: tuple[Node, str]) -> None:
    server, url = node
    inbox: asyncio.Queue[tuple[int, Any]] = asyncio.Queue()
    clients = [await listener(url, inbox, n) for n in range(3)]
    try:
        await server.sio.emit("nytt", {"fråga": "Hur når planen ut?"}, to="alla",
                              skip_sid=clients[0].get_sid())
        got = sorted([await asyncio.wait_for(inbox.get(), 10) for _ in range(2)])
        assert got == [(1, {"fråga": "Hur når planen ut?"}), (2, {"fråga": "Hur når planen ut?"})]
        await server.sio.emit("nytt", [1, 2], to="alla")  # a list is one argument
        assert sorted([(await asyncio.wait_for(inbox.get(), 10))[0] for _ in range(3)]) == [0, 1, 2]
        assert inbox.empty()
    finally:
        for c in clients:
            await c.disconnect()


async def test_a_client_gone_silent_never_holds_a_broadcast(node: tuple[Node, str]) -> None:
    server, url = node
    inbox: asyncio.Queue[tuple[int, Any]] = asyncio.Queue()
    clients = [await listener(url, inbox, n) for n in range(3)]
    try:
        silent = server.sio.manager.eio_sid_from_sid(clients[1].get_sid(), "/")
        # As if its last ping went unanswered a minute ago: sending to it closes it, and its
        # disconnect handler (held here until the others have the message) runs.
        server.sio.eio.sockets[silent].last_ping = time.time() - 60
        await asyncio.wait_for(server.sio.emit("nytt", "hej", to="alla"), 10)
        got = sorted([(await asyncio.wait_for(inbox.get(), 10))[0] for _ in range(2)])
        assert got == [0, 2]
        assert server.disconnected == [], "its disconnect is still waiting, beside the broadcast"
        server.release.set()
        for _ in range(200):
            if server.disconnected:
                break
            await asyncio.sleep(0.01)
        assert server.disconnected == [clients[1].get_sid()]
    finally:
        server.release.set()
        for c in clients:
            await c.disconnect()
