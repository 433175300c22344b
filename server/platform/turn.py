"""TURN credentials for everyone who needs a relay (issue 21).

coturn's REST scheme (draft-uberti-behave-turn-rest, `use-auth-secret` in coturn): the user
name is `<expiry unix time>:<who>` and the password is base64(HMAC-SHA1(secret, user name)).
coturn checks both with the same secret and refuses the name once its time has passed, so
nothing is stored and a leaked credential stops working by itself. `who` is an opaque id
(`p42`, `u7`, `media-<node>`), never a person's name.

Browsers get them with the page's socket-less endpoint `/api/ice-servers` and in the `Link`
headers of WHIP/WHEP answers (RFC 9725); the media node gets them in its own configuration.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any

from server.platform.auth import Principal
from server.platform.settings import Settings


@dataclass(frozen=True)
class IceServer:
    """One entry of RTCConfiguration.iceServers."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """As a browser's RTCIceServer."""
        found: dict[str, Any] = {"urls": list(self.urls)}
        if self.username is not None:
            found |= {"username": self.username, "credential": self.credential}
        return found

    def links(self) -> list[str]:
        """As RFC 9725 `Link` header values, one per URL."""
        params = ""
        if self.username is not None:
            params = (f'; username="{_quoted(self.username)}"; '
                      f'credential="{_quoted(self.credential or "")}"; '
                      'credential-type="password"')
        return [f'<{url}>; rel="ice-server"{params}' for url in self.urls]


def user_of(principal: Principal) -> str:
    """The `who` of a person's credential: their kind and id (`p42`, `u7`), no name."""
    return f"{principal.kind[0]}{principal.id}"


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _urls(raw: str) -> tuple[str, ...]:
    return tuple(u.strip() for u in raw.split(",") if u.strip())


def credential(secret: str, who: str, ttl: int, now: float | None = None) -> tuple[str, str]:
    """(user name, password) valid for `ttl` seconds from `now`."""
    expiry = int(now if now is not None else time.time()) + ttl
    username = f"{expiry}:{who}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers(settings: Settings, who: str, now: float | None = None) -> list[IceServer]:
    """STUN (ICE_SERVERS) and, when TURN is configured, TURN with a fresh credential for `who`."""
    servers = [IceServer(urls=stun) for stun in (_urls(settings.ice_servers),) if stun]
    turn = _urls(settings.turn_url)
    if turn and settings.turn_secret:
        username, password = credential(settings.turn_secret, who, settings.turn_ttl_seconds,
                                        now)
        servers.append(IceServer(urls=turn, username=username, credential=password))
    return servers
