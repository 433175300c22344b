"""From a real stage recording to a publication: the archivist's edit, captions, consent, the
publish job, and the files checked with ffprobe, `bagit.py --validate` and the /play pages.
A failed job (bad trim, full disk) reports its error and leaves the recording untouched."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import subprocess
import zipfile
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from aiortc.mediastreams import AudioStreamTrack
from sqlalchemy import select

from server import publication as pubs
from server import recording
from server.auth import Principal, hash_password
from server.events import get_event
from server.models import User
from server.models_recording import ChapterMark, Publication, Recording
from streaming.publish import WriteBudget
from streaming.synthetic import StampedVideoTrack
from tests.conftest import get_csrf
from tests.media import probe

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
BAGIT = ROOT / ".venv" / "bin" / "bagit.py"
KEYFRAME_SECONDS = 2.0  # the stage encoder's key-frame interval (StreamingConfig default)
GOOD_VTT = (
    "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nVälkomna till Träffpunkt!\n\n"
    "00:00:04.000 --> 00:00:06.500\nNu börjar vi.\n"
)
BAD_VTT = "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nRätt\n\n00:00:05.000 -> 00:00:04.000\nFel\n"




def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def staff(platform: Any, username: str, role: str) -> Principal:
    async with platform.db.transaction() as db:
        user = User(
            username=username,
            display_name=username.title(),
            role=role,
            password_hash=hash_password("lösenord-för-test"),
        )
        db.add(user)
        await db.flush()
        return Principal("user", user.id, user.display_name, role)


async def login(client: Any, username: str) -> str:
    token = await get_csrf(client, "/login")
    r = await client.post(
        "/login", form={"csrf_token": token, "username": username, "password": "lösenord-för-test"}
    )
    assert r.status_code == 302
    return await get_csrf(client, "/archive")


async def record_stage(app: Any, seconds: float = 7.0) -> int:
    """A real recording: a synthetic source on the event's stage, started by a moderator,
    with two programme marks on the way."""
    platform = app.platform
    moderator = await staff(platform, "moderator", "moderator")
    async with platform.db.session() as db:
        event = await get_event(db, "hosten-2020")
    stage = platform.media.stage_for_event(event.id)
    session = stage.attach_source(StampedVideoTrack(320, 240, 30), AudioStreamTrack())
    service = recording.service(platform)
    state = await service.start_recording(moderator, event.id)
    for item in event.items[:2]:
        await asyncio.sleep(seconds / 2)
        async with platform.db.transaction() as db:
            await recording.mark_chapter(db, platform, event.id, item_id=item.id)
    await service.stop_recording(moderator, event.id)
    await stage.unpublish(session)
    return int(state["recording_id"])


async def wait_done(client: Any, recording_id: int) -> dict[str, Any]:
    for _ in range(240):
        state = await (await client.get(f"/archive/recordings/{recording_id}/progress")).get_json()
        if state["status"] in ("published", "failed"):
            return state  # type: ignore[no-any-return]
        await asyncio.sleep(0.25)
    raise AssertionError(f"publish job did not finish: {state}")


async def consent_all(client: Any, csrf: str, recording_id: int, speakers: list[str]) -> None:
    for name in speakers:
        r = await client.post(
            f"/archive/recordings/{recording_id}/consent",
            form={"csrf_token": csrf, "speaker": name, "given": "1"},
        )
        assert r.status_code == 302


async def edit(client: Any, csrf: str, recording_id: int, **fields: str) -> Any:
    form = {
        "csrf_token": csrf,
        "title": "Höstens träff 2020",
        "description": "Inspelning av scenen.",
        "speakers": "Anna Andersson\nBo Berg",
        "rights": "CC BY 4.0",
        "trim_in": "0:00:03",
        "trim_out": "0:00:06.5",
        "poster_at": "4",
    }
    form.update(fields)
    pairs = list(form.items())
    for start, title in (("0", "Inledning"), ("0:00:04", "Samtal")):
        pairs += [("chapter_start", start), ("chapter_title", title)]
    return await client.post(
        f"/archive/recordings/{recording_id}",
        data=urlencode(pairs),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


async def test_recording_becomes_a_validated_publication(app, client, tmp_path: Path) -> None:
    platform = app.platform
    recording_id = await record_stage(app)
    async with platform.db.session() as db:
        rec = await db.get(Recording, recording_id)
        marks = list(
            await db.scalars(
                select(ChapterMark)
                .where(ChapterMark.recording_id == recording_id)
                .order_by(ChapterMark.offset_seconds)
            )
        )
    source = tmp_path / "media" / rec.file_path
    before = sha(source)
    assert rec.status == "stopped" and rec.duration_seconds and rec.duration_seconds > 5
    assert [m.source for m in marks] == ["programme", "programme"]
    assert 2.0 < marks[0].offset_seconds < marks[1].offset_seconds < rec.duration_seconds + 1
    await staff(platform, "arkivarie", "archivist")
    csrf = await login(client, "arkivarie")

    page = (await (await client.get(f"/archive/recordings/{recording_id}")).get_data()).decode()
    assert marks[0].title in page  # chapters prefilled from the programme marks
    assert "Publicera" in page and 'id="publish-button" disabled' in page

    saved = await edit(client, csrf, recording_id)
    assert saved.status_code == 302, re.findall(
        r"alert error\" role=\"alert\">([^<]*)", (await saved.get_data()).decode()
    )
    bad = await client.post(
        f"/archive/recordings/{recording_id}/captions",
        form={"csrf_token": csrf},
        files={"captions": _upload("bad.vtt", BAD_VTT)},
    )
    assert bad.status_code == 422
    assert "Rad 6" in (await bad.get_data()).decode()
    good = await client.post(
        f"/archive/recordings/{recording_id}/captions",
        form={"csrf_token": csrf},
        files={"captions": _upload("sv.vtt", GOOD_VTT)},
    )
    assert good.status_code == 200 and "2 repliker" in (await good.get_data()).decode()

    refused = await client.post(
        f"/archive/recordings/{recording_id}/publish", form={"csrf_token": csrf}
    )
    assert refused.status_code == 400
    assert "Samtycke saknas från: Anna Andersson, Bo Berg" in (await refused.get_data()).decode()
    await consent_all(client, csrf, recording_id, ["Anna Andersson", "Bo Berg"])
    page = (await (await client.get(f"/archive/recordings/{recording_id}")).get_data()).decode()
    assert "Samtycke bekräftat av Arkivarie" in page

    r = await client.post(f"/archive/recordings/{recording_id}/publish", form={"csrf_token": csrf})
    assert r.status_code == 302
    state = await wait_done(client, recording_id)
    assert state["status"] == "published", state
    assert sha(source) == before  # the recording itself is never touched

    async with platform.db.session() as db:
        pub = await db.scalar(select(Publication).where(Publication.recording_id == recording_id))
    folder = tmp_path / "media" / pub.output_dir
    bag = folder / "bag"
    media = bag / "data" / "media"
    info = probe(media / "video.mp4")
    assert {s["codec_name"] for s in info["streams"]} == {"h264", "aac"}
    duration = float(info["format"]["duration"])
    assert 3.5 - 0.1 <= duration <= 3.5 + KEYFRAME_SECONDS + 0.1  # the trim, to one key frame
    assert (media / "video.mp4").read_bytes()[:64].find(b"moov") > 0  # faststart: moov first
    hls = probe(media / "hls" / "index.m3u8")
    assert abs(float(hls["format"]["duration"]) - duration) < 0.5
    assert (media / "poster.jpg").read_bytes()[:2] == b"\xff\xd8"
    chapters = (media / "chapters.vtt").read_text()
    assert "Inledning" in chapters and "Samtal" in chapters
    assert "Välkomna" in (media / "captions.sv.vtt").read_text()

    validated = subprocess.run([str(BAGIT), "--validate", str(bag)], capture_output=True, text=True)
    assert validated.returncode == 0, validated.stderr
    assert (bag / "manifest-sha256.txt").exists()
    meta = json.loads((bag / "data" / "metadata.json").read_text())
    assert meta["@type"] == "VideoObject" and meta["name"] == "Höstens träff 2020"
    for term in ("title", "creator", "date", "description", "language", "rights"):
        assert meta[f"dcterms:{term}"], term
    assert meta["dcterms:creator"] == ["Anna Andersson", "Bo Berg"]
    programme = json.loads((bag / "data" / "record" / "programme.json").read_text())
    assert len(programme["items"]) == 8
    assert (bag / "data" / "record" / "qa.json").exists()
    assert (bag / "data" / "record" / "feedback.csv").exists()
    assert (bag / "data" / "record" / "notes.json").exists(), "each room's notes per theme"
    readme = (bag / "data" / "README.txt").read_text()
    assert "record/programme.json" in readme and "metadata.json" in readme

    download = await client.get(f"/archive/publications/{pub.id}/bag.zip")
    assert download.status_code == 200
    names = zipfile.ZipFile(BytesIO(await download.get_data())).namelist()
    assert f"bag-{pub.id}/manifest-sha256.txt" in names
    assert f"bag-{pub.id}/data/media/video.mp4" in names

    listing = (await (await client.get("/play")).get_data()).decode()
    assert "Höstens träff 2020" in listing
    watch = (await (await client.get(f"/play/{pub.id}")).get_data()).decode()
    assert (
        '<track kind="chapters"' in watch and 'kind="captions"' in watch and 'srclang="sv"' in watch
    )
    assert re.search(r'data-start="0\.0"[^>]*>0:00:00 Inledning', watch)
    ranged = await client.get(f"/play/{pub.id}/media/video.mp4", headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206 and len(await ranged.get_data()) == 100
    assert (await client.get(f"/play/{pub.id}/media/../../metadata.json")).status_code == 404


def _upload(name: str, text: str) -> Any:
    from werkzeug.datastructures import FileStorage

    return FileStorage(BytesIO(text.encode()), filename=name, content_type="text/vtt")


async def _failing_publish(app: Any, client: Any, tmp_path: Path, **fields: str) -> tuple[str, Any]:
    recording_id = await record_stage(app, seconds=4)
    await staff(app.platform, "arkivarie", "archivist")
    csrf = await login(client, "arkivarie")
    assert (await edit(client, csrf, recording_id, speakers="", **fields)).status_code == 302
    async with app.platform.db.session() as db:
        rec = await db.get(Recording, recording_id)
    before = sha(tmp_path / "media" / rec.file_path)
    r = await client.post(f"/archive/recordings/{recording_id}/publish", form={"csrf_token": csrf})
    assert r.status_code == 302
    state = await wait_done(client, recording_id)
    assert sha(tmp_path / "media" / rec.file_path) == before
    async with app.platform.db.session() as db:
        assert (await db.get(Recording, recording_id)).status == "stopped"
    page = (await (await client.get(f"/archive/recordings/{recording_id}")).get_data()).decode()
    assert state["error"]["message"] in page
    leftovers = list((tmp_path / "media" / pubs.PUBLICATIONS_DIR).glob("*"))
    assert leftovers == []  # nothing half-made is left behind
    return state["error"]["code"], state


async def test_bad_trim_range_fails_on_the_page_and_keeps_the_recording(
    app, client, tmp_path
) -> None:
    code, state = await _failing_publish(
        app, client, tmp_path, trim_in="0:10:00", trim_out="0:11:00"
    )
    assert state["status"] == "failed" and code == "publish.bad_trim"


async def test_full_disk_fails_on_the_page_and_keeps_the_recording(app, client, tmp_path) -> None:
    pubs.jobs(app.platform).budget = lambda root: WriteBudget(root, limit=20_000)
    code, state = await _failing_publish(app, client, tmp_path, trim_in="0", trim_out="")
    assert code == "publish.disk_full"
    assert "Disken är full" in state["error"]["message"]
