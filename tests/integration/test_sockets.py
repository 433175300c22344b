"""Socket.IO on a real server: who may connect, and errors that never drop a connection."""

from __future__ import annotations

import pytest
import socketio

from tests.helpers import Browser, Client


async def test_connection_without_session_is_refused_with_reason(demo_server) -> None:
    client = Client()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(demo_server.url, None)
    assert client.refusal["data"]["code"] == "auth.no_session"
    assert "logga in" in client.refusal["message"]


async def test_forged_token_is_refused(demo_server) -> None:
    client = Client()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(demo_server.url, "eyJrIjoidSIsImkiOjF9.forged.signature")
    assert client.refusal["data"]["code"] == "auth.invalid_session"


async def test_registered_participant_connects_and_sees_presence(demo_server) -> None:
    browser = Browser(demo_server.url)
    await browser.register(name="Karin Lund")
    client = await browser.connect()
    try:
        count = await client.wait_for("presence.count", lambda d: d["count"] >= 1)
        assert count["count"] == 1
        programme = await client.call("programme.get")
        assert programme["ok"] and len(programme["programme"]["items"]) == 8
    finally:
        await client.close()
        await browser.close()


async def test_participant_cannot_move_programme_and_stays_connected(demo_server) -> None:
    browser = Browser(demo_server.url)
    await browser.register()
    client = await browser.connect()
    try:
        answer = await client.call("programme.set_current", {"item_id": 1})
        assert answer == {"ok": False, "error": {
            "code": "auth.forbidden", "message": "Endast moderatorer får göra detta.",
            "key": "auth.forbidden.moderators_only"}}
        error = await client.wait_for("error")
        assert error["event"] == "programme.set_current"
        assert (await client.call("presence.get"))["ok"], "connection must survive the refusal"
    finally:
        await client.close()
        await browser.close()


@pytest.mark.parametrize("payload", [None, "x" * 20000, {"item_id": "ett"}, [1, 2], {"bad": 1}])
async def test_malformed_payloads_answer_with_error(demo_server, payload) -> None:
    browser = Browser(demo_server.url)
    from tests.conftest import MODERATOR

    await browser.login(*MODERATOR)
    client = await browser.connect()
    try:
        answer = await client.call("programme.set_current", payload)
        assert answer["ok"] is False
        assert answer["error"]["code"].startswith("payload.")
        assert (await client.call("presence.get"))["ok"]
    finally:
        await client.close()
        await browser.close()


async def test_moderator_moves_programme_and_participants_hear_it(demo_server) -> None:
    from tests.conftest import MODERATOR

    mod, part = Browser(demo_server.url), Browser(demo_server.url)
    await mod.login(*MODERATOR)
    await part.register()
    mod_client, part_client = await mod.connect(), await part.connect()
    try:
        listing = await mod_client.wait_for("presence.list", lambda d: d["count"] == 2)
        assert {p["name"] for p in listing["people"]} == {"Moderator", "Åsa Öberg"}
        items = (await mod_client.call("programme.get"))["programme"]["items"]
        answer = await mod_client.call("programme.set_current", {"item_id": items[2]["id"]})
        assert answer["ok"]
        heard = await part_client.wait_for("programme.current")
        assert heard == {"item_id": items[2]["id"]}
        page = await part.page("/e/hosten-2020")
        assert "Trender i planerna 2020 <span class=\"badge\">" in page.text
    finally:
        await mod_client.close()
        await part_client.close()
        await mod.close()
        await part.close()
