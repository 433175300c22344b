"""Feedback in the region's chosen form (issue 24 point 3), beside the event's structured form:
a document the region attaches (PDF, DOCX or ODT: platform/documents.py checks it), questions
the region adds for its municipalities, and each municipality's short feedback to its region.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.feedback.models import FeedbackAttachment, MunicipalFeedback, RegionQuestion
from server.platform import audit, documents
from server.platform.auth import Principal
from server.platform.documents import MAX_BYTES as MAX_BYTES
from server.platform.documents import MEDIA_TYPES as MEDIA_TYPES
from server.platform.errors import DomainError, NotFound
from server.platform.models import utcnow

ATTACHMENTS_PER_REGION = 5
QUESTIONS_PER_REGION = 10
QUESTION_MAX = 500
ANSWER_MAX = 1000
TEXT_MAX = 2000


async def attach(db: AsyncSession, actor: Principal, media_root: Path, event_id: int,
                 region: str, filename: str, data: bytes) -> FeedbackAttachment:
    """Check and store one document for the region's response."""
    kind = documents.document_kind(data, filename)
    count = await db.scalar(select(func.count(FeedbackAttachment.id)).where(
        FeedbackAttachment.event_id == event_id, FeedbackAttachment.region_code == region))
    if (count or 0) >= ATTACHMENTS_PER_REGION:
        raise DomainError("feedback.document_limit", "Regionen har redan fem bifogade filer.")
    path = await documents.store(media_root, f"feedback/{event_id}", kind, data)
    row = FeedbackAttachment(
        event_id=event_id, region_code=region, filename=documents.clean_filename(filename, kind),
        kind=kind, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
        path=path, uploaded_by=actor.name[:120])
    db.add(row)
    await db.flush()
    audit.record(db, actor, event_id, "feedback.attach", f"region:{region}",
                 file=row.filename, size=row.size)
    return row


async def attachments(db: AsyncSession, event_id: int, region: str) -> list[FeedbackAttachment]:
    return list(await db.scalars(select(FeedbackAttachment).where(
        FeedbackAttachment.event_id == event_id, FeedbackAttachment.region_code == region,
    ).order_by(FeedbackAttachment.id)))


async def attachment(db: AsyncSession, event_id: int, region: str,
                     ident: int) -> FeedbackAttachment:
    row = await db.get(FeedbackAttachment, ident) if 0 < ident < 2**31 else None
    if row is None or row.event_id != event_id or row.region_code != region:
        raise NotFound("feedback.document_not_found", "Filen finns inte.")
    return row


async def detach(db: AsyncSession, actor: Principal, media_root: Path,
                 row: FeedbackAttachment) -> None:
    audit.record(db, actor, row.event_id, "feedback.detach", f"region:{row.region_code}",
                 file=row.filename)
    await db.delete(row)
    await documents.remove(media_root, row.path)


# ---- the region's own questions and the municipalities' feedback ------------------------------


async def questions(db: AsyncSession, event_id: int, region: str) -> list[RegionQuestion]:
    return list(await db.scalars(select(RegionQuestion).where(
        RegionQuestion.event_id == event_id, RegionQuestion.region_code == region,
    ).order_by(RegionQuestion.position, RegionQuestion.id)))


async def add_question(db: AsyncSession, actor: Principal, event_id: int, region: str,
                       text: str) -> RegionQuestion:
    text = " ".join(text.split())
    if not 1 <= len(text) <= QUESTION_MAX:
        raise DomainError("feedback.question_invalid", "Frågan måste ha 1–500 tecken.",
                          field="question")
    present = await questions(db, event_id, region)
    if len(present) >= QUESTIONS_PER_REGION:
        raise DomainError("feedback.question_limit", "Regionen har redan tio egna frågor.",
                          field="question")
    row = RegionQuestion(event_id=event_id, region_code=region, text=text,
                         position=len(present))
    db.add(row)
    audit.record(db, actor, event_id, "feedback.question_add", f"region:{region}", text=text)
    return row


async def remove_question(db: AsyncSession, actor: Principal, event_id: int, region: str,
                          ident: int) -> None:
    row = await db.get(RegionQuestion, ident) if 0 < ident < 2**31 else None
    if row is None or row.event_id != event_id or row.region_code != region:
        raise NotFound("feedback.question_not_found", "Frågan finns inte.")
    audit.record(db, actor, event_id, "feedback.question_remove", f"region:{region}",
                 text=row.text)
    await db.delete(row)


async def municipal(db: AsyncSession, event_id: int, region: str) -> list[MunicipalFeedback]:
    return list(await db.scalars(select(MunicipalFeedback).where(
        MunicipalFeedback.event_id == event_id, MunicipalFeedback.region_code == region,
    ).order_by(MunicipalFeedback.municipality)))


async def municipal_of(db: AsyncSession, event_id: int, region: str,
                       municipality: str) -> MunicipalFeedback | None:
    return await db.scalar(select(MunicipalFeedback).where(
        MunicipalFeedback.event_id == event_id, MunicipalFeedback.region_code == region,
        MunicipalFeedback.municipality == municipality))


def clean_municipality(value: str) -> str:
    return " ".join(value.split())[:120]


async def save_municipal(db: AsyncSession, author: Principal, event_id: int, region: str,
                         municipality: str, raw: dict[str, Any], text: str) -> MunicipalFeedback:
    """A municipality's feedback to its region (replacing its earlier one): an answer to each
    of the region's questions (at most 1,000 characters) and a text (at most 2,000)."""
    municipality = clean_municipality(municipality)
    if not municipality:
        raise DomainError("feedback.municipality_required", "Ange din kommun.",
                          field="municipality")
    known = {str(q.id) for q in await questions(db, event_id, region)}
    answers = {k: str(v).strip() for k, v in raw.items() if k in known and str(v).strip()}
    if any(len(v) > ANSWER_MAX for v in answers.values()) or len(text) > TEXT_MAX:
        raise DomainError("feedback.municipal_too_long", "Svaret är för långt.", field="text")
    if not answers and not text.strip():
        raise DomainError("feedback.municipal_empty", "Skriv något innan du skickar.",
                          field="text")
    row = await municipal_of(db, event_id, region, municipality)
    if row is None:
        row = MunicipalFeedback(event_id=event_id, region_code=region, municipality=municipality)
        db.add(row)
    row.answers, row.text = answers, text.strip()
    row.author, row.updated_at = author.name[:120], utcnow()
    row.registration_id = author.id if author.kind == "participant" else None
    audit.record(db, author, event_id, "feedback.municipal", f"region:{region}",
                 municipality=municipality)
    return row


async def forget_author(db: AsyncSession, registration_id: int) -> None:
    """A deleted registration's municipal feedback stays (it is the municipality's), without
    their name."""
    for row in await db.scalars(select(MunicipalFeedback).where(
            MunicipalFeedback.registration_id == registration_id)):
        row.author, row.registration_id = "", None

