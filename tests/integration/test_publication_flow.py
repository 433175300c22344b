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

from server.captions.models import CaptionLine
from server.platform.auth import Principal, hash_password
from server.platform.models import User
from server.platform.programme import get_event
from server.polls.models import Poll
from server.recording import publication as pubs
from server.recording import service as recording
from server.recording.models import ChapterMark, Publication, Recording
from streaming.publish import WriteBudget
from streaming.synthetic import StampedVideoTrack
from tests.conftest import get_csrf
from tests.media import probe

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # seconds of real-time recording
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
        await asyncio.sleep(seconds / 2)  # real-time media: the recording's length
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


async def consent_required(app: Any, client: Any, csrf: str, recording_id: int) -> list[str]:
    """Consent for every speaker publishing needs (listed and the recorded items')."""
    async with app.platform.db.transaction() as db:
        rec = await db.get(Recording, recording_id)
        names = await pubs.required_speakers(db, await pubs.publication_for(db, rec))
    await consent_all(client, csrf, recording_id, names)
    return names


NOTES_TEXT = "Rum Syd: Åsa och Örjan läser högt på måndagar; läsfrämjande i Ängelholm."


async def room_with_buffered_notes(platform: Any) -> int:
    """A breakout room whose notes are still in the node's write-behind buffer (not stored):
    only a flush writes them."""
    from pycrdt import Doc, Map, Text

    from rooms.notes import THEMES
    from server.breakout.models import BreakoutRoom, BreakoutRound
    from server.notes.sockets import registry

    async with platform.db.transaction() as db:
        event = await get_event(db, "hosten-2020")
        round_ = BreakoutRound(event_id=event.id, status="closed")
        db.add(round_)
        await db.flush()
        room = BreakoutRoom(round_id=round_.id, event_id=event.id, key="syd", name="Rum Syd",
                            regions=["M"])
        db.add(room)
        await db.flush()
        room_id, theme = room.id, event.themes[0].key
    doc: Doc = Doc()
    doc.get(THEMES, type=Map)[theme] = Text(NOTES_TEXT)
    storage = registry(platform).storage
    storage._interval = 3600  # no timed write-behind during the test: the publish job flushes
    await storage.append_update(str(room_id), doc.get_update())
    assert storage.buffered(str(room_id))
    return room_id


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
    for start, title in (("0", "Inledning"), ("0:00:04", "Samtal"), ("0:00:06.8", "Efteråt")):
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
    async with platform.db.session() as db:
        draft = await db.scalar(select(Publication).where(Publication.recording_id == recording_id))
    # Speakers prefilled from the recorded items (the first two), not the whole programme.
    assert draft.speakers == ["Anja Dahlstedt", "Oskar Laurin"]
    await room_with_buffered_notes(platform)
    async with platform.db.transaction() as db:
        event = await get_event(db, "hosten-2020")
        db.add(Poll(event_id=event.id, question="Har er region en biblioteksplan?",
                    options=["Ja", "Nej"], status="closed"))
        db.add(CaptionLine(event_id=event.id, text="Välkomna till Träffpunkt"))

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
    # The listed speakers and the programme's speakers of the recorded items.
    assert (
        "Samtycke saknas från: Anna Andersson, Bo Berg, Anja Dahlstedt, Oskar Laurin"
        in (await refused.get_data()).decode()
    )
    await consent_all(client, csrf, recording_id, ["Anna Andersson", "Bo Berg", "Anja Dahlstedt"])
    refused = await client.post(
        f"/archive/recordings/{recording_id}/publish", form={"csrf_token": csrf}
    )
    assert "Samtycke saknas från: Oskar Laurin" in (await refused.get_data()).decode()
    await consent_all(client, csrf, recording_id, ["Oskar Laurin"])
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
    assert "Efteråt" not in chapters  # starts after the out point
    assert "Välkomna" in (media / "captions.sv.vtt").read_text()

    validated = subprocess.run([str(BAGIT), "--validate", str(bag)], capture_output=True, text=True)
    assert validated.returncode == 0, validated.stderr
    assert (bag / "manifest-sha256.txt").exists()
    meta = json.loads((bag / "data" / "metadata.json").read_text())
    assert meta["@type"] == "VideoObject" and meta["name"] == "Höstens träff 2020"
    for term in ("title", "creator", "date", "description", "language", "rights"):
        assert meta[f"dcterms:{term}"], term
    assert meta["dcterms:creator"] == ["Anna Andersson", "Bo Berg"]
    # Chapters on the published video's timeline, as in chapters.vtt: the cut starts at the
    # key frame before the in point (3 s), 6.5 s - duration into the recording.
    cut_start = 6.5 - duration
    assert [c["name"] for c in meta["hasPart"]] == ["Inledning", "Samtal"]
    inledning, samtal = meta["hasPart"]
    assert inledning["startOffset"] == 0
    assert samtal["startOffset"] == pytest.approx(4.0 - cut_start, abs=0.15)
    assert samtal["startOffset"] < 4.0 - 0.5 and samtal["endOffset"] <= duration + 0.1
    vtt = pubs.read_chapters(media / "chapters.vtt")
    assert [(c["title"], c["start"]) for c in vtt] == [
        (c["name"], pytest.approx(c["startOffset"], abs=0.002)) for c in meta["hasPart"]
    ]
    programme = json.loads((bag / "data" / "record" / "programme.json").read_text())
    assert len(programme["items"]) == 8
    assert ["stiftelsen Begripsam"] in [i["organisations"] for i in programme["items"]]
    assert (bag / "data" / "record" / "qa.json").exists()
    assert (bag / "data" / "record" / "feedback.csv").exists()
    polls = json.loads((bag / "data" / "record" / "polls.json").read_text("utf-8"))
    assert [(p["question"], p["option"], p["votes"]) for p in polls] == [
        ("Har er region en biblioteksplan?", answer, 0) for answer in ("Ja", "Nej")]
    lines = json.loads((bag / "data" / "record" / "captions.json").read_text("utf-8"))
    assert [line["text"] for line in lines] == ["Välkomna till Träffpunkt"]
    assert (bag / "data" / "record" / "notes.json").exists(), "each room's notes per theme"
    notes = json.loads((bag / "data" / "record" / "notes.json").read_text("utf-8"))
    # The buffered notes were flushed before the bag read them.
    assert [n["room"] for n in notes if n["text"] == NOTES_TEXT] == ["Rum Syd"]
    assert NOTES_TEXT in (bag / "data" / "record" / "notes.csv").read_text("utf-8")
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
    assert (await edit(client, csrf, recording_id, **fields)).status_code == 302
    await consent_required(app, client, csrf, recording_id)
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
    app.platform.need(pubs.JOBS).budget = lambda root: WriteBudget(root, limit=20_000)
    code, state = await _failing_publish(app, client, tmp_path, trim_in="0", trim_out="")
    assert code == "publish.disk_full"
    assert "Disken är full" in state["error"]["message"]


# -- consent and the draft, without a real stage (rows written directly) ----------------------


async def _recording_row(app: Any, status: str = "stopped", item_ids: tuple[int, ...] = ()) -> int:
    """A recording of the demo event with programme marks for `item_ids`."""
    async with app.platform.db.transaction() as db:
        event = await get_event(db, "hosten-2020")
        rec = Recording(event_id=event.id, file_path="recordings/none.mp4", status=status,
                        duration_seconds=None if status == "recording" else 60.0)
        db.add(rec)
        await db.flush()
        for n, item_id in enumerate(item_ids):
            item = next(i for i in event.items if i.id == item_id)
            db.add(ChapterMark(recording_id=rec.id, offset_seconds=10.0 * n, title=item.title,
                               item_id=item_id))
        return rec.id


async def _publish_refusal(client: Any, csrf: str, recording_id: int) -> str:
    r = await client.post(f"/archive/recordings/{recording_id}/publish", form={"csrf_token": csrf})
    assert r.status_code == 400
    return (await r.get_data()).decode()


async def test_emptying_the_speakers_does_not_skip_consent(app, client) -> None:
    """The programme's speakers of the recorded items must consent even when the archivist
    lists nobody; or the archivist confirms, audited, that no identifiable speaker appears."""
    from server.platform.models import AuditEntry

    async with app.platform.db.session() as db:
        event = await get_event(db, "hosten-2020")
        first = event.items[0]
    recording_id = await _recording_row(app, item_ids=(first.id,))
    await staff(app.platform, "arkivarie", "archivist")
    csrf = await login(client, "arkivarie")
    await client.get(f"/archive/recordings/{recording_id}")
    assert (await edit(client, csrf, recording_id, speakers="")).status_code == 302

    page = await _publish_refusal(client, csrf, recording_id)
    assert "Samtycke saknas från: Anja Dahlstedt" in page
    page = (await (await client.get(f"/archive/recordings/{recording_id}")).get_data()).decode()
    assert "Anja Dahlstedt" in page and 'id="publish-button" disabled' in page

    # The confirmation "no identifiable speaker appears" is the other way, stored and audited.
    r = await client.post(f"/archive/recordings/{recording_id}/no-speakers",
                          form={"csrf_token": csrf, "given": "1"})
    assert r.status_code == 302
    async with app.platform.db.session() as db:
        pub = await db.scalar(select(Publication).where(Publication.recording_id == recording_id))
        assert pub.no_speakers_by == "Arkivarie" and pub.no_speakers_at is not None
        assert not (await pubs.blockers(db, pub)).any
        audited = await db.scalar(select(AuditEntry).where(
            AuditEntry.action == "publication.no_speakers"))
        assert audited is not None and audited.target == f"publication:{pub.id}"
    page = (await (await client.get(f"/archive/recordings/{recording_id}")).get_data()).decode()
    assert 'id="no-speakers-confirmed"' in page and 'id="publish-button" disabled' not in page

    # Naming a speaker voids the confirmation: the named one must consent.
    assert (await edit(client, csrf, recording_id, speakers="Anna Andersson")).status_code == 302
    page = await _publish_refusal(client, csrf, recording_id)
    assert "Samtycke saknas från: Anna Andersson, Anja Dahlstedt" in page
    r = await client.post(f"/archive/recordings/{recording_id}/no-speakers",
                          form={"csrf_token": csrf, "given": "1"})
    assert r.status_code == 400 and "Talare är angivna" in (await r.get_data()).decode()
    await consent_all(client, csrf, recording_id, ["Anna Andersson", "Anja Dahlstedt"])
    async with app.platform.db.session() as db:
        pub = await db.scalar(select(Publication).where(Publication.recording_id == recording_id))
        assert not (await pubs.blockers(db, pub)).any


async def test_nobody_listed_and_nothing_marked_needs_the_confirmation(app, client) -> None:
    recording_id = await _recording_row(app)  # no programme item was marked
    await staff(app.platform, "arkivarie", "archivist")
    csrf = await login(client, "arkivarie")
    await client.get(f"/archive/recordings/{recording_id}")
    assert (await edit(client, csrf, recording_id, speakers="")).status_code == 302
    page = await _publish_refusal(client, csrf, recording_id)
    assert "bekräfta att ingen identifierbar talare syns eller hörs" in page
    r = await client.post(f"/archive/recordings/{recording_id}/no-speakers",
                          form={"csrf_token": csrf, "given": "1"})
    assert r.status_code == 302
    async with app.platform.db.session() as db:
        pub = await db.scalar(select(Publication).where(Publication.recording_id == recording_id))
        assert not (await pubs.blockers(db, pub)).any


async def test_draft_opened_mid_recording_follows_later_marks_until_saved(app, client) -> None:
    platform = app.platform
    async with platform.db.session() as db:
        event = await get_event(db, "hosten-2020")
        items = event.items
    recording_id = await _recording_row(app, status="recording", item_ids=(items[0].id,))
    await staff(platform, "arkivarie", "archivist")
    csrf = await login(client, "arkivarie")
    page = (await (await client.get(f"/archive/recordings/{recording_id}")).get_data()).decode()
    assert items[0].title in page and items[1].title not in page

    # The programme moves on while the page is open (the moderator's set_current).
    async with platform.db.transaction() as db:
        await recording.mark_chapter(db, platform, event.id, item_id=items[1].id)
    page = (await (await client.get(f"/archive/recordings/{recording_id}")).get_data()).decode()
    assert items[1].title in page
    async with platform.db.transaction() as db:
        rec = await db.get(Recording, recording_id)
        rec.status, rec.duration_seconds = "stopped", 95.0
    await client.get(f"/archive/recordings/{recording_id}")
    async with platform.db.session() as db:
        pub = await db.scalar(select(Publication).where(Publication.recording_id == recording_id))
    assert [c["title"] for c in pub.chapters] == [items[0].title, items[1].title]
    assert pub.trim_out == 95.0  # the out point follows the finished recording too
    speakers = [s.name for item in items[:2] for s in item.speakers]
    assert pub.speakers == speakers and pub.edited_at is None

    # Once an archivist saves, the draft is theirs: later marks change nothing.
    assert (await edit(client, csrf, recording_id)).status_code == 302
    async with platform.db.transaction() as db:
        db.add(ChapterMark(recording_id=recording_id, offset_seconds=90.0, title="Sent märke"))
    page = (await (await client.get(f"/archive/recordings/{recording_id}")).get_data()).decode()
    assert "Sent märke" not in page
    async with platform.db.session() as db:
        pub = await db.scalar(select(Publication).where(Publication.recording_id == recording_id))
    assert [c["title"] for c in pub.chapters] == ["Inledning", "Samtal", "Efteråt"]
    assert pub.edited_by == "Arkivarie"
