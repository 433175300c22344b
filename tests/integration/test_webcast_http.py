"""WHIP, WHEP and HLS over HTTP against the whole app, with real aiortc peers as OBS and viewers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from server.platform.auth import Principal, hash_password
from server.platform.models import User
from server.webcast.models import StageRow
from server.webcast.service import hash_token, rotate_token
from streaming.peers import SyntheticPublisher, ViewerPeer
from tests.conftest import get_csrf, make_settings, register, seed_demo

pytestmark = pytest.mark.integration

SLUG = "hosten-2020"
SDP = {"Content-Type": "application/sdp"}


async def _start(clean_db: str, tmp_path: Path, **overrides: Any) -> Any:
    from server.app import create_app

    settings = make_settings(clean_db, tmp_path / "media").model_copy(update=overrides)
    return create_app(settings)


@pytest.fixture
async def webcast_app(clean_db: str, tmp_path: Path) -> AsyncIterator[Any]:
    asgi = await _start(clean_db, tmp_path)
    async with asgi.quart.test_app():
        await seed_demo(asgi.platform)
        yield asgi


async def _event_id(asgi: Any) -> int:
    from server.platform import programme as events

    async with asgi.platform.db.session() as db:
        return (await events.get_event(db, SLUG)).id


async def _new_token(asgi: Any) -> str:
    moderator = Principal("user", 1, "Moderator KB", "moderator")
    async with asgi.platform.db.transaction() as db:
        db.add(User(id=1, username="mod", display_name="Moderator KB", role="moderator",
                    password_hash=hash_password("moderator-lösenord")))
        await db.flush()
        token, _ = await rotate_token(db, moderator, await _event_id(asgi))
    return token


class Whip:
    """OBS, as far as the server can tell: a bearer token and application/sdp."""

    def __init__(self, client: Any, token: str) -> None:
        self.client, self.token, self.location = client, token, ""
        self.peer = SyntheticPublisher()

    async def exchange(self, offer: str) -> str:
        headers = {**SDP, "Authorization": f"Bearer {self.token}"}
        response = await self.client.post(f"/whip/{SLUG}", data=offer, headers=headers)
        assert response.status_code == 201, await response.get_data(as_text=True)
        self.location = response.headers["Location"]
        return str(await response.get_data(as_text=True))

    async def start(self) -> Whip:
        await self.peer.connect(self.exchange)
        return self

    async def stop(self) -> int:
        headers = {"Authorization": f"Bearer {self.token}"}
        response = await self.client.delete(self.location, headers=headers)
        await self.peer.close()
        return int(response.status_code)


async def _watch(client: Any) -> tuple[ViewerPeer, str]:
    viewer, where = ViewerPeer(), {}

    async def exchange(offer: str) -> str:
        response = await client.post(f"/whep/{SLUG}", data=offer, headers=SDP)
        assert response.status_code == 201, await response.get_data(as_text=True)
        where["location"] = response.headers["Location"]
        return str(await response.get_data(as_text=True))

    await viewer.connect(exchange)
    return viewer, where["location"]


async def _playlist(client: Any, url: str, predicate: Any, timeout: float = 30) -> str:
    async with asyncio.timeout(timeout):
        while True:
            response = await client.get(url)
            text = str(await response.get_data(as_text=True))
            if response.status_code == 200 and predicate(text):
                return text
            await asyncio.sleep(0.3)


def _segments(playlist: str) -> list[str]:
    return [line for line in playlist.splitlines() if line.endswith(".ts")]


@pytest.mark.slow
async def test_obs_publishes_participant_watches_and_hls_follows_a_comeback(webcast_app) -> None:
    publisher_http = webcast_app.quart.test_client()
    viewer_http = webcast_app.quart.test_client()
    await register(viewer_http)
    whip = await Whip(publisher_http, await _new_token(webcast_app)).start()
    assert whip.location.startswith(f"/whip/{SLUG}/")
    viewer, location = await _watch(viewer_http)
    assert location.startswith(f"/whep/{SLUG}/")
    await viewer.wait_video_frames(10)
    assert await viewer.wait_audio_frames(5) >= 5

    state = await (await viewer_http.get(f"/whep/{SLUG}")).get_json()
    assert state["live"] is True and state["viewer_count"] == 1
    hls = state["hls"]  # the master playlist, naming one playlist per rendition
    master = await _playlist(viewer_http, hls, lambda text: "#EXT-X-STREAM-INF" in text)
    variants = [line for line in master.splitlines() if line.endswith(".m3u8")]
    assert variants == ["720p.m3u8", "360p.m3u8"]
    variant = hls.replace("index.m3u8", variants[0])
    playlist = await _playlist(viewer_http, variant, lambda text: len(_segments(text)) >= 1)
    response = await viewer_http.get(hls)
    assert response.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    assert "no-cache" in response.headers["Cache-Control"]
    segment = await viewer_http.get(hls.replace("index.m3u8", _segments(playlist)[-1]))
    assert segment.status_code == 200 and segment.headers["Content-Type"] == "video/mp2t"
    assert (await segment.get_data())[:1] == b"\x47"  # an MPEG-TS sync byte

    # The publisher drops and comes back: the viewer keeps its session and sees the stage again.
    assert await whip.stop() == 200
    state = await (await viewer_http.get(f"/whep/{SLUG}")).get_json()
    assert state["live"] is False and state["viewer_count"] == 1
    comeback = await Whip(publisher_http, whip.token).start()
    await viewer.wait_video_frames(10, timeout=5)
    await _playlist(viewer_http, variant, lambda text: "#EXT-X-DISCONTINUITY" in text)

    assert (await viewer_http.delete(location)).status_code == 200
    await viewer.close()
    await comeback.stop()


@pytest.mark.slow
async def test_a_vanished_publisher_is_replaced_and_viewers_see_the_stage_again(
    webcast_app,
) -> None:
    """OBS crashes or loses its network: no DELETE, no close, its media just stops. The stage
    does not wait ~30 s for ICE consent to fail: it goes offline, and OBS coming back with the
    token gets the stage (201, not 409)."""
    publisher_http = webcast_app.quart.test_client()
    viewer_http = webcast_app.quart.test_client()
    await register(viewer_http)
    whip = await Whip(publisher_http, await _new_token(webcast_app)).start()
    viewer, location = await _watch(viewer_http)
    await viewer.wait_video_frames(10)
    hls = (await (await viewer_http.get(f"/whep/{SLUG}")).get_json())["hls"]
    variant = hls.replace("index.m3u8", "360p.m3u8")
    await _playlist(viewer_http, variant, lambda text: len(_segments(text)) >= 1)

    for sender in whip.peer.pc.getSenders():  # the crash: RTP stops, the connection stays
        sender.replaceTrack(None)
    async with asyncio.timeout(10):
        while (await (await viewer_http.get(f"/whep/{SLUG}")).get_json())["live"]:
            await asyncio.sleep(0.2)
    state = await (await viewer_http.get(f"/whep/{SLUG}")).get_json()
    assert state["viewer_count"] == 1  # the viewer keeps its session through the slate
    assert whip.peer.pc.connectionState == "connected"  # ICE has not noticed anything

    comeback = await Whip(publisher_http, whip.token).start()  # Whip asserts the 201
    await viewer.wait_video_frames(10, timeout=5)
    await _playlist(viewer_http, variant, lambda text: "#EXT-X-DISCONTINUITY" in text)
    assert (await (await viewer_http.get(f"/whep/{SLUG}")).get_json())["live"] is True

    assert (await viewer_http.delete(location)).status_code == 200
    await viewer.close()
    await comeback.stop()
    await whip.peer.close()


async def test_bad_requests_are_refused_and_the_live_stage_carries_on(webcast_app) -> None:
    client = webcast_app.quart.test_client()
    await register(client)
    token = await _new_token(webcast_app)
    whip = await Whip(webcast_app.quart.test_client(), token).start()
    viewer, _ = await _watch(client)
    await viewer.wait_video_frames(5)
    offer = SyntheticPublisher()
    await offer.pc.setLocalDescription(await offer.pc.createOffer())
    good = offer.pc.localDescription.sdp

    async def whip_post(body: Any, headers: dict[str, str]) -> Any:
        return await client.post(f"/whip/{SLUG}", data=body, headers=headers)

    bearer = {"Authorization": f"Bearer {token}"}
    wrong = await whip_post(good, {**SDP, "Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await whip_post(good, SDP)).status_code == 403  # a participant may not publish
    malformed = await whip_post("v=0\r\nthis is not sdp", {**SDP, **bearer})
    assert malformed.status_code == 400
    assert (await malformed.get_json())["error"]["code"] == "sdp.invalid"
    assert (await malformed.get_json())["error"]["message"]  # the reason
    typed = await whip_post(good, {"Content-Type": "text/plain", **bearer})
    assert typed.status_code == 415
    huge = await whip_post("v=0\r\n" + "a=x\r\n" * 20_000, {**SDP, **bearer})
    assert huge.status_code == 413
    busy = await whip_post(good, {**SDP, **bearer})
    assert busy.status_code == 409
    assert (await busy.get_json())["error"]["code"] == "stage.busy"
    bad_view = await client.post(f"/whep/{SLUG}", data="nonsense", headers=SDP)
    assert bad_view.status_code == 400

    before = viewer.video_frames
    await viewer.wait_video_frames(10)
    assert viewer.video_frames > before
    assert webcast_app.platform.media.stage_for_event(await _event_id(webcast_app)).live
    await offer.close()
    await viewer.close()
    await whip.stop()


async def test_hls_players_are_counted_with_the_webrtc_viewers(webcast_app) -> None:
    client, other = webcast_app.quart.test_client(), webcast_app.quart.test_client()
    await register(client)
    await register(other, email="per@example.se")
    viewer, location = await _watch(client)

    async def state() -> dict[str, Any]:
        return dict(await (await client.get(f"/whep/{SLUG}")).get_json())

    assert (await state())["viewer_count"] == 1
    player = f"/whep/{SLUG}/hls/0123456789abcdef"
    assert (await other.put(player)).status_code == 204
    assert (await other.put(player)).status_code == 204  # the 10 s report again: still one
    counted = await state()
    assert (counted["viewer_count"], counted["webrtc_viewers"], counted["hls_viewers"]) == (2, 1, 1)
    assert (await client.delete(player)).status_code == 204  # not theirs: nothing changes
    assert (await state())["hls_viewers"] == 1
    assert (await other.put(f"/whep/{SLUG}/hls/x")).status_code == 422
    stranger = webcast_app.quart.test_client()
    assert (await stranger.put(f"/whep/{SLUG}/hls/fedcba9876543210")).status_code == 401
    assert (await other.delete(player)).status_code == 204
    assert (await state())["viewer_count"] == 1
    assert (await client.delete(location)).status_code == 200
    await viewer.close()


async def test_only_participants_of_the_event_and_staff_may_watch(webcast_app) -> None:
    stranger = webcast_app.quart.test_client()
    offer = ViewerPeer()
    await offer.pc.setLocalDescription(await offer.pc.createOffer())
    refused = await stranger.post(f"/whep/{SLUG}", data=offer.pc.localDescription.sdp, headers=SDP)
    assert refused.status_code == 401
    event_id = await _event_id(webcast_app)
    stage = webcast_app.platform.media.stage_id(event_id)
    assert (await stranger.get(f"/media/hls/{stage}/index.m3u8")).status_code == 401
    # Stage ids are not guessable: the event id alone, or the next one, names no stage.
    tag = stage.rsplit("-", 1)[1]
    for guess in (f"event-{event_id}", f"event-{event_id + 1}-{tag}"):
        assert (await stranger.get(f"/media/hls/{guess}/index.m3u8")).status_code == 404
    assert (await stranger.get("/media/hls/../secret_key")).status_code == 404
    await offer.close()


async def test_rotating_the_token_stores_only_a_hash_and_retires_the_old_one(webcast_app) -> None:
    first = await _new_token(webcast_app)
    moderator = Principal("user", 1, "Moderator KB", "moderator")
    event_id = await _event_id(webcast_app)
    async with webcast_app.platform.db.transaction() as db:
        second, _ = await rotate_token(db, moderator, event_id)
    async with webcast_app.platform.db.session() as db:
        row = await db.get(StageRow, event_id)
    assert row is not None and row.token_hash == hash_token(second)
    assert first not in row.token_hash and second not in row.token_hash
    client = webcast_app.quart.test_client()
    old = await client.post(f"/whip/{SLUG}", data="v=0\r\n",
                            headers={**SDP, "Authorization": f"Bearer {first}"})
    assert old.status_code == 401


async def test_viewer_over_the_cap_is_pointed_at_hls(clean_db: str, tmp_path: Path) -> None:
    asgi = await _start(clean_db, tmp_path, webrtc_viewer_cap=1)
    async with asgi.quart.test_app():
        await seed_demo(asgi.platform)
        client = asgi.quart.test_client()
        await register(client)
        first, _ = await _watch(client)
        second = ViewerPeer()
        await second.pc.setLocalDescription(await second.pc.createOffer())
        response = await client.post(
            f"/whep/{SLUG}", data=second.pc.localDescription.sdp, headers=SDP)
        assert response.status_code == 503
        body = await response.get_json()
        assert body["error"]["code"] == "stage.viewer_cap"
        assert body["hls"].endswith("/index.m3u8")
        assert 'rel="alternate"' in response.headers["Link"]
        await first.close()
        await second.close()


async def test_producer_page_is_for_moderators(webcast_app) -> None:
    client = webcast_app.quart.test_client()
    await register(client)
    assert (await client.get(f"/e/{SLUG}/produce")).status_code == 403
    await _new_token(webcast_app)  # creates the moderator "mod"
    staff = webcast_app.quart.test_client()
    csrf = await get_csrf(staff, "/login")
    await staff.post("/login", form={"username": "mod", "password": "moderator-lösenord",
                                     "csrf_token": csrf})
    page = await staff.get(f"/e/{SLUG}/produce")
    assert page.status_code == 200
    assert f"/whip/{SLUG}" in await page.get_data(as_text=True)


async def test_media_only_node_serves_media_routes_and_health_only(clean_db, tmp_path) -> None:
    asgi = await _start(clean_db, tmp_path, node_role="media")
    async with asgi.quart.test_app():
        await seed_demo(asgi.platform)
        client = asgi.quart.test_client()
        assert (await client.get("/")).status_code == 404
        assert (await client.get(f"/e/{SLUG}")).status_code == 404
        assert (await client.get("/healthz")).status_code == 200
        # What compose's healthcheck asks (the rehearsal found it 404 here: never healthy).
        assert (await client.get("/readyz")).status_code == 200
        assert (await client.get("/livez")).status_code == 200
        # The route is there, but not for strangers.
        assert (await client.get(f"/whep/{SLUG}")).status_code == 401


async def test_web_node_without_media_points_browsers_at_the_media_url(clean_db, tmp_path) -> None:
    asgi = await _start(clean_db, tmp_path, node_role="web",
                        media_public_url="https://media.example.se")
    async with asgi.quart.test_app():
        await seed_demo(asgi.platform)
        assert asgi.platform.media.enabled is False
        client = asgi.quart.test_client()
        await register(client)
        page = str(await (await client.get(f"/e/{SLUG}/live")).get_data(as_text=True))
        assert f'data-whep="https://media.example.se/whep/{SLUG}"' in page
        assert 'data-hls="https://media.example.se/media/hls/event-' in page


def test_serve_flags_choose_the_node_role() -> None:
    from server.cli import _node_role, _parser

    assert _node_role(_parser().parse_args(["serve", "--media-only"])) == {"node_role": "media"}
    assert _node_role(_parser().parse_args(["serve", "--no-media"])) == {"node_role": "web"}
    assert _node_role(_parser().parse_args(["serve"])) == {}


async def test_whip_and_whep_answer_pages_on_the_configured_origins(clean_db, tmp_path) -> None:
    """A media node on its own origin (MEDIA_PUBLIC_URL): the page's origin may call WHIP/WHEP
    (preflight and answers carry CORS, and expose Location, Link and ETag), another origin gets
    no CORS at all; every error is JSON, PATCH (trickle ICE) included."""
    page, other = "https://traffpunkt.example.se", "https://evil.example"
    asgi = await _start(clean_db, tmp_path, public_url=f"{page}/", node_role="media",
                        media_cors_origins="https://extra.example.se")
    async with asgi.quart.test_app():
        await seed_demo(asgi.platform)
        client = asgi.quart.test_client()
        for path in (f"/whep/{SLUG}", f"/whip/{SLUG}", f"/whep/{SLUG}/any-session"):
            preflight = await client.options(path, headers={
                "Origin": page, "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type"})
            assert preflight.status_code < 300, path
            assert preflight.headers["Access-Control-Allow-Origin"] == page
            assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
            assert "DELETE" in preflight.headers["Access-Control-Allow-Methods"]
            assert "Origin" in preflight.headers.get_all("Vary")
        extra = await client.options(f"/whep/{SLUG}", headers={
            "Origin": "https://extra.example.se", "Access-Control-Request-Method": "POST"})
        assert extra.headers["Access-Control-Allow-Origin"] == "https://extra.example.se"
        stranger = await client.options(f"/whep/{SLUG}", headers={
            "Origin": other, "Access-Control-Request-Method": "POST"})
        assert "Access-Control-Allow-Origin" not in stranger.headers

        refused = await client.post(f"/whep/{SLUG}", data="v=0", headers={**SDP, "Origin": page})
        assert refused.status_code == 401 and refused.mimetype == "application/json"
        assert refused.headers["Access-Control-Allow-Origin"] == page
        assert set(refused.headers["Access-Control-Expose-Headers"].split(", ")) == {
            "Location", "Link", "ETag"}
        patched = await client.patch(f"/whip/{SLUG}/some-session", data="a=ice-ufrag:x",
                                     headers={"Content-Type": "application/trickle-ice-sdpfrag",
                                              "Origin": page})
        assert patched.status_code == 405 and patched.mimetype == "application/json"
        assert (await patched.get_json())["error"]["code"] == "method_not_allowed"
        assert "DELETE" in patched.headers["Allow"]
        assert patched.headers["Access-Control-Allow-Origin"] == page
        missing = await client.get(f"/whep/{SLUG}/a/b/c", headers={"Origin": page})
        assert missing.status_code == 404 and missing.mimetype == "application/json"
