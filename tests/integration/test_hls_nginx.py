"""Live HLS behind the production nginx (deploy/nginx.conf, adapted by tests/nginx.py only where
paths and ports differ) and a real `traffpunkt serve`: nginx serves the files only after the app
said yes (auth_request), so the event's participants get the playlist and its segments, and
strangers, other events' participants and guessed stage paths get nothing."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from server.platform import keys
from server.platform.auth import Principal
from server.platform.db import Database
from server.platform.programme import get_event
from server.webcast.service import rotate_token
from streaming.peers import SyntheticPublisher
from tests.conftest import DEMO, SECRET, LiveServer, free_port, seed, server_env
from tests.helpers import Browser
from tests.nginx import Nginx

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(),
                       reason="Debian's nginx is not installed (scripts/setup.sh --test)"),
]

SLUG, OTHER = "hosten-2020", "varen-2021"


@dataclass
class Stack:
    nginx: Nginx
    server: LiveServer
    token: str  # the stage's publishing token, as OBS has it
    event_id: int
    other_id: int


async def _prepare(url: str) -> tuple[str, int, int]:
    """The demo event, a second event, and a stage token for the first."""
    from server.programme.importer import import_event, read_event_file

    await seed(url)
    db = Database(url)
    try:
        async with db.transaction() as session:
            other = await import_event(
                session, read_event_file(DEMO).model_copy(update={"slug": OTHER}))
            event = await get_event(session, SLUG)
            moderator = Principal("user", 1, "Moderator", "moderator")
            token, _ = await rotate_token(session, moderator, event.id)
            return token, event.id, other.id
    finally:
        await db.close()


@pytest.fixture
def server(clean_db: str, tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(server_env(clean_db, tmp_path / "media"))
    yield live
    live.stop()


@pytest.fixture
async def stack(clean_db: str, tmp_path: Path, server: LiveServer) -> AsyncIterator[Stack]:
    token, event_id, other_id = await _prepare(clean_db)
    port = free_port()
    server.env["PUBLIC_URL"] = f"http://127.0.0.1:{port}"  # people reach it through nginx
    server.start()
    app = f"127.0.0.1:{server.port}"
    nginx = Nginx(port, web=app, media=app, media_root=server.media, run_dir=tmp_path / "nginx")
    with nginx:
        yield Stack(nginx, server, token, event_id, other_id)


async def _publish(base: str, token: str) -> SyntheticPublisher:
    """OBS through nginx: WHIP with the stage token."""
    publisher = SyntheticPublisher()

    async def exchange(offer: str) -> str:
        async with httpx.AsyncClient(base_url=base, timeout=20) as http:
            response = await http.post(f"/whip/{SLUG}", content=offer, headers={
                "Content-Type": "application/sdp", "Authorization": f"Bearer {token}"})
        assert response.status_code == 201, response.text
        return response.text

    await publisher.connect(exchange)
    return publisher


async def _playlist_with_segment(http: httpx.AsyncClient, url: str) -> str:
    async with asyncio.timeout(30):
        while True:
            response = await http.get(url)
            if response.status_code == 200 and ".ts" in response.text:
                return response.text
            assert response.status_code in (200, 404), response.text  # 404: not written yet
            await asyncio.sleep(0.3)


async def _raw_get(port: int, target: str, cookie: str) -> int:
    """A GET whose path goes out exactly as written (an HTTP client would normalise `..`)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: tp_session={cookie}\r\n"
                 "Connection: close\r\n\r\n".encode())
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    writer.close()
    await writer.wait_closed()
    return status


async def test_participants_read_hls_through_nginx_and_nobody_else(stack: Stack) -> None:
    base = stack.nginx.url
    publisher = await _publish(base, stack.token)
    asa, outsider = Browser(base), Browser(base)
    await asa.register()
    await outsider.register(slug=OTHER, name="Utomstående")

    state = (await asa.http.get(f"/whep/{SLUG}")).json()
    hls = state["hls"]
    stage = hls.split("/")[3]
    assert hls == f"/media/hls/{stage}/index.m3u8"
    assert stage == keys.stage_id(stack.event_id, SECRET) != f"event-{stack.event_id}"

    master = (await asa.http.get(hls)).text  # it names one playlist per rendition
    assert [line for line in master.splitlines() if line.endswith(".m3u8")] == [
        "720p.m3u8", "360p.m3u8"]
    playlist = await _playlist_with_segment(asa.http, hls.replace("index.m3u8", "720p.m3u8"))
    listed = await asa.http.get(hls)
    assert listed.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    assert listed.headers["Cache-Control"] == "private, max-age=1"
    segment_name = [line for line in playlist.splitlines() if line.endswith(".ts")][-1]
    segment = await asa.http.get(f"/media/hls/{stage}/{segment_name}")
    assert segment.status_code == 200 and segment.headers["Content-Type"] == "video/mp2t"
    assert segment.content[:1] == b"\x47"  # an MPEG-TS sync byte
    assert "private" in segment.headers["Cache-Control"]

    async with httpx.AsyncClient(base_url=base) as anonymous:
        assert (await anonymous.get(hls)).status_code == 401
        assert (await anonymous.get(f"/media/hls/{stage}/{segment_name}")).status_code == 401
    assert (await outsider.http.get(hls)).status_code == 403
    assert (await outsider.http.get(f"/media/hls/{stage}/{segment_name}")).status_code == 403

    # The other event's stage, with a playlist on disk: its real id is no use to Åsa, and the
    # ids she could guess from her own name no stage.
    other_stage = keys.stage_id(stack.other_id, SECRET)
    (stack.server.media / "hls" / other_stage).mkdir(parents=True, exist_ok=True)
    (stack.server.media / "hls" / other_stage / "index.m3u8").write_text("#EXTM3U\n")
    (stack.server.media / "hls" / f"event-{stack.other_id}").mkdir(exist_ok=True)
    (stack.server.media / "hls" / f"event-{stack.other_id}" / "index.m3u8").write_text("#EXTM3U\n")
    tag = stage.rsplit("-", 1)[1]
    for guess in (other_stage, f"event-{stack.other_id}", f"event-{stack.other_id}-{tag}",
                  f"event-{stack.event_id + 1}"):
        response = await asa.http.get(f"/media/hls/{guess}/index.m3u8")
        assert response.status_code in (401, 403, 404) and "#EXTM3U" not in response.text, guess
    assert (await outsider.http.get(f"/media/hls/{other_stage}/index.m3u8")).status_code == 200

    # A path that climbs out of Åsa's stage into the other one is judged by where it lands.
    cookie = asa.http.cookies["tp_session"]
    for target in (f"/media/hls/{stage}/../{other_stage}/index.m3u8",
                   f"/media/hls/{stage}/%2e%2e/{other_stage}/index.m3u8"):
        assert await _raw_get(stack.nginx.port, target, cookie) in (400, 403, 404), target
    assert (await asa.http.get("/media/hls-auth")).status_code == 404  # nginx's own check
    assert (await asa.http.get(f"/media/hls/{stage}/")).status_code == 404
    await publisher.close()
    for browser in (asa, outsider):
        await browser.http.aclose()


async def test_a_reader_keeps_watching_while_the_app_cannot_answer(stack: Stack) -> None:
    """The app behind nginx's check is away (a web node restarting, PostgreSQL restarting): a
    participant who was let in reads on, on the last answer; one never let in gets nothing."""
    base = stack.nginx.url
    publisher = await _publish(base, stack.token)
    asa, per = Browser(base), Browser(base)
    await asa.register()
    await per.register(name="Per Andersson")
    hls = (await asa.http.get(f"/whep/{SLUG}")).json()["hls"]
    variant = hls.replace("index.m3u8", "360p.m3u8")
    await _playlist_with_segment(asa.http, variant)  # Åsa's yes is cached now
    await publisher.close()
    stack.server.stop()  # the app is gone; the files stay where nginx serves them
    # The cached yes lasts 10 s; past it, nginx asks again, and the app does not answer.
    await asyncio.sleep(11)  # let the cached answer expire: what is tested is after it
    assert (await asa.http.get(variant)).status_code == 200
    assert (await per.http.get(variant)).status_code >= 500  # never let in: no file
    for browser in (asa, per):
        await browser.http.aclose()
