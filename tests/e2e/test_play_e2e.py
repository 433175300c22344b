"""Chromium plays a publication on /play with its chapters and captions, by keyboard too;
axe-core finds nothing serious on /play and on the archivist's page."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from server.platform.db import Database
from server.platform.models import Event
from server.recording.models import Recording
from tests.conftest import ARCHIVIST, MODERATOR
from tests.e2e.conftest import axe_check, login, new_page
from tests.helpers import Browser

pytestmark = pytest.mark.e2e
CAPTIONS = "WEBVTT\n\n00:00:00.500 --> 00:00:07.000\nVälkomna till Träffpunkt\n"


async def _recording(url: str, media: Path) -> int:
    """A stage-like recording (H.264 with 2 s key frames, AAC, fragmented MP4)."""
    path = media / "recordings" / "event-1" / "e2e.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            "12",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-profile:v",
            "baseline",
            "-g",
            "60",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-ac",
            "2",
            "-movflags",
            "frag_keyframe+empty_moov+default_base_moof",
            str(path),
        ],
        check=True,
    )
    db = Database(url)
    async with db.transaction() as session:
        event = await session.scalar(select(Event).where(Event.slug == "hosten-2020"))
        rec = Recording(
            event_id=event.id,
            file_path="recordings/event-1/e2e.mp4",
            status="stopped",
            duration_seconds=12.0,
        )
        session.add(rec)
        await session.flush()
        rec_id = rec.id
    await db.close()
    return rec_id


async def _publish(base: str, rec_id: int) -> int:
    arch = Browser(base)
    try:
        await arch.login(*ARCHIVIST)
        await arch.page(f"/archive/recordings/{rec_id}")
        r = await arch.post(
            f"/archive/recordings/{rec_id}",
            {
                "title": "Träffpunkt hösten 2020",
                "description": "Scenen",
                "speakers": "Anna Andersson",
                "rights": "CC BY 4.0",
                "trim_in": "0",
                "trim_out": "10",
                "poster_at": "2",
                "chapter_start": ["0", "4", "8"],
                "chapter_title": ["Inledning", "Samtal", "Avslutning"],
            },
        )
        assert r.status_code == 200 and "Ändringarna är sparade" in r.text
        r = await arch.http.post(
            f"/archive/recordings/{rec_id}/captions",
            data={"csrf_token": arch.csrf},
            files={"captions": ("sv.vtt", CAPTIONS.encode(), "text/vtt")},
        )
        assert r.status_code == 200
        await arch.post(
            f"/archive/recordings/{rec_id}/consent", {"speaker": "Anna Andersson", "given": "1"}
        )
        await arch.post(f"/archive/recordings/{rec_id}/publish", {})
        for _ in range(200):
            state = (await arch.http.get(f"/archive/recordings/{rec_id}/progress")).json()
            if state["status"] in ("published", "failed"):
                break
            await asyncio.sleep(0.25)
        assert state["status"] == "published", state
        return int(state["play_url"].rsplit("/", 1)[-1])
    finally:
        await arch.close()


async def test_play_page_plays_with_chapters_and_captions(
    demo_server, browser
) -> None:
    rec_id = await _recording(demo_server.env["DATABASE_URL"], demo_server.media)
    pub_id = await _publish(demo_server.url, rec_id)

    page = await new_page(browser, demo_server.url)
    await page.goto("/play")
    await axe_check(page)
    await page.get_by_role("link", name="Träffpunkt hösten 2020").click()
    await page.wait_for_url(f"**/play/{pub_id}")
    # Functions, not expressions: an expression is eval'ed in the page, which its CSP refuses.
    await page.wait_for_function("() => document.getElementById('play-video').readyState >= 1")
    tracks = await page.evaluate("""() => [...document.getElementById('play-video').textTracks]
        .map(t => ({kind: t.kind, language: t.language}))""")
    assert {"kind": "captions", "language": "sv"} in tracks
    assert any(t["kind"] == "chapters" for t in tracks)
    chapters = page.locator("#chapter-nav button")
    assert await chapters.all_inner_texts() == [
        "0:00:00 Inledning",
        "0:00:04 Samtal",
        "0:00:08 Avslutning",
    ]

    await page.evaluate("document.getElementById('play-video').muted = true")
    await chapters.nth(1).focus()
    await page.keyboard.press("Enter")  # keyboard: a chapter button seeks and plays
    await page.wait_for_function(
        "() => { const v = document.getElementById('play-video');"
        " return v.currentTime > 4.2 && !v.paused; }",
        timeout=15000,
    )
    assert await chapters.nth(1).get_attribute("aria-current") == "true"
    captions_cues = await page.evaluate("""async () => {
        const v = document.getElementById('play-video');
        const t = [...v.textTracks].find(t => t.kind === 'captions');
        t.mode = 'hidden';
        const wait = () => new Promise(r => setTimeout(r, 100));
        for (let i = 0; i < 50 && !(t.cues && t.cues.length); i++) await wait();
        return [...t.cues].map(c => c.text); }""")
    assert captions_cues == ["Välkomna till Träffpunkt"]
    duration = await page.evaluate("document.getElementById('play-video').duration")
    assert 10 - 0.1 <= duration <= 10 + 2.1
    await axe_check(page)

    await login(page, *ARCHIVIST)
    await page.goto(f"/archive/recordings/{rec_id}")
    assert await page.locator("#publish-status").inner_text() == "Publicerad"
    await axe_check(page)
    await page.goto("/archive")
    await axe_check(page)


async def test_recording_banner_appears_live_on_pages_other_than_the_live_page(
    demo_server, browser
) -> None:
    """Every event page with a socket follows `recording.state`, not only the live page and
    the console: here the notes overview and the producer page, open before the start."""
    from playwright.async_api import expect

    page = await new_page(browser, demo_server.url)
    await login(page, *MODERATOR)
    producer = await page.context.new_page()
    await page.goto("/e/hosten-2020/notes")
    await producer.goto("/e/hosten-2020/produce")
    for p in (page, producer):
        await expect(p.locator("#status-banner")).to_be_hidden()

    mod = Browser(demo_server.url)
    await mod.login(*MODERATOR)
    client = await mod.connect()
    try:
        # A page whose socket connects after this hears the state in `recording.get`.
        started = await client.call("recording.start", {})
        assert started["ok"], started
        for p in (page, producer):
            banner = p.locator("#status-banner")
            await expect(banner).to_be_visible()
            await expect(banner).to_have_class("status-banner recording")
            await expect(banner).to_contain_text("Scenen spelas in")
        assert (await client.call("recording.stop", {}))["ok"]
        for p in (page, producer):
            await expect(p.locator("#status-banner")).to_be_hidden()
    finally:
        await client.close()
        await mod.close()
