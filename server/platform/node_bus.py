"""Request and reply between server nodes over Redis pub/sub: one place for what the
recording feature (which node records the stage) and breakout-room media (which node hosts a
room's media) both need.

A request is ``{"id", "from", "to", "k", "d"}`` on the bus's channel, which only nodes that
``serve`` hear; ``to`` names one node, or is empty for "any serving node" (the first to claim
the id answers). The answer ``{"id", "ok", "r" | "error"}`` goes to the asker's reply channel
``<channel>:reply:<node>``. Nobody listening is the bus's ``no_listener`` refusal; no answer in
time its ``unreachable`` one. A handler's ``DomainError`` travels back as the same error.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from server.platform.errors import DomainError, log_unexpected
from server.platform.pubsub import Subscription, redis_client

Command = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
Refusal = tuple[str, str]
"""An error code and its Swedish message."""

REPLY_TIMEOUT = 8.0


class NodeRequests:
    """One node's end of a request/reply bus (started and stopped with the server)."""

    def __init__(
        self, url: str, node_id: str, *, serves: bool, channel: str,
        no_listener: Refusal, unreachable: Refusal,
    ) -> None:
        self._url = url
        self._redis = redis_client(url, decode=True)
        self._node = node_id
        self._serves = serves
        self._channel = channel
        self._no_listener = no_listener
        self._unreachable = unreachable
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._handlers: set[asyncio.Task[None]] = set()
        self._subscription: Subscription | None = None

    @property
    def node_id(self) -> str:
        return self._node

    def reply_channel(self, node_id: str) -> str:
        return f"{self._channel}:reply:{node_id}"

    async def start(self, command: Command) -> None:
        channels = [self.reply_channel(self._node)] + ([self._channel] if self._serves else [])

        def handle(channel: str, raw: str) -> None:
            self._received(channel, json.loads(raw), command)

        self._subscription = Subscription(
            self._url, channels, handle, name=self._channel, decode=True)
        await self._subscription.start()

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.stop()
        for task in self._handlers:
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._redis.aclose()

    async def request(
        self, to: str | None, kind: str, timeout: float = REPLY_TIMEOUT, **data: Any
    ) -> dict[str, Any]:
        message_id = secrets.token_hex(8)
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[message_id] = answer
        message = {"id": message_id, "from": self._node, "to": to or "", "k": kind, "d": data}
        try:
            if not await self._redis.publish(self._channel, json.dumps(message)):
                raise DomainError(*self._no_listener)
            reply = await asyncio.wait_for(answer, timeout)
        except TimeoutError as exc:
            raise DomainError(*self._unreachable) from exc
        finally:
            self._waiting.pop(message_id, None)
        if not reply.get("ok"):
            error = reply.get("error") or {}
            given = error.get("details")
            details: dict[str, Any] = given if isinstance(given, dict) else {}
            raise DomainError(str(error.get("code", "server.error")), str(error.get("message", "")),
                              key=error.get("key"), **details)
        return reply.get("r") or {}

    def _received(self, channel: str, message: dict[str, Any], command: Command) -> None:
        if channel != self._channel:
            answer = self._waiting.get(str(message.get("id")))
            if answer is not None and not answer.done():
                answer.set_result(message)
            return
        if message.get("from") == self._node or message.get("to") not in ("", self._node):
            return
        task = asyncio.create_task(self._serve(message, command))
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)

    async def _serve(self, message: dict[str, Any], command: Command) -> None:
        claim = f"{self._channel}:claim:{message['id']}"
        if not message["to"] and not await self._redis.set(claim, self._node, nx=True, ex=60):
            return  # another serving node took it
        try:
            reply: dict[str, Any] = {"ok": True, "r": await command(message["k"], message["d"])}
        except DomainError as exc:
            reply = {"ok": False, "error": {"code": exc.code, "message": exc.message,
                                            "key": exc.key, "details": exc.details}}
        except Exception as exc:
            log_unexpected(f"{self._channel} command {message.get('k')}", exc)
            reply = {"ok": False, "error": {"code": "server.error", "message": "Oväntat fel.",
                                            "key": "server.error.remote"}}
        await self._redis.publish(
            self.reply_channel(message["from"]), json.dumps({"id": message["id"], **reply})
        )
