"""Settings from the environment, errors with stable codes, signed tokens, rate limits."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from server.platform.auth import Principal, Tokens, csrf_ok, hash_password, verify_password
from server.platform.errors import DomainError
from server.platform.settings import Settings
from server.platform.store import MemoryStore


def test_production_refuses_to_start_without_a_secret(monkeypatch) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("TRAFFPUNKT_ENV", "production")
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings()


def test_development_defaults_are_embedded(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "TRAFFPUNKT_ENV", "MEDIA_ROOT"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.database_url == "sqlite+aiosqlite:///var/traffpunkt.db"
    assert settings.redis_url is None
    assert str(settings.media_root) == "var/media"
    assert (tmp_path / "var" / "secret_key").read_text() == settings.secret_key
    assert Settings().secret_key == settings.secret_key, "kept across restarts"


def test_environment_overrides(monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://u@h/db")
    monkeypatch.setenv("REDIS_URL", "redis://h:6379/0")
    monkeypatch.setenv("SECRET_KEY", "s")
    monkeypatch.setenv("PUBLIC_URL", "https://traffpunkt.kb.se")
    s = Settings()
    assert (s.database_url, s.redis_url, s.public_url) == (
        "postgresql+asyncpg://u@h/db", "redis://h:6379/0", "https://traffpunkt.kb.se")


@pytest.mark.parametrize(("code", "status"), [
    ("auth.forbidden", 403), ("auth.no_session", 401), ("qa.rate_limited", 429),
    ("payload.invalid", 422), ("registration.not_found", 404), ("feedback.locked", 409),
    ("something.else", 400),
])
def test_error_codes_map_to_http_statuses(code: str, status: int) -> None:
    assert DomainError(code, "m").status == status


def test_socket_tokens_are_signed_and_bound() -> None:
    tokens = Tokens("secret")
    p = Principal("participant", 7, "Åsa", event_id=3)
    data = tokens.read_socket_token(tokens.socket_token(p, 3))
    assert data == {"k": "p", "i": 7, "e": 3}
    with pytest.raises(DomainError, match="ogiltig"):
        Tokens("other-secret").read_socket_token(tokens.socket_token(p, 3))
    with pytest.raises(DomainError) as info:
        tokens.read_socket_token({"k": "u"})
    assert info.value.code == "auth.no_session"


def test_passwords_and_csrf() -> None:
    stored = hash_password("ett långt lösenord")
    assert stored.startswith("$argon2")
    assert verify_password(stored, "ett långt lösenord")
    assert not verify_password(stored, "fel")
    assert not verify_password("not-a-hash", "x")
    assert csrf_ok("abc", "abc") and not csrf_ok("abc", "abd") and not csrf_ok("", "")
    assert not csrf_ok(None, None)


async def test_rate_limit_counts_per_person() -> None:
    store = MemoryStore()
    results = [await store.rates.hit("qa.ask", "p:1", 3, 60) for _ in range(5)]
    assert results == [True, True, True, False, False]
    assert await store.rates.hit("qa.ask", "p:2", 3, 60), "another person has their own budget"


def test_the_rendition_ladder_is_read_and_checked() -> None:
    from streaming.config import Rendition

    assert Settings().stage_ladder == (Rendition(1280, 720, 2_500_000),
                                       Rendition(640, 360, 600_000))
    assert Settings(stage_renditions="1920x1080@4500, 1280x720@2500 ,480x270@300").stage_ladder[
        2] == Rendition(480, 270, 300_000)
    for wrong in ("1280x720", "720p@2500", "1280x720@2500,1280x720@600", "10x10@100",
                  "1280x720@2500,640x360@3000", "", "1x1@1," * 5):
        with pytest.raises(ValueError, match="STAGE_RENDITIONS"):
            Settings(stage_renditions=wrong)
