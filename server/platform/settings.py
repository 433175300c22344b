"""All configuration, read from the environment in one place (pydantic-settings)."""

from __future__ import annotations

import itertools
import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streaming.config import Rendition

VAR_DIR = Path("var")


class Settings(BaseSettings):
    """Every setting of the platform. Read once by the composition root and passed down."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    env: Literal["development", "production", "test"] = Field(
        "development", validation_alias="TRAFFPUNKT_ENV"
    )
    database_url: str = ""
    redis_url: str | None = None
    # Log lines: JSON in production, readable text otherwise (server/platform/logs.py).
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["auto", "json", "text"] = "auto"  # auto: JSON in production
    media_root: Path = VAR_DIR / "media"
    secret_key: str = ""
    public_url: str = "http://127.0.0.1:8000"
    default_language: Literal["sv", "en"] = "sv"
    webrtc_viewer_cap: int = 150
    whep_sessions_per_person: int = 3  # a further WHEP session ends the person's oldest
    webrtc_connect_timeout: float = 15.0  # seconds for ICE and DTLS, else the session is closed
    webrtc_retry_seconds: float = 30.0  # a player on HLS tries WebRTC again after this (doubling)
    # New WebRTC viewers get HLS while the media process's event loop runs this late (more than
    # 1 % of its wake-ups in 5 s) or its fan-out falls behind: it is at its limit.
    # 0: only WEBRTC_VIEWER_CAP.
    webrtc_lag_limit_ms: float = 40.0
    # The stage's renditions, best first: WIDTHxHEIGHT@KBIT/S, comma-separated (each encoded
    # once; HLS lists them all, WebRTC viewers move between them by their line).
    stage_renditions: str = "1280x720@2500,640x360@600"
    # Breakout rooms: each person receives the video of this many people who spoke last (plus
    # those they pin); the others' video is not sent to them (last-N).
    room_last_n: int = Field(4, ge=1, le=9)
    # Where browsers reach WHIP/WHEP/HLS: "" is this origin (one process, or nginx routing
    # /whip/ /whep/ /media/hls/ to the media nodes); set it when the media node has its own host.
    media_public_url: str = ""
    # Pages on these origins (comma-separated) may call WHIP/WHEP here across origins; the origin
    # of PUBLIC_URL always may. Set on a media node whose pages come from elsewhere.
    media_cors_origins: str = ""
    # "all": web and media in one process; "web": no media engine (--no-media); "media": only
    # WHIP/WHEP/HLS and health (--media-only).
    node_role: Literal["all", "web", "media"] = "all"
    # A media node (--media-only, with Redis) runs this many processes, one per core by
    # default (0): the origin takes WHIP, encodes and writes HLS; the others serve WebRTC
    # viewers of its stages and host breakout rooms (streaming/workers.py). 1: one process.
    media_processes: int = Field(0, ge=0, le=64)
    # Set by a media node's origin on the processes it starts: where they reach it.
    media_origin: str = ""
    ice_servers: str = ""  # STUN URLs, comma-separated: the media node's and every browser's
    # TURN (server/platform/turn.py): URLs, comma-separated, e.g. "turn:turn.example.se:3478,
    # turn:turn.example.se:3478?transport=tcp,turns:turn.example.se:443?transport=tcp"; the
    # secret coturn has as --static-auth-secret; how long a credential lasts (a working day: a
    # relay is refreshed with the credential it was opened with). MEDIA_USES_TURN: the media
    # node relays through it too (when it sits behind NAT).
    turn_url: str = ""
    turn_secret: str = ""
    turn_ttl_seconds: int = 12 * 3600
    media_uses_turn: bool = False
    qa_ask_per_minute: int = 5
    qa_vote_per_minute: int = 60
    # Behind a reverse proxy, the header that carries the client's address (nginx:
    # X-Forwarded-For, the address it saw being the last one). Unset: the TCP peer is the client,
    # and a header someone sends is never believed.
    trusted_proxy_header: str = ""
    # /metrics answers staff, or a scraper sending `Authorization: Bearer <METRICS_TOKEN>`.
    metrics_token: str = ""
    # Log the main thread's stack when the event loop has been held this long (0: off). The
    # loop's lag is always measured (traffpunkt_event_loop_lag_seconds on /metrics).
    stall_log_ms: int = 0
    # On SIGTERM: seconds open connections get to finish before the node stops its services.
    shutdown_grace_seconds: float = 3.0
    staff_idle_minutes: int = 120  # a staff session ends after this long without a request
    staff_session_hours: int = 12  # and after this long in all (a working day)
    participant_session_days: int = 31  # a participant's, opened from the join link
    login_per_account: int = 10  # failed logins per account in LOGIN_WINDOW
    login_per_address: int = 30  # failed logins per client address in LOGIN_WINDOW
    register_per_address: int = 30  # registrations per client address and event per hour
    reports_per_address: int = 5  # accessibility reports per client address per hour
    # E-mail (server/mail): the SMTP server the outbox sends through. Unset (the embedded
    # default): nothing is sent, admins read the outbox in the browser (/admin/mail).
    # SMTP_SECURITY: "starttls" (port 587), "tls" (465) or "none" (a relay on the same host).
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str = ""
    smtp_password: str = ""
    mail_from: str = "Träffpunkt biblioteksplaner <traffpunkt@kb.se>"
    # A reminder this long before the start (0: none); sent mail (it carries join links) is
    # kept this long.
    mail_reminder_hours: int = Field(24, ge=0, le=24 * 14)
    mail_keep_days: int = Field(30, ge=1, le=3650)
    # Single sign-on for staff with OpenID Connect (server/staff/sso.py): the provider's issuer
    # URL and this client's id and secret (its redirect URI: PUBLIC_URL/login/sso/callback);
    # the claim that names a staff role ("": roles as admins give them); scopes to ask besides
    # "openid email profile"; the login button's name of the provider.
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_role_claim: str = ""
    oidc_extra_scopes: str = ""
    oidc_label: str = "KB-konto"
    node_id: str = Field(default_factory=lambda: secrets.token_hex(4))
    demo_event_file: Path = Path(__file__).parents[1] / "data" / "demo_event.json"

    @field_validator("stage_renditions")
    @classmethod
    def _ladder(cls, value: str) -> str:
        parse_ladder(value)
        return value

    @property
    def stage_ladder(self) -> tuple[Rendition, ...]:
        return parse_ladder(self.stage_renditions)

    @model_validator(mode="after")
    def _defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{(VAR_DIR / 'traffpunkt.db').as_posix()}"
        if not self.secret_key:
            if self.env == "production":
                raise ValueError("SECRET_KEY must be set when TRAFFPUNKT_ENV=production")
            self.secret_key = _development_secret()
        if self.redis_url == "":
            self.redis_url = None
        return self

    @property
    def media_process_count(self) -> int:
        """How many processes this media node runs (1 unless it is a media-only node with
        Redis, which its processes need to share rooms; a forwarding process starts none)."""
        if self.node_role != "media" or not self.redis_url or self.media_origin:
            return 1
        return self.media_processes or os.cpu_count() or 1

    @property
    def production(self) -> bool:
        return self.env == "production"


def _development_secret() -> str:
    """A random key kept under ./var so sessions survive a restart in development."""
    path = VAR_DIR / "secret_key"
    if path.exists():
        return path.read_text().strip()
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


def parse_ladder(text: str) -> tuple[Rendition, ...]:
    """``1280x720@2500,640x360@600`` as renditions; ValueError names what is wrong. One to four
    renditions, best first, each 64-3840 px wide, 64-2160 px high, 100-20000 kbit/s."""
    ladder = []
    for part in text.split(","):
        size, _, rate = part.strip().partition("@")
        width, _, height = size.partition("x")
        if not (width.isdigit() and height.isdigit() and rate.isdigit()):
            raise ValueError(f"STAGE_RENDITIONS: {part.strip()!r} is not WIDTHxHEIGHT@KBIT/S")
        w, h, kbit = int(width), int(height), int(rate)
        if not (64 <= w <= 3840 and 64 <= h <= 2160 and 100 <= kbit <= 20_000):
            raise ValueError(f"STAGE_RENDITIONS: {part.strip()!r} is out of range")
        ladder.append(Rendition(w, h, kbit * 1000))
    if not 1 <= len(ladder) <= 4:
        raise ValueError("STAGE_RENDITIONS: one to four renditions")
    if any(a.height <= b.height or a.bitrate <= b.bitrate
           for a, b in itertools.pairwise(ladder)):
        raise ValueError("STAGE_RENDITIONS: best first, each smaller and leaner than the last")
    return tuple(ladder)
