"""Publication for Play: the archivist's edit of a recording, speakers' consent, the publish
job (a background task owned by `PublishJobs`, its state in the database), and the archival
BagIt package holding the video and the meeting record of the day.

The media work itself (cut, MP4, HLS, poster, WebVTT) is `streaming.publish`; this module
adds what needs the database: metadata, the record parts and the bag.
"""

from __future__ import annotations

import asyncio
import errno
import json
import secrets
import shutil
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import bagit
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.captions import service as captions
from server.feedback import report as feedback_report
from server.notes import service as notes
from server.platform import audit
from server.platform import programme as events
from server.platform.auth import Principal
from server.platform.errors import DomainError, NotFound, log_unexpected
from server.platform.exports import csv_bytes
from server.platform.models import Event, utcnow
from server.platform.node import Key, Platform
from server.polls import service as polls
from server.qa import service as qa
from server.recording.models import ChapterMark, Publication, Recording, SpeakerConsent
from server.recording.service import chapter_marks
from streaming import StreamingError
from streaming.publish import (
    Chapter,
    PublishResult,
    PublishSpec,
    WriteBudget,
    publish_media,
    validate_webvtt,
)

PUBLICATIONS_DIR = "publications"
MEDIA_DIR = "media"
MAX_CAPTIONS_BYTES = 2 * 1024 * 1024
PUBLISHER = "Kungliga biblioteket"

# -- the meeting record: parts features register ----------------------------------------


@dataclass(frozen=True)
class RecordFile:
    """One file of the meeting record, relative to `record/` in the bag."""

    name: str
    data: bytes


RecordProvider = Callable[[AsyncSession, int], Awaitable[list[RecordFile] | None]]


@dataclass(frozen=True)
class RecordPart:
    """A part of the day's record (the programme, the Q&A, ...). `provide` returns its files,
    or None when the feature is not installed here (the bag's README says it is absent)."""

    name: str
    title: str
    provide: RecordProvider


@dataclass
class RecordParts:
    """The registry of record parts; features add theirs with `register`."""

    parts: list[RecordPart] = field(default_factory=list)

    def register(self, part: RecordPart) -> None:
        self.parts = [p for p in self.parts if p.name != part.name] + [part]


PARTS = Key("recording.record_parts", RecordParts)


def rows_files(stem: str, rows: list[dict[str, Any]]) -> list[RecordFile]:
    """Rows as JSON (exact) and CSV (for a spreadsheet), both UTF-8."""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    return [
        RecordFile(f"{stem}.json", _json(rows)),
        RecordFile(f"{stem}.csv", csv_bytes(rows, columns, bom=False)),
    ]


def rows_part(export: Callable[[AsyncSession, int], Awaitable[list[dict[str, Any]]]], stem: str
              ) -> RecordProvider:
    """A provider writing a feature's export rows (`export(db, event_id)`) as CSV and JSON."""

    async def provide(db: AsyncSession, event_id: int) -> list[RecordFile] | None:
        return rows_files(stem, await export(db, event_id))

    return provide


async def _programme(db: AsyncSession, event_id: int) -> list[RecordFile]:
    event = await events.get_event_by_id(db, event_id)
    view = events.programme_view(event)
    view["event"].update(
        description=event.description,
        location=event.location,
        starts_at=event.starts_at.isoformat(),
    )
    return [RecordFile("programme.json", _json(view))]


def default_parts() -> tuple[RecordPart, ...]:
    return (
        RecordPart("programme", "Programmet med talare och §18-teman", _programme),
        RecordPart("qa", "Frågor och svar (export)", rows_part(qa.export_rows, "qa")),
        RecordPart("notes", "Anteckningar per rum och tema",
                   rows_part(notes.export_parts, "notes")),
        RecordPart("feedback", "Regional återkoppling",
                   rows_part(feedback_report.export_rows, "feedback")),
        RecordPart("polls", "Omröstningar och resultat", rows_part(polls.export_rows, "polls")),
        RecordPart("captions", "Direkttextning (transkript)",
                   rows_part(captions.export_rows, "captions")),
    )


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str).encode()


# -- the archivist's edit ------------------------------------------------------------------


class ChapterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: float = Field(ge=0, le=24 * 3600)
    title: str = Field(min_length=1, max_length=300)


class EditIn(BaseModel):
    """What the archivist may change before publishing."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=300)
    description: str = Field("", max_length=10000)
    speakers: list[str] = Field(default_factory=list, max_length=50)
    chapters: list[ChapterIn] = Field(default_factory=list, max_length=200)
    trim_in: float = Field(0.0, ge=0, le=24 * 3600)
    trim_out: float | None = Field(None, ge=0, le=24 * 3600)
    poster_at: float | None = Field(None, ge=0, le=24 * 3600)
    rights: str = Field("", max_length=300)


async def recording_or_404(db: AsyncSession, recording_id: int) -> Recording:
    row = await db.get(Recording, recording_id)
    if row is None:
        raise NotFound("recording.not_found", "Inspelningen finns inte.")
    return row


async def event_of_recording(db: AsyncSession, recording_id: int) -> int | None:
    """The event a recording route is about (staff's role there decides: Feature.events_of)."""
    return await db.scalar(select(Recording.event_id).where(Recording.id == recording_id))


async def event_of_publication(db: AsyncSession, pub_id: int) -> int | None:
    return await db.scalar(select(Recording.event_id).join(
        Publication, Publication.recording_id == Recording.id).where(Publication.id == pub_id))


def programme_speakers(event: Event, item_ids: set[int] | None = None) -> list[str]:
    """The programme's speakers, in programme order; only those of `item_ids` if given."""
    return list(dict.fromkeys(
        s.name for item in event.items if item_ids is None or item.id in item_ids
        for s in item.speakers
    ))


def recorded_items(marks: list[ChapterMark]) -> set[int]:
    """The programme items on stage during the recording: each has a mark (the item current
    when the recording started is marked at 0)."""
    return {m.item_id for m in marks if m.item_id is not None}


def _prefill(pub: Publication, event: Event, recording: Recording, marks: list[ChapterMark]
             ) -> None:
    """What the programme and the marks say: chapters, the recorded items' speakers (the
    whole programme's if no item was marked) and the out point."""
    items = recorded_items(marks)
    prefill = {
        "speakers": programme_speakers(event, items or None),
        "chapters": [{"start": m.offset_seconds, "title": m.title} for m in marks],
        "trim_out": recording.duration_seconds,
    }
    for name, value in prefill.items():
        if getattr(pub, name) != value:  # an unchanged draft is not written again
            setattr(pub, name, value)


@dataclass(frozen=True)
class ItemSpan:
    """Where one programme item is in a recording: from its mark to the next item's mark (or
    the end), and the chapters marked inside it."""

    item_id: int
    title: str
    start: float
    end: float | None


def item_spans(marks: list[ChapterMark], duration: float | None) -> list[ItemSpan]:
    """The recorded programme items in recording order, each cut at the chapter marks: an item
    ends where the next item's mark is (a moderator's mark without an item stays inside)."""
    starts = [m for m in sorted(marks, key=lambda m: m.offset_seconds) if m.item_id is not None]
    spans: dict[int, ItemSpan] = {}
    for n, mark in enumerate(starts):
        assert mark.item_id is not None
        if mark.item_id in spans:  # the stage went back to it: its film is its first span
            continue
        after = [m.offset_seconds for m in starts[n + 1:] if m.item_id != mark.item_id]
        spans[mark.item_id] = ItemSpan(mark.item_id, mark.title, mark.offset_seconds,
                                       after[0] if after else duration)
    return list(spans.values())


async def day_publication(db: AsyncSession, recording_id: int) -> Publication | None:
    return await db.scalar(select(Publication).where(
        Publication.recording_id == recording_id, Publication.parent_id.is_(None)))


async def film_of(db: AsyncSession, recording_id: int, item_id: int | None
                  ) -> Publication | None:
    """The publication made so far of a recording (the whole day), or of one of its programme
    items' films; None before anyone opened it."""
    day = await day_publication(db, recording_id)
    if item_id is None or day is None:
        return day
    return await db.scalar(select(Publication).where(
        Publication.parent_id == day.id, Publication.item_id == item_id))


async def item_films(db: AsyncSession, pub: Publication) -> dict[int, Publication]:
    """The day's films per programme item made so far, by item."""
    rows = await db.scalars(select(Publication).where(Publication.parent_id == pub.id))
    return {f.item_id: f for f in rows if f.item_id is not None}


async def publication_for(db: AsyncSession, recording: Recording, item_id: int | None = None
                          ) -> Publication:
    """The recording's publication (the whole day, or the film of programme item `item_id`),
    created prefilled from the programme and the marks.

    Until an archivist first saves the edit, the draft keeps following the marks: a page
    opened while the stage is still recorded shows the chapters made since."""
    if item_id is not None:
        return await _item_film_for(db, recording, item_id)
    pub = await day_publication(db, recording.id)
    if pub is not None and (pub.edited_at is not None or pub.status != "draft"):
        return pub
    event = await events.get_event_by_id(db, recording.event_id)
    marks = await chapter_marks(db, recording.id)
    if pub is None:
        pub = Publication(
            recording_id=recording.id,
            title=event.title,
            description=event.description,
            trim_in=0.0,
            rights="© Kungliga biblioteket",
            language="sv",
            status="draft",
        )
        db.add(pub)
    _prefill(pub, event, recording, marks)
    await db.flush()
    return pub


async def _item_film_for(db: AsyncSession, recording: Recording, item_id: int) -> Publication:
    """A programme item's film: cut at its chapter marks, titled, described and credited as
    the programme has it, with the day's chapters inside it; the day's publication is its parent
    (made here when it is not yet)."""
    day = await publication_for(db, recording)
    film = await film_of(db, recording.id, item_id)
    if film is not None and (film.edited_at is not None or film.status != "draft"):
        return film
    marks = await chapter_marks(db, recording.id)
    span = next((s for s in item_spans(marks, recording.duration_seconds)
                 if s.item_id == item_id), None)
    event = await events.get_event_by_id(db, recording.event_id)
    item = next((i for i in event.items if i.id == item_id), None)
    if span is None or item is None:
        raise NotFound("publication.item_not_recorded",
                       "Programpunkten finns inte i inspelningen.")
    if film is None:
        film = Publication(recording_id=recording.id, parent_id=day.id, item_id=item_id,
                           rights=day.rights, language=day.language, status="draft")
        db.add(film)
    prefill = {
        "title": item.title,
        "description": item.description,
        "speakers": programme_speakers(event, {item_id}),
        "trim_in": span.start,
        "trim_out": span.end,
        "chapters": [c for c in day.chapters
                     if span.start <= float(c["start"]) < (span.end or float("inf"))],
    }
    for name, value in prefill.items():
        if getattr(film, name) != value:
            setattr(film, name, value)
    await db.flush()
    return film


async def save_edit(db: AsyncSession, actor: Principal, pub: Publication, data: EditIn) -> None:
    actor.require_role("archivist")
    _not_running(pub)
    if data.trim_out is not None and data.trim_out <= data.trim_in:
        raise DomainError("publication.bad_trim", "Utpunkten måste ligga efter inpunkten.")
    pub.title, pub.description, pub.rights = data.title, data.description, data.rights
    pub.speakers = list(dict.fromkeys(s.strip() for s in data.speakers if s.strip()))
    if pub.speakers:  # someone identifiable is named: the "no speaker" confirmation is void
        pub.no_speakers_by, pub.no_speakers_at = "", None
    pub.chapters = [c.model_dump() for c in sorted(data.chapters, key=lambda c: c.start)]
    pub.trim_in, pub.trim_out, pub.poster_at = data.trim_in, data.trim_out, data.poster_at
    pub.updated_at = pub.edited_at = utcnow()
    pub.edited_by = actor.name[:120]
    audit.record(db, actor, None, "publication.edit", f"publication:{pub.id}")


def set_captions(actor: Principal, pub: Publication, raw: bytes) -> int:
    """Validate and keep an uploaded WebVTT file; returns the number of cues."""
    actor.require_role("archivist")
    _not_running(pub)
    if len(raw) > MAX_CAPTIONS_BYTES:
        raise DomainError("captions.too_large", "Textningsfilen är för stor (högst 2 MB).")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DomainError(
            "captions.invalid", f"Rad {line}: filen är inte UTF-8.", line=line,
            key="captions.invalid.encoding",
        ) from exc
    try:
        cues = validate_webvtt(text)
    except StreamingError as exc:
        line = getattr(exc, "line", 0)
        reason = exc.message.split(": ", 1)[-1]
        raise DomainError(
            "captions.invalid", f"Rad {line}: {reason}", line=line, reason=reason
        ) from exc
    pub.captions_vtt = text
    return len(cues)


async def consents(db: AsyncSession, pub: Publication) -> dict[str, SpeakerConsent]:
    rows = await db.scalars(select(SpeakerConsent).where(SpeakerConsent.publication_id == pub.id))
    return {c.speaker_name: c for c in rows}


async def confirm_consent(
    db: AsyncSession, actor: Principal, pub: Publication, speaker: str, given: bool
) -> None:
    """Record (or withdraw) a speaker's consent, with who confirmed it and when."""
    actor.require_role("archivist")
    existing = (await consents(db, pub)).get(speaker)
    if given and existing is None:
        db.add(
            SpeakerConsent(
                publication_id=pub.id,
                speaker_name=speaker[:120],
                confirmed_by_id=actor.id,
                confirmed_by=actor.name,
            )
        )
    elif not given and existing is not None:
        await db.delete(existing)
    audit.record(
        db,
        actor,
        None,
        "publication.consent",
        f"publication:{pub.id}",
        speaker=speaker,
        given=given,
    )


async def required_speakers(db: AsyncSession, pub: Publication) -> list[str]:
    """Whose consent publishing needs: the listed speakers and every programme speaker of
    the recorded items, or of its item for an item's film (emptying the list does not remove
    the programme's)."""
    recording = await recording_or_404(db, pub.recording_id)
    items = {pub.item_id} if pub.item_id is not None \
        else recorded_items(await chapter_marks(db, recording.id))
    programme = programme_speakers(await events.get_event_by_id(db, recording.event_id), items)
    return list(dict.fromkeys([*pub.speakers, *programme]))


@dataclass(frozen=True)
class Blockers:
    """What stands between a draft and "Publish"."""

    missing: list[str]  # speakers without a confirmed consent
    needs_no_speaker_confirmation: bool  # nobody to ask: an archivist must say nobody appears

    @property
    def any(self) -> bool:
        return bool(self.missing) or self.needs_no_speaker_confirmation


async def blockers(db: AsyncSession, pub: Publication) -> Blockers:
    """Consent from every required speaker, or, with no speaker listed, the audited
    confirmation that no identifiable speaker appears."""
    if not pub.speakers and pub.no_speakers_at is not None:
        return Blockers([], False)
    have = await consents(db, pub)
    required = await required_speakers(db, pub)
    return Blockers([s for s in required if s not in have], not required)


async def missing_consent(db: AsyncSession, pub: Publication) -> list[str]:
    return (await blockers(db, pub)).missing


async def confirm_no_speakers(
    db: AsyncSession, actor: Principal, pub: Publication, given: bool
) -> None:
    """Record (or withdraw) that no identifiable speaker appears in the recording: allowed
    only while no speaker is listed; stored with who and when, and audited."""
    actor.require_role("archivist")
    _not_running(pub)
    if given and pub.speakers:
        raise DomainError(
            "publication.has_speakers",
            "Talare är angivna: de måste samtycka. Töm listan först om ingen syns eller hörs.",
        )
    pub.no_speakers_by, pub.no_speakers_at = (actor.name[:120], utcnow()) if given else ("", None)
    audit.record(
        db, actor, None, "publication.no_speakers", f"publication:{pub.id}", given=given
    )


def _not_running(pub: Publication) -> None:
    if pub.status in ("queued", "running"):
        raise DomainError("publication.busy", "Publiceringen pågår; vänta tills den är klar.")


# -- the publish job -------------------------------------------------------------------------

BudgetFactory = Callable[[Path], WriteBudget]


@dataclass
class JobProgress:
    fraction: float = 0.0
    step: str = "queued"


class PublishJobs:
    """Owns the running publish tasks of this node; `stop()` cancels them on shutdown.

    `budget` decides how much a job may write (tests give a tiny one to simulate a full disk).
    """

    def __init__(self, platform: Platform, budget: BudgetFactory | None = None) -> None:
        self.platform = platform
        self.budget: BudgetFactory = budget or (lambda root: WriteBudget(root))
        self.tasks: dict[int, asyncio.Task[None]] = {}

    @property
    def root(self) -> Path:
        return Path(self.platform.settings.media_root) / PUBLICATIONS_DIR

    async def start(self) -> None:
        """Jobs that were running when the process died did not finish: say so."""
        async with self.platform.db.transaction() as db:
            rows = await db.scalars(
                select(Publication).where(Publication.status.in_(("queued", "running")))
            )
            for pub in rows:
                _fail(
                    pub, "publish.interrupted", "Publiceringen avbröts av en omstart. Försök igen."
                )

    async def stop(self) -> None:
        for task in list(self.tasks.values()):
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)

    async def submit(self, actor: Principal, recording_id: int, item_id: int | None = None
                     ) -> Publication:
        """Queue the publication of a recording (or of one programme item's film from it):
        every speaker must have consented."""
        actor.require_role("archivist")
        async with self.platform.db.transaction() as db:
            # Locked: the retention purge locks the row too, so it never deletes a recording
            # whose publish is being queued (it sees the job once this commits).
            recording = await db.get(Recording, recording_id, with_for_update=True)
            if recording is None:
                raise NotFound("recording.not_found", "Inspelningen finns inte.")
            if recording.status == "recording":
                raise DomainError("publication.still_recording", "Stoppa inspelningen först.")
            pub = await publication_for(db, recording, item_id)
            _not_running(pub)
            blocked = await blockers(db, pub)
            if blocked.missing:
                raise DomainError(
                    "publication.consent_missing",
                    "Samtycke saknas från: " + ", ".join(blocked.missing),
                    speakers=blocked.missing, names=", ".join(blocked.missing),
                )
            if blocked.needs_no_speaker_confirmation:
                raise DomainError(
                    "publication.speakers_unconfirmed",
                    "Ange talarna, eller bekräfta att ingen identifierbar talare syns eller hörs.",
                )
            pub.status, pub.progress, pub.step = "queued", 0, "queued"
            pub.error_code = pub.error_message = ""
            audit.record(
                db, actor, recording.event_id, "publication.publish", f"publication:{pub.id}"
            )
        self.tasks[pub.id] = task = asyncio.create_task(self._run(pub.id))
        task.add_done_callback(lambda _t: self.tasks.pop(pub.id, None))
        return pub

    async def _run(self, pub_id: int) -> None:
        staging = self.root / f"{pub_id}.partial-{secrets.token_hex(4)}"
        progress = JobProgress()
        ticker = asyncio.create_task(self._tick(pub_id, progress))
        try:
            folder = await self._build(pub_id, staging, progress)
            await self._finish(pub_id, folder)
        except asyncio.CancelledError:
            await self._failed(pub_id, "publish.cancelled", "Publiceringen avbröts.")
            raise
        except Exception as exc:
            await self._failed(pub_id, *_describe(exc))
        finally:
            ticker.cancel()
            shutil.rmtree(staging, ignore_errors=True)

    async def _tick(self, pub_id: int, progress: JobProgress) -> None:
        """Write the thread's progress to the database (what the page polls) twice a second."""
        while True:
            async with self.platform.db.transaction() as db:
                pub = await db.get(Publication, pub_id)
                if pub is not None and pub.status in ("queued", "running"):
                    pub.status, pub.step = "running", progress.step
                    pub.progress = min(99, round(progress.fraction * 100))
            await asyncio.sleep(0.5)

    async def _build(self, pub_id: int, staging: Path, progress: JobProgress) -> Path:
        async with self.platform.db.session() as db:
            pub = await db.get(Publication, pub_id)
            assert pub is not None
            recording = await recording_or_404(db, pub.recording_id)
            event = await events.get_event_by_id(db, recording.event_id)
            day = await db.get(Publication, pub.parent_id) if pub.parent_id else None
            films = [] if day else sorted(
                (await item_films(db, pub)).values(), key=lambda f: f.trim_in)
        bag_dir = staging / "bag"
        spec = _spec(
            pub, Path(self.platform.settings.media_root) / recording.file_path, bag_dir / MEDIA_DIR,
            day,
        )
        staging.mkdir(parents=True)
        budget = self.budget(staging)

        def report(fraction: float, step: str) -> None:
            progress.fraction, progress.step = fraction, step

        result = await asyncio.to_thread(publish_media, spec, report, budget)
        report(0.8, "record")
        if day is None:
            absent = await self._record(recording.event_id, bag_dir)
        else:  # the day's record is in the day's package; an item's film carries its item
            absent = []
            await self._item_record(pub, bag_dir)
        (bag_dir / "metadata.json").write_bytes(
            _json(metadata(pub, event, recording, result, day, films)))
        _write_readme(bag_dir, pub, event, absent, day)
        report(0.9, "bag")
        await asyncio.to_thread(_bag_and_zip, bag_dir, pub, event, budget)
        return staging

    async def _record(self, event_id: int, bag_dir: Path) -> list[RecordPart]:
        """Write each part of the meeting record; return the parts absent on this install."""
        await _flush_notes(self.platform)
        absent = []
        for part in self.platform.need(PARTS).parts:
            async with self.platform.db.session() as db:
                files = await part.provide(db, event_id)
            if files is None:
                absent.append(part)
                continue
            for item in files:
                target = bag_dir / "record" / item.name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(item.data)
        return absent

    async def _item_record(self, pub: Publication, bag_dir: Path) -> None:
        """An item's film: the programme item it shows (speakers, themes, material)."""
        async with self.platform.db.session() as db:
            recording = await recording_or_404(db, pub.recording_id)
            view = events.programme_view(await events.get_event_by_id(db, recording.event_id))
        item = next((i for i in view["items"] if i.get("id") == pub.item_id), None)
        target = bag_dir / "record" / "programme-item.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(_json(item or {"title": pub.title}))

    async def _finish(self, pub_id: int, staging: Path) -> None:
        final = self.root / str(pub_id)
        old = self.root / f"{pub_id}.old-{secrets.token_hex(4)}"
        if final.exists():
            final.rename(old)
        staging.rename(final)
        shutil.rmtree(old, ignore_errors=True)
        async with self.platform.db.transaction() as db:
            pub = await db.get(Publication, pub_id)
            assert pub is not None
            pub.status, pub.progress, pub.step = "published", 100, "done"
            pub.output_dir = str(final.relative_to(self.platform.settings.media_root))
            pub.published_at = pub.updated_at = utcnow()

    async def _failed(self, pub_id: int, code: str, message: str) -> None:
        async with self.platform.db.transaction() as db:
            pub = await db.get(Publication, pub_id)
            if pub is not None:
                _fail(pub, code, message)


async def _flush_notes(platform: Platform) -> None:
    """Write this node's buffered note updates (server/notes/service.py writes behind) before
    the notes part reads what is stored."""
    await platform.need(notes.REGISTRY).storage.flush()


def _fail(pub: Publication, code: str, message: str) -> None:
    pub.status, pub.step, pub.error_code, pub.error_message = (
        "failed",
        "failed",
        code,
        message[:500],
    )


def _describe(exc: BaseException) -> tuple[str, str]:
    """A failure as (code, message) for the archivist's page; unexpected ones are logged."""
    if isinstance(exc, StreamingError):
        return exc.code, exc.message
    if isinstance(exc, DomainError):
        return exc.code, exc.message
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return (
            "publish.disk_full",
            "Disken är full: publiceringen fick inte plats. Inspelningen är orörd.",
        )
    if isinstance(exc, OSError):
        return "publish.io_error", f"Filerna kunde inte skrivas: {exc.strerror or exc}"
    log_unexpected("publish job", exc)
    return "publish.failed", "Publiceringen misslyckades av ett oväntat fel."


def _spec(pub: Publication, source: Path, out_dir: Path, day: Publication | None = None
          ) -> PublishSpec:
    """What to cut. An item's film without captions of its own takes the day's (they are on
    the recording's timeline too: the cut shifts and trims them to the film)."""
    chapters = tuple(Chapter(float(c["start"]), str(c["title"])) for c in pub.chapters)
    return PublishSpec(
        source=source,
        out_dir=out_dir,
        trim_in=pub.trim_in,
        trim_out=pub.trim_out,
        chapters=chapters,
        captions_vtt=pub.captions_vtt or (day.captions_vtt if day else None),
        poster_at=pub.poster_at,
    )


# -- metadata, README, bag ---------------------------------------------------------------------


def _iso_duration(seconds: float) -> str:
    return f"PT{seconds:.3f}S"


def identifier(pub_id: int) -> str:
    return f"traffpunkt:publication:{pub_id}"


def metadata(
    pub: Publication, event: Event, recording: Recording, result: PublishResult,
    day: Publication | None = None, films: list[Publication] | None = None,
) -> dict[str, Any]:
    """schema.org VideoObject with Dublin Core terms (dcterms:) for the same facts. An item's
    film is part of the day's film (`isPartOf`, `dcterms:isPartOf`); the day's lists the films
    per item made of it (`dcterms:hasPart`, with their cut on the recording)."""
    date = recording.started_at.date().isoformat()
    media = {k: f"{MEDIA_DIR}/{v}" for k, v in result.files.items()}
    of_event = {"@type": "Event", "name": event.title, "startDate": event.starts_at.isoformat()}
    parts = {
        "dcterms:isPartOf": identifier(day.id),
        "isPartOf": [{"@type": "VideoObject", "name": day.title, "identifier": identifier(day.id)},
                     of_event],
        "dcterms:relation": f"traffpunkt:programme-item:{pub.item_id}",
    } if day else {
        "isPartOf": of_event,
        "dcterms:hasPart": [identifier(f.id) for f in films or []],
        "workExample": [
            {"@type": "VideoObject", "name": f.title, "identifier": identifier(f.id),
             "status": f.status, "startOffset": f.trim_in, "endOffset": f.trim_out}
            for f in films or []
        ],
    }
    return {
        "@context": {"@vocab": "https://schema.org/", "dcterms": "http://purl.org/dc/terms/"},
        "@type": "VideoObject",
        "name": pub.title,
        "description": pub.description,
        "inLanguage": pub.language,
        "uploadDate": utcnow().isoformat(),
        "dateCreated": recording.started_at.isoformat(),
        "duration": _iso_duration(result.duration),
        "encodingFormat": "video/mp4",
        "width": result.width,
        "height": result.height,
        "contentUrl": media["video"],
        "thumbnailUrl": media["poster"],
        "creator": [{"@type": "Person", "name": s} for s in pub.speakers],
        "publisher": {"@type": "Organization", "name": PUBLISHER},
        "copyrightNotice": pub.rights,
        **parts,
        "hasPart": [  # on the published video's timeline, like chapters.vtt
            {"@type": "Clip", "name": c.title, "startOffset": c.start, "endOffset": c.end}
            for c in result.chapters
        ],
        "caption": media.get("captions"),
        "associatedMedia": media,
        "dcterms:title": pub.title,
        "dcterms:creator": pub.speakers,
        "dcterms:date": date,
        "dcterms:description": pub.description,
        "dcterms:language": pub.language,
        "dcterms:rights": pub.rights,
        "dcterms:publisher": PUBLISHER,
        "dcterms:identifier": identifier(pub.id),
        "dcterms:format": "video/mp4",
        "dcterms:type": "MovingImage",
        "dcterms:extent": _iso_duration(result.duration),
    }


def _write_readme(bag_dir: Path, pub: Publication, event: Event, absent: list[RecordPart],
                  day: Publication | None = None) -> None:
    present = sorted(p.relative_to(bag_dir).as_posix() for p in bag_dir.rglob("*") if p.is_file())
    group = f"traffpunkt:event:{event.slug}"
    part_of = [
        f"En programpunkts film, skuren ur hela dagens inspelning ({identifier(day.id)},",
        f'"{day.title}"); paketen har samma Bag-Group-Identifier ({group}).',
        "",
    ] if day else [
        f"Filmerna per programpunkt är egna paket med samma Bag-Group-Identifier ({group});",
        "metadata.json listar dem (dcterms:hasPart).",
        "",
    ]
    record = [
        "  record/programme-item.json  programpunkten: talare, §18-teman, material",
    ] if day else [
        "  record/               dagens protokoll: programmet, frågor och svar,",
        "                        anteckningar per rum och tema, regional återkoppling,",
        "                        omröstningar med resultat, direkttextningens rader",
    ]
    lines = [
        f"{pub.title}",
        "=" * len(pub.title),
        "",
        f'Arkivpaket från Träffpunkt för evenemanget "{event.title}"',
        f"({event.starts_at.date().isoformat()}), publicerat av {PUBLISHER}.",
        "",
        *part_of,
        "Innehåll (under data/):",
        "  media/video.mp4       inspelningen av scenen, H.264/AAC, faststart",
        "  media/hls/            samma video som HLS (VOD)",
        "  media/chapters.vtt    kapitel (WebVTT)",
        "  media/captions.sv.vtt textning på svenska (WebVTT), om den finns",
        "  media/poster.jpg      affischbild",
        "  metadata.json         schema.org VideoObject och Dublin Core (dcterms:)",
        *record,
        "",
        "Filer:",
        *(f"  {name}" for name in present),
        "",
    ]
    if absent:
        lines += [
            "Delar som saknas i denna installation (funktionen fanns inte):",
            *(f"  {p.name}: {p.title}" for p in absent),
            "",
        ]
    lines += ["Kontrollsummor: manifest-sha256.txt (BagIt 1.0).", ""]
    (bag_dir / "README.txt").write_text("\n".join(lines), encoding="utf-8")


def _bag_and_zip(bag_dir: Path, pub: Publication, event: Event, budget: WriteBudget) -> None:
    bagit.make_bag(
        str(bag_dir),
        {
            "Source-Organization": PUBLISHER,
            "External-Description": pub.title[:200],
            "External-Identifier": identifier(pub.id),
            "Bag-Group-Identifier": f"traffpunkt:event:{event.slug}",
        },
        checksums=["sha256"],
    )
    budget.check()
    target = bag_dir.parent / bag_zip_name(pub)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for path in sorted(bag_dir.rglob("*")):
            if path.is_file():
                archive.write(path, f"bag-{pub.id}/{path.relative_to(bag_dir).as_posix()}")
    budget.check()


def bag_zip_name(pub: Publication) -> str:
    return f"traffpunkt-publication-{pub.id}-bag.zip"


def published_dir(platform: Platform, pub: Publication) -> Path | None:
    if pub.status != "published" or not pub.output_dir:
        return None
    return Path(platform.settings.media_root) / pub.output_dir


JOBS = Key("recording.publish_jobs", PublishJobs)


def published_at_text(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def read_chapters(path: Path) -> list[dict[str, Any]]:
    """The published chapters (start in seconds of the video, title) from its WebVTT track."""
    if not path.exists():
        return []
    try:
        cues = validate_webvtt(path.read_text("utf-8"))
    except StreamingError:
        return []
    return [{"start": c.start, "title": " ".join(c.lines)} for c in cues]
