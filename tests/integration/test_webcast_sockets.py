"""`stage.*` socket events against a live server: the token for OBS, and `webcast.state` as OBS
goes live and off, heard by a participant."""

from __future__ import annotations

import pytest

from streaming.peers import SyntheticPublisher
from tests.conftest import MODERATOR
from tests.helpers import Browser

pytestmark = pytest.mark.integration

SDP = {"Content-Type": "application/sdp"}


async def test_moderator_rotates_token_and_participants_hear_the_stage_go_live(demo_server) -> None:
    moderator, participant = Browser(demo_server.url), Browser(demo_server.url)
    await moderator.login(*MODERATOR)
    await participant.register()
    mod, viewer = await moderator.connect(), await participant.connect()

    before = await mod.call("webcast.get")
    assert before["ok"] and before["live"] is False and before["token"]["has_token"] is False
    assert before["urls"]["whip"].endswith("/whip/hosten-2020")
    refused = await viewer.call("webcast.rotate_token", {})
    assert refused["error"]["code"] == "auth.forbidden"
    assert "token" not in await viewer.call("webcast.get")
    rotated = await mod.call("webcast.rotate_token", {})
    assert rotated["ok"] and len(rotated["token"]) >= 40
    heard = await mod.wait_for("webcast.token_rotated")
    assert "token" not in heard and heard["rotated_by"] == "Moderator"

    obs = SyntheticPublisher()
    headers = {**SDP, "Authorization": f"Bearer {rotated['token']}"}
    location = ""

    async def exchange(offer: str) -> str:
        nonlocal location
        response = await participant.http.post("/whip/hosten-2020", content=offer, headers=headers)
        assert response.status_code == 201, response.text
        location = response.headers["Location"]
        return response.text

    await obs.connect(exchange)
    assert (await viewer.wait_for("webcast.state", lambda s: s["live"]))["viewer_count"] == 0
    bearer = {"Authorization": headers["Authorization"]}
    gone = await participant.http.delete(location, headers=bearer)
    assert gone.status_code == 200
    await viewer.wait_for("webcast.state", lambda s: s["live"] is False)
    await obs.close()
    for client in (mod, viewer):
        await client.close()
    for browser in (moderator, participant):
        await browser.close()


async def test_the_producer_page_session_needs_its_csrf_token(demo_server) -> None:
    moderator = Browser(demo_server.url)
    await moderator.login(*MODERATOR)
    await moderator.page("/e/hosten-2020/produce")
    offer = SyntheticPublisher()
    await offer.pc.setLocalDescription(await offer.pc.createOffer())
    sdp = offer.pc.localDescription.sdp
    forged = await moderator.http.post("/whip/hosten-2020", content=sdp, headers=SDP)
    assert forged.status_code == 403
    assert forged.json()["error"]["code"] == "csrf.invalid"
    page = await moderator.http.post(
        "/whip/hosten-2020", content=sdp, headers={**SDP, "X-CSRF-Token": moderator.csrf})
    assert page.status_code == 201
    await moderator.http.delete(page.headers["Location"], headers={"X-CSRF-Token": moderator.csrf})
    await offer.close()
    await moderator.close()
