"""Films per programme item (issue 24 point 5): from one real stage recording the archivist
publishes an item as a film of its own, cut at its chapter marks (adjustable), with the item's
title and speakers, the day's captions cut to match, its own poster, consent from the item's
speakers only; `/play` lists it with the whole day, and each archival package records the other
(dcterms:isPartOf / dcterms:hasPart, one Bag-Group-Identifier)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aiortc.mediastreams import AudioStreamTrack
from sqlalchemy import func, select

from server.platform.programme import get_event
from server.recording import publication as pubs
from server.recording import service as recording
from server.recording.models import Publication, Recording
from streaming.publish import validate_webvtt
from streaming.synthetic import StampedVideoTrack
from tests.integration.test_publication_flow import (
    BAGIT,
    GOOD_VTT,
    KEYFRAME_SECONDS,
    _upload,
    consent_all,
    login,
    staff,
)
from tests.media import probe

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # seconds of real-time recording
STEP = 3.0  # seconds on stage per programme item


async def record_three_items(app: Any) -> tuple[int, list[Any]]:
    """A real recording of the first three programme items, each marked as the stage moves on."""
    platform = app.platform
    moderator = await staff(platform, "moderator", "moderator")
    async with platform.db.session() as db:
        event = await get_event(db, "hosten-2020")
    stage = platform.media.stage_for_event(event.id)
    session = stage.attach_source(StampedVideoTrack(320, 240, 30), AudioStreamTrack())
    service = recording.service(platform)
    state = await service.start_recording(moderator, event.id)
    for item in event.items[:3]:
        async with platform.db.transaction() as db:
            await recording.mark_chapter(db, platform, event.id, item_id=item.id)
        await asyncio.sleep(STEP)
    await service.stop_recording(moderator, event.id)
    await stage.unpublish(session)
    return int(state["recording_id"]), list(event.items[:3])


async def wait_published(client: Any, url: str) -> dict[str, Any]:
    for _ in range(240):
        state = await (await client.get(f"{url}/progress")).get_json()
        if state["status"] in ("published", "failed"):
            return state  # type: ignore[no-any-return]
        await asyncio.sleep(0.25)
    raise AssertionError(f"publish job did not finish: {state}")


async def test_a_programme_item_becomes_a_film_of_its_own(app, client, tmp_path: Path) -> None:
    platform = app.platform
    recording_id, items = await record_three_items(app)
    second = items[1]
    speakers = [s.name for s in second.speakers]
    assert speakers, "item 2 of the demo programme has speakers"
    await staff(platform, "arkivarie", "archivist")
    csrf = await login(client, "arkivarie")
    day_url = f"/archive/recordings/{recording_id}"
    film_url = f"{day_url}/items/{second.id}"

    # The day's page lists every recorded item with its cut at the marks.
    page = (await (await client.get(day_url)).get_data()).decode()
    assert "Filmer per programpunkt" in page
    for item in items:
        assert f'href="{day_url}/items/{item.id}"' in page
    # Captions of the day, on the recording's timeline.
    r = await client.post(f"{day_url}/captions", form={"csrf_token": csrf},
                          files={"captions": _upload("sv.vtt", GOOD_VTT)})
    assert r.status_code == 200

    page = (await (await client.get(film_url)).get_data()).decode()
    assert "Film för programpunkt" in page and second.title in page
    assert "Hela dagens textning används" in page
    async with platform.db.session() as db:
        film = await db.scalar(select(Publication).where(Publication.item_id == second.id))
        day = await pubs.day_publication(db, recording_id)
    assert film is not None and day is not None and film.parent_id == day.id
    assert film.title == second.title and film.speakers == speakers
    assert STEP - 1 < film.trim_in < STEP + 1 and film.trim_out is not None
    assert 2 * STEP - 1 < film.trim_out < 2 * STEP + 1  # the next item's mark

    # Consent is the item's speakers', not the whole day's.
    refused = await client.post(f"{film_url}/publish", form={"csrf_token": csrf})
    assert refused.status_code == 400
    text = (await refused.get_data()).decode()
    assert "Samtycke saknas från: " + ", ".join(speakers) in text
    assert items[0].speakers[0].name not in text.split("Samtycke saknas från: ")[1][:200]
    await consent_all(client, csrf, recording_id, [])  # nothing for the day yet
    for name in speakers:
        r = await client.post(f"{film_url}/consent",
                              form={"csrf_token": csrf, "speaker": name, "given": "1"})
        assert r.status_code == 302 and r.headers["Location"].startswith(film_url)
    # The cut is adjustable: one second later in, the poster inside the item.
    r = await client.post(film_url, form={
        "csrf_token": csrf, "title": second.title, "description": "Punkt 2 som egen film.",
        "speakers": "\n".join(speakers), "rights": "CC BY 4.0",
        "trim_in": str(round(film.trim_in + 1, 1)), "trim_out": str(round(film.trim_out, 1)),
        "poster_at": str(round(film.trim_in + 1.5, 1)),
    })
    assert r.status_code == 302 and r.headers["Location"].startswith(film_url)
    r = await client.post(f"{film_url}/publish", form={"csrf_token": csrf})
    assert r.status_code == 302
    state = await wait_published(client, film_url)
    assert state["status"] == "published", state

    async with platform.db.session() as db:
        film = await db.get(Publication, film.id)
        rows = await db.scalar(select(func.count()).select_from(Publication)
                               .where(Publication.recording_id == recording_id))
    assert rows == 2  # the day's (a draft) and the item's
    bag = tmp_path / "media" / film.output_dir / "bag"
    media = bag / "data" / "media"
    duration = float(probe(media / "video.mp4")["format"]["duration"])
    cut = film.trim_out - film.trim_in
    assert cut - 0.2 <= duration <= cut + KEYFRAME_SECONDS + 0.2
    # The day's cue at 4.0-6.5 s of the recording, moved onto the film's own timeline.
    cues = validate_webvtt((media / "captions.sv.vtt").read_text())
    start = film.trim_out - duration  # where the cut really began (a key frame)
    assert [" ".join(c.lines) for c in cues] == ["Nu börjar vi."]
    assert cues[0].start == pytest.approx(max(0.0, 4.0 - start), abs=0.1)
    assert (media / "poster.jpg").read_bytes()[:2] == b"\xff\xd8"
    assert subprocess.run([str(BAGIT), "--validate", str(bag)], capture_output=True).returncode == 0
    meta = json.loads((bag / "data" / "metadata.json").read_text())
    assert meta["name"] == second.title and meta["dcterms:creator"] == speakers
    assert meta["dcterms:isPartOf"] == f"traffpunkt:publication:{day.id}"
    item_record = json.loads((bag / "data" / "record" / "programme-item.json").read_text())
    assert item_record["title"] == second.title
    assert "traffpunkt:event:hosten-2020" in (bag / "bag-info.txt").read_text()

    # The whole day, published after: its package lists the item's film.
    async with platform.db.transaction() as db:
        rec = await db.get(Recording, recording_id)
        needed = await pubs.required_speakers(db, await pubs.publication_for(db, rec))
    await consent_all(client, csrf, recording_id, needed)
    r = await client.post(f"{day_url}/publish", form={"csrf_token": csrf})
    assert r.status_code == 302
    assert (await wait_published(client, day_url))["status"] == "published"
    async with platform.db.session() as db:
        day = await db.get(Publication, day.id)
    day_bag = tmp_path / "media" / day.output_dir / "bag"
    day_meta = json.loads((day_bag / "data" / "metadata.json").read_text())
    assert day_meta["dcterms:hasPart"] == [f"traffpunkt:publication:{film.id}"]
    assert (day_bag / "data" / "record" / "programme.json").exists()
    assert "traffpunkt:event:hosten-2020" in (day_bag / "bag-info.txt").read_text()

    # /play lists both: the day with its item's film under it; each page links the other.
    listing = (await (await client.get("/play")).get_data()).decode()
    assert f'href="/play/{day.id}"' in listing and f'href="/play/{film.id}"' in listing
    day_page = (await (await client.get(f"/play/{day.id}")).get_data()).decode()
    assert f'href="/play/{film.id}"' in day_page
    film_page = (await (await client.get(f"/play/{film.id}")).get_data()).decode()
    assert f"Del av {day.title}" in film_page and 'kind="captions"' in film_page
    # The archive lists the recording once, with the day's state.
    archive = (await (await client.get("/archive")).get_data()).decode()
    assert archive.count(f'href="{day_url}"') == 1


async def test_an_item_not_in_the_recording_has_no_film(app, client) -> None:
    platform = app.platform
    async with platform.db.transaction() as db:
        event = await get_event(db, "hosten-2020")
        rec = Recording(event_id=event.id, file_path="x.mp4", status="stopped",
                        duration_seconds=60.0)
        db.add(rec)
        await db.flush()
        recording_id, item_id = rec.id, event.items[4].id
    await staff(platform, "arkivarie", "archivist")
    await login(client, "arkivarie")
    r = await client.get(f"/archive/recordings/{recording_id}/items/{item_id}")
    assert r.status_code == 404
    assert "Programpunkten finns inte i inspelningen" in (await r.get_data()).decode()
    async with platform.db.session() as db:
        assert await db.scalar(select(func.count()).select_from(Publication)
                               .where(Publication.item_id.is_not(None))) == 0


async def test_only_archivists_edit_an_items_film(app, client) -> None:
    platform = app.platform
    async with platform.db.transaction() as db:
        event = await get_event(db, "hosten-2020")
        rec = Recording(event_id=event.id, file_path="x.mp4", status="stopped",
                        duration_seconds=60.0)
        db.add(rec)
        await db.flush()
        recording_id, item_id = rec.id, event.items[0].id
    await staff(platform, "moderator", "moderator")
    await login(client, "moderator")
    r = await client.get(f"/archive/recordings/{recording_id}/items/{item_id}")
    assert r.status_code == 403
