"""The services one running node owns, built once by the composition root (server/app.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import socketio
from prometheus_client import CollectorRegistry, Counter, Gauge

from server.platform.auth import Tokens
from server.platform.db import Database
from server.platform.media import MediaService
from server.platform.settings import Settings
from server.platform.store import Store


@dataclass
class Metrics:
    """Prometheus metrics of this node, in a registry of its own (no process globals)."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.http_requests = Counter(
            "traffpunkt_http_requests", "HTTP requests", ["method", "status"], registry=r
        )
        self.socket_connections = Gauge(
            "traffpunkt_socket_connections", "Open socket.io connections", registry=r
        )
        self.socket_events = Counter(
            "traffpunkt_socket_events", "Socket events handled", ["event", "outcome"], registry=r
        )
        self.socket_refused = Counter(
            "traffpunkt_socket_refused", "Refused socket connections", ["code"], registry=r
        )


@dataclass
class Platform:
    settings: Settings
    db: Database
    tokens: Tokens
    store: Store
    sio: socketio.AsyncServer
    metrics: Metrics
    media: MediaService
    extras: dict[str, Any] = field(default_factory=dict)
