"""Test helpers that talk to a live server the way a browser does."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import socketio

from .conftest import VALID_REGISTRATION, csrf_from


class Browser:
    """An HTTP client with cookies and the page's CSRF token, like one browser profile."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.AsyncClient(base_url=base_url, follow_redirects=True, timeout=20)
        self.csrf = ""

    async def page(self, path: str) -> httpx.Response:
        response = await self.http.get(path)
        if 'name="csrf-token"' in response.text:
            self.csrf = csrf_from(response.text)
        return response

    async def post(self, path: str, data: dict[str, Any]) -> httpx.Response:
        if not self.csrf:
            await self.page("/")
        response = await self.http.post(path, data={**data, "csrf_token": self.csrf})
        if 'name="csrf-token"' in response.text:
            self.csrf = csrf_from(response.text)
        return response

    async def register(self, slug: str = "hosten-2020", **fields: Any) -> httpx.Response:
        await self.page(f"/e/{slug}/register")
        return await self.post(f"/e/{slug}/register", {**VALID_REGISTRATION, **fields})

    async def login(self, username: str, password: str) -> httpx.Response:
        await self.page("/login")
        return await self.post("/login", {"username": username, "password": password})

    async def socket_token(self, slug: str = "hosten-2020") -> str:
        if not self.csrf:
            await self.page("/")
        r = await self.http.post(
            f"/api/events/{slug}/socket-token", headers={"X-CSRF-Token": self.csrf}
        )
        r.raise_for_status()
        return str(r.json()["token"])

    async def connect(self, slug: str = "hosten-2020") -> Client:
        client = Client()
        await client.connect(self.base_url, await self.socket_token(slug))
        return client

    async def close(self) -> None:
        await self.http.aclose()


class Client:
    """A real socket.io client that records every event it receives."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self.refusal: Any = None
        self.sio.on("*", self._record)
        self.sio.on("connect_error", self._refused)

    async def _refused(self, data: Any = None) -> None:
        self.refusal = data

    async def _record(self, name: str, data: Any = None) -> None:
        self.events.append((name, data))

    async def connect(self, url: str, token: str | None) -> None:
        auth = {"token": token} if token is not None else None
        await self.sio.connect(url, auth=auth, transports=["websocket"], wait_timeout=10)

    async def call(self, name: str, data: Any = None) -> dict[str, Any]:
        return await self.sio.call(name, data, timeout=10)  # type: ignore[no-any-return]

    async def wait_for(self, name: str, predicate: Any = None, timeout: float = 10) -> Any:
        """The first received `name` event whose data satisfies `predicate`."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            for event, data in self.events:
                if event == name and (predicate is None or predicate(data)):
                    return data
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {name} event matched; got {[e for e, _ in self.events]}")

    async def close(self) -> None:
        await self.sio.disconnect()


def join_link(html: str) -> str:
    match = re.search(r'id="join-link"[^>]*value="([^"]+)"', html)
    assert match, "registration page shows no personal link"
    return match.group(1)
