"""Broadcasting to a room without a task per recipient.

python-socketio's `AsyncManager.emit` encodes a broadcast once, then creates one asyncio task per
recipient to hand it to that recipient's engine.io queue, and waits for all of them. Handing over
is a non-blocking `queue.put`, so for a room of a thousand the tasks cost more than the work:
creating, scheduling and collecting them was ~10 % of the node's CPU per broadcast under
bench/qa_fanout.py (py-spy), and the emit returned only when the last task had run.

`DirectFanout.emit` puts the packet on each open socket's engine.io queue in one loop instead
(what `AsyncSocket.send` does once its checks pass; the queue is unbounded, so the put never
waits). The rare socket whose client has stopped answering pings would be closed inside `send`
(running the disconnect handler); such a socket gets its own task with engine.io's own `send`,
as before, so one slow disconnect never holds a broadcast. Emits with a callback (an ack per
recipient) take python-socketio's own path.

Measured with bench/qa_fanout.py (1,000 clients): bench/history.jsonl.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import socketio
from engineio import packet as eio_packet
from socketio import packet


class DirectFanout(socketio.AsyncManager):  # type: ignore[misc]  # untyped library
    """Mixed into the manager in use: the local delivery of every emit without a callback."""

    _pending: set[asyncio.Task[Any]]

    async def emit(self, event: str, data: Any, namespace: str, room: Any = None,
                   skip_sid: Any = None, callback: Any = None, to: Any = None,
                   **kwargs: Any) -> None:
        if callback is not None:  # one packet per recipient with its own ack id
            await super().emit(event, data, namespace, room=room, skip_sid=skip_sid,
                               callback=callback, to=to, **kwargs)
            return
        room = to or room
        if namespace not in self.rooms:
            return
        args = list(data) if isinstance(data, tuple) else [] if data is None else [data]
        skip = skip_sid if isinstance(skip_sid, list) else [skip_sid]
        encoded = self.server.packet_class(packet.EVENT, namespace=namespace,
                                           data=[event, *args]).encode()
        frames = [eio_packet.Packet(eio_packet.MESSAGE, p)
                  for p in (encoded if isinstance(encoded, list) else [encoded])]
        eio = self.server.eio
        timeout = eio.ping_timeout
        now = time.time()
        for sid, eio_sid in list(self.get_participants(namespace, room)):
            if sid in skip:
                continue
            sock = eio.sockets.get(eio_sid)
            if sock is None or sock.closed:
                continue
            if sock.last_ping and now - sock.last_ping > timeout:
                self._in_background(eio, eio_sid, frames)  # send() would close it, inline
                continue
            for frame in frames:  # AsyncSocket.send's own work once its checks (above) pass
                sock.queue.put_nowait(frame)

    def _in_background(self, eio: Any, eio_sid: str, frames: list[eio_packet.Packet]) -> None:
        pending = self.__dict__.setdefault("_pending", set())
        for frame in frames:
            task = asyncio.create_task(eio.send_packet(eio_sid, frame))
            pending.add(task)
            task.add_done_callback(pending.discard)


class LocalManager(DirectFanout):
    """One node: rooms in memory."""


class RedisManager(socketio.AsyncRedisManager, DirectFanout):  # type: ignore[misc]
    """Several nodes: emits go through Redis, and each node delivers its own share directly."""
