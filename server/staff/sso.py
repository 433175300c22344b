"""Single sign-on for staff with OpenID Connect (optional: OIDC_ISSUER unset, none).

The authorization code flow with PKCE, a `state` and a `nonce`, through Authlib: the provider's
discovery document and keys are fetched (and kept for an hour), the ID token's signature,
issuer, audience, expiry and nonce are checked, then the user-info endpoint gives the claims.

Who the person is here: the staff member already linked to the provider's subject; else the
one with the same e-mail address, if the provider says the address is verified (made by hand,
or an invitation already taken); else, with a verified address that an admin invited, a new
staff member with the invitation's role, event and regions (the role an admin mapped; the
invitation is spent); else, when OIDC_ROLE_CLAIM is set and the claim names a staff role, a new
staff member. With OIDC_ROLE_CLAIM the claim is the
source of the role at every sign-in; without it the role is the one admins gave.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.jose import JsonWebKey, JsonWebToken
from authlib.jose.errors import JoseError
from authlib.oidc.core import CodeIDToken
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.platform import audit
from server.platform.auth import STAFF_ROLES, Principal, hash_password
from server.platform.errors import DomainError
from server.platform.models import User
from server.platform.node import Key
from server.platform.settings import Settings
from server.staff import service

SCOPES = "openid email profile"
REASONS = ("state", "provider", "issuer", "token", "id_token", "userinfo", "linked", "no_role")
"""Why a sign-in was refused, each with its own message (locales: sso.refused.<reason>)."""
DISCOVERY_TTL = 3600.0
TIMEOUT = 10.0


def refused(reason: str) -> DomainError:
    return DomainError("sso.refused", "Inloggningen misslyckades.", reason=reason)


@dataclass
class Start:
    url: str
    state: str
    nonce: str
    verifier: str


class OpenIdConnect:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._discovery: tuple[float, dict[str, Any], Any] | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.settings.oidc_issuer and self.settings.oidc_client_id)

    @property
    def redirect_uri(self) -> str:
        return f"{self.settings.public_url.rstrip('/')}/login/sso/callback"

    def _client(self) -> AsyncOAuth2Client:
        s = self.settings
        scope = SCOPES + (" " + s.oidc_extra_scopes if s.oidc_extra_scopes else "")
        return AsyncOAuth2Client(
            client_id=s.oidc_client_id, client_secret=s.oidc_client_secret, scope=scope,
            redirect_uri=self.redirect_uri, code_challenge_method="S256", timeout=TIMEOUT)

    async def _metadata(self) -> tuple[dict[str, Any], Any]:
        """The provider's discovery document and key set (fetched again after an hour)."""
        if self._discovery and time.monotonic() - self._discovery[0] < DISCOVERY_TTL:
            return self._discovery[1], self._discovery[2]
        issuer = self.settings.oidc_issuer.rstrip("/")
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            try:
                meta = (await client.get(f"{issuer}/.well-known/openid-configuration")).json()
                keys = JsonWebKey.import_key_set((await client.get(meta["jwks_uri"])).json())
            except Exception as exc:  # the provider is away or answers nonsense
                raise refused("provider") from exc
        if meta.get("issuer", "").rstrip("/") != issuer:
            raise refused("issuer")
        self._discovery = (time.monotonic(), meta, keys)
        return meta, keys

    async def start(self) -> Start:
        meta, _keys = await self._metadata()
        nonce, verifier = generate_token(32), generate_token(64)
        async with self._client() as client:
            url, state = client.create_authorization_url(
                meta["authorization_endpoint"], nonce=nonce, code_verifier=verifier)
        return Start(url, state, nonce, verifier)

    async def finish(self, code: str, nonce: str, verifier: str) -> dict[str, Any]:
        """The person's claims, from a checked ID token and the user-info endpoint."""
        meta, keys = await self._metadata()
        async with self._client() as client:
            try:
                token = await client.fetch_token(meta["token_endpoint"], code=code,
                                                 code_verifier=verifier)
            except Exception as exc:
                raise refused("token") from exc
            id_token = token.get("id_token")
            if not isinstance(id_token, str):
                raise refused("token")
            try:
                claims = JsonWebToken(["RS256", "ES256", "PS256", "EdDSA"]).decode(
                    id_token, keys, claims_cls=CodeIDToken,
                    claims_options={"iss": {"essential": True, "value": meta["issuer"]},
                                    "aud": {"essential": True,
                                            "value": self.settings.oidc_client_id}},
                    claims_params={"nonce": nonce, "client_id": self.settings.oidc_client_id})
                claims.validate(leeway=60)
            except (JoseError, ValueError) as exc:
                raise refused("id_token") from exc
            info: dict[str, Any] = {}
            if meta.get("userinfo_endpoint"):
                try:
                    info = (await client.get(meta["userinfo_endpoint"])).json()
                except Exception as exc:
                    raise refused("userinfo") from exc
        if info and info.get("sub") != claims["sub"]:
            raise refused("userinfo")
        return {**dict(claims), **info, "iss": meta["issuer"]}


async def staff_member(db: AsyncSession, settings: Settings, claims: dict[str, Any]) -> User:
    """The staff member these claims sign in (see the module's docstring), or `sso.refused`."""
    subject = f"{claims['iss']}|{claims['sub']}"[:300]
    email = str(claims.get("email") or "").strip().lower()[:254]
    verified = claims.get("email_verified") is True
    role = None
    if settings.oidc_role_claim:
        value = claims.get(settings.oidc_role_claim)
        role = value if isinstance(value, str) and value in STAFF_ROLES else None
    user = await db.scalar(select(User).where(User.oidc_subject == subject))
    if user is None and email and verified:
        user = await db.scalar(select(User).where(func.lower(User.email) == email))
        if user is not None and user.oidc_subject not in (None, subject):
            raise refused("linked")
    if user is None:
        invited = await service.pending_invitation(db, email) if email and verified else None
        if role is None and invited is None:
            raise refused("no_role")
        username = await _free_username(db, str(claims.get("preferred_username")
                                                or email.split("@")[0] or claims["sub"]))
        unusable = hash_password(generate_token(32))  # signs in only by single sign-on
        if invited is not None and role is None:  # the role an admin mapped by inviting
            user = await service.take_invitation(db, invited, username, unusable)
        else:
            name = str(claims.get("name") or email or claims["sub"])[:120]
            user = User(username=username, display_name=name, role=role,
                        email=email if verified else None, password_hash=unusable)
            db.add(user)
    user.oidc_subject = subject
    if role is not None and user.role != role:
        user.role = role
    await db.flush()
    audit.record(db, Principal("user", user.id, user.display_name, user.role), None,
                 "staff.sso_login", user.username, role=user.role)
    return user


async def _free_username(db: AsyncSession, wanted: str) -> str:
    base = "".join(c for c in wanted.lower() if c.isalnum() or c in "._-")[:60] or "staff"
    name, n = base, 1
    while await db.scalar(select(User.id).where(User.username == name)):
        n += 1
        name = f"{base}{n}"
    return name


SSO = Key("staff.sso", OpenIdConnect)
