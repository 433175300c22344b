"""An English reader meets English errors, a Swedish one (the default) Swedish: HTTP JSON and
error pages by `?lang=` or the `lang` cookie, socket acks and refusals by the socket's language
(`?lang=` on the socket URL or the cookie sent with the handshake)."""

from __future__ import annotations

from typing import Any

import pytest
import socketio

from tests.conftest import MODERATOR
from tests.helpers import Browser, Client

MODERATORS_ONLY = {
    "sv": "Endast moderatorer får göra detta.",
    "en": "Only moderators can do this.",
}


async def test_http_json_error_in_the_readers_language(client) -> None:
    swedish = await client.get("/api/events/finns-inte")
    by_query = await client.get("/api/events/finns-inte?lang=en")
    client.set_cookie("localhost", "lang", "en")
    by_cookie = await client.get("/api/events/finns-inte")
    for response in (swedish, by_query, by_cookie):
        assert response.status_code == 404
        assert (await response.get_json())["error"]["code"] == "event.not_found"
    assert (await swedish.get_json())["error"]["message"] == "Evenemanget finns inte."
    assert (await by_query.get_json())["error"]["message"] == "This event does not exist."
    assert (await by_cookie.get_json())["error"]["message"] == "This event does not exist."


async def test_error_page_in_the_readers_language(client) -> None:
    swedish = await client.get("/e/finns-inte/register")
    english = await client.get("/e/finns-inte/register?lang=en")
    assert swedish.status_code == english.status_code == 404
    assert "Evenemanget finns inte." in (await swedish.get_data()).decode()
    assert "This event does not exist." in (await english.get_data()).decode()


async def _connect(url: str, token: str | None, lang: str, how: str) -> Client:
    client = Client()
    auth = {"token": token} if token is not None else None
    if how == "query":
        await client.sio.connect(f"{url}?lang={lang}", auth=auth, transports=["websocket"],
                                 wait_timeout=10)
    else:
        await client.sio.connect(url, auth=auth, headers={"Cookie": f"lang={lang}"},
                                 transports=["websocket"], wait_timeout=10)
    return client


async def _refused(url: str, lang: str) -> Any:
    client = Client()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.sio.connect(f"{url}?lang={lang}", transports=["websocket"], wait_timeout=10)
    return client.refusal


async def test_socket_errors_in_the_sockets_language(demo_server) -> None:
    participant, moderator = Browser(demo_server.url), Browser(demo_server.url)
    await participant.register()
    await moderator.login(*MODERATOR)
    clients = {
        ("sv", "default"): Client(),
        ("en", "query"): await _connect(demo_server.url, await participant.socket_token(),
                                        "en", "query"),
        ("en", "cookie"): await _connect(demo_server.url, await participant.socket_token(),
                                         "en", "cookie"),
    }
    await clients["sv", "default"].connect(demo_server.url, await participant.socket_token())
    mod_en = await _connect(demo_server.url, await moderator.socket_token(), "en", "query")
    try:
        for (lang, _), client in clients.items():
            answer = await client.call("programme.set_current", {"item_id": 1})
            assert answer == {"ok": False, "error": {
                "code": "auth.forbidden", "message": MODERATORS_ONLY[lang],
                "key": "auth.forbidden.moderators_only"}}
            event = await client.wait_for("error")
            assert event["message"] == MODERATORS_ONLY[lang]
        invalid = await mod_en.call("programme.set_current", {"item_id": "ett"})
        assert invalid["error"]["code"] == "payload.invalid"
        assert invalid["error"]["message"] == "Invalid message."
    finally:
        for client in [*clients.values(), mod_en]:
            await client.close()
        await participant.close()
        await moderator.close()


async def test_socket_refusal_in_the_sockets_language(demo_server) -> None:
    swedish, english = await _refused(demo_server.url, "sv"), await _refused(demo_server.url, "en")
    assert swedish["data"]["code"] == english["data"]["code"] == "auth.no_session"
    assert swedish["message"] == "Ingen giltig session: logga in eller anmäl dig."
    assert english["message"] == "No valid session: please log in or register."
