"""Who is asking: participants (signed session, no password) and staff (argon2 passwords)."""

from __future__ import annotations

import asyncio
import hmac
import secrets
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from itsdangerous import BadSignature, URLSafeTimedSerializer

from server.platform.errors import DomainError, Forbidden

# speaker: answers questions in writing on the live page (server/qa.py: may_answer)
# captioner: a speech-to-text interpreter who types the stage's live captions (server/captions.py)
STAFF_ROLES = ("admin", "moderator", "archivist", "facilitator", "speaker", "captioner")
NO_ROLE = "staff"
"""`User.role` of staff who have roles only at the events named in their StaffRole rows."""
MODERATING = frozenset({"admin", "moderator"})
SOCKET_TOKEN_AGE = 24 * 3600

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerifyMismatchError, InvalidHashError):
        return False


@cache
def _stand_in_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


async def check_password(stored: str | None, password: str) -> bool:
    """`verify_password` off the event loop (argon2 takes ~100 ms of a core); an unknown user
    (`stored` None) costs the same work, so the time of an answer does not tell whether a
    user name exists."""
    ok = await asyncio.to_thread(verify_password, stored or _stand_in_hash(), password)
    return ok and stored is not None


@dataclass(frozen=True)
class Principal:
    """The caller of an action, as the server knows it (never as the client claims)."""

    kind: Literal["participant", "user"]
    id: int
    name: str
    role: str = "participant"
    """A participant's "participant"; staff's role at the event the request or socket is about
    (their StaffRole there, else their global role: platform/web.py staff_principal)."""
    event_id: int | None = None
    region_code: str | None = None
    at_event: int | None = None
    """Staff: the event `role` and `regions` were decided for (None: no event's)."""
    regions: tuple[str, ...] = ()
    """The regions a facilitator leads at that event."""
    event_roles: tuple[tuple[int, str], ...] = ()
    """Staff's roles per event (event id, role), for pages that list several events."""
    global_role: str = ""
    """Staff's role at events without a StaffRole row (NO_ROLE: none)."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Principal:
        """Back from `dataclasses.asdict` sent between nodes as JSON (lists become tuples)."""
        return cls(**{
            **data,
            "regions": tuple(data.get("regions") or ()),
            "event_roles": tuple((int(e), str(r)) for e, r in data.get("event_roles") or ()),
        })

    def leads_region(self, event_id: int, region_code: str) -> bool:
        """A staff facilitator an admin gave this region at this event (StaffRole)."""
        return (self.kind == "user" and self.role == "facilitator"
                and self.at_event == event_id and region_code in self.regions)

    def events_as(self, *roles: str) -> frozenset[int] | None:
        """The events where staff hold one of `roles` (None: every event, by their global
        role or as admin)."""
        if self.kind != "user":
            return frozenset()
        if self.global_role == "admin" or self.global_role in roles:
            return None
        return frozenset(e for e, r in self.event_roles if r in roles)

    @property
    def is_moderator(self) -> bool:
        return self.kind == "user" and self.role in MODERATING

    @property
    def is_staff(self) -> bool:
        return self.kind == "user"

    def require_moderator(self) -> None:
        if not self.is_moderator:
            raise Forbidden(
                "Endast moderatorer får göra detta.", key="auth.forbidden.moderators_only"
            )

    def require_role(self, *roles: str) -> None:
        if not (self.kind == "user" and (self.role in roles or self.role == "admin")):
            raise Forbidden()

    def to_token(self) -> dict[str, Any]:
        return {"k": self.kind[0], "i": self.id, "e": self.event_id}


class Tokens:
    """Signed, timed tokens: the socket handshake token and the personal join link."""

    def __init__(self, secret: str) -> None:
        self._socket = URLSafeTimedSerializer(secret, salt="traffpunkt.socket")
        self._secret = secret.encode()

    def socket_token(self, principal: Principal, event_id: int, session: str | None = None) -> str:
        """`session`: the web session it was asked under; the handshake checks it still lives."""
        data: dict[str, Any] = {"k": principal.kind[0], "i": principal.id, "e": event_id}
        if session:
            data["s"] = session
        return self._socket.dumps(data)

    def read_socket_token(self, token: object) -> dict[str, Any]:
        if not isinstance(token, str) or len(token) > 1024:
            raise DomainError("auth.no_session", "Ingen giltig session: logga in eller anmäl dig.")
        try:
            data = self._socket.loads(token, max_age=SOCKET_TOKEN_AGE)
        except BadSignature as exc:
            raise DomainError(
                "auth.invalid_session", "Sessionen är ogiltig eller för gammal.",
                key="auth.invalid_session.expired",
            ) from exc
        if not isinstance(data, dict) or data.get("k") not in ("p", "u"):
            raise DomainError("auth.invalid_session", "Sessionen är ogiltig.")
        return data


def new_join_key() -> str:
    return secrets.token_urlsafe(24)


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_ok(expected: object, given: object) -> bool:
    return (
        isinstance(expected, str)
        and isinstance(given, str)
        and bool(expected)
        and hmac.compare_digest(expected, given)
    )
