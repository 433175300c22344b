"""KB's read models of the regional feedback: the dashboard and the exports (CSV, XLSX, JSON).

Split from server/feedback.py, which owns the form and the writes; this module only reads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.feedback.models import FeedbackFacilitator, FeedbackRating, FeedbackResponse
from server.feedback.service import (
    CHOICE_TYPES,
    FieldDef,
    FormDef,
    form_of,
    get_form,
    latest_rooms,
    value_fits,
)
from server.platform.models import Region, Registration, User


async def region_statuses(db: AsyncSession, event_id: int) -> list[dict[str, Any]]:
    """The 21 regions with their status: not_started, draft or submitted."""
    regions = list(await db.scalars(select(Region).order_by(Region.name)))
    responses = {
        r.region_code: r
        for r in await db.scalars(
            select(FeedbackResponse).where(FeedbackResponse.event_id == event_id)
        )
    }
    names = await facilitator_names(db, event_id)
    return [_status(r, responses.get(r.code), names.get(r.code, "")) for r in regions]


def _status(region: Region, row: FeedbackResponse | None, facilitator: str) -> dict[str, Any]:
    has_answers = row is not None and bool(row.answers)
    return {
        "code": region.code,
        "name": region.name,
        "facilitator": facilitator,
        "status": row.status if has_answers and row else "not_started",
        "version": row.version if row else 0,
        "updated_at": row.updated_at if row else None,
        "submitted_at": row.submitted_at if row else None,
        "late": bool(row and row.late_answers),
    }


async def facilitator_names(db: AsyncSession, event_id: int) -> dict[str, str]:
    """Who submits for each region: the facilitator a moderator chose, else the facilitator of
    the region's room in the latest breakout round (see `feedback.RoomMembership`)."""
    return {**await _room_facilitator_names(db, event_id), **await _chosen_names(db, event_id)}


async def _room_facilitator_names(db: AsyncSession, event_id: int) -> dict[str, str]:
    rooms = [r for r in await latest_rooms(db, event_id) if r.facilitator_id]
    if not rooms:
        return {}
    rows = await db.execute(
        select(Registration.id, Registration.name).where(
            Registration.id.in_({r.facilitator_id for r in rooms})
        )
    )
    person = {rid: name for rid, name in rows.tuples()}
    names: dict[str, list[str]] = {}
    for room in rooms:
        name = person.get(room.facilitator_id or 0)
        for code in room.regions or []:
            if name and name not in names.setdefault(code, []):
                names[code].append(name)
    return {code: ", ".join(found) for code, found in names.items() if found}


async def _chosen_names(db: AsyncSession, event_id: int) -> dict[str, str]:
    rows = list(
        await db.scalars(
            select(FeedbackFacilitator).where(FeedbackFacilitator.event_id == event_id)
        )
    )
    names: dict[str, str] = {}
    for f in rows:
        who = (
            await db.get(Registration, f.registration_id)
            if f.registration_id
            else await db.get(User, f.user_id)
            if f.user_id
            else None
        )
        if who is not None:
            names[f.region_code] = who.name if isinstance(who, Registration) else who.display_name
    return names


async def summary(db: AsyncSession, event_id: int, lang: str = "sv") -> dict[str, Any]:
    """Ratings and choices counted, free text grouped by question and region (submitted only)."""
    form = form_of(await get_form(db, event_id))
    names = {r.code: r.name for r in await db.scalars(select(Region))}
    submitted = list(
        await db.scalars(
            select(FeedbackResponse).where(
                FeedbackResponse.event_id == event_id, FeedbackResponse.status == "submitted"
            )
        )
    )
    submitted.sort(key=lambda r: names.get(r.region_code, ""))
    ratings = list(
        await db.scalars(select(FeedbackRating).where(FeedbackRating.event_id == event_id))
    )
    return {
        "submitted": len(submitted),
        "questions": [_question(f, submitted, names, lang) for f in form.fields],
        "individual": _individual(ratings, names),
    }


def _question(
    f: FieldDef, rows: list[FeedbackResponse], names: dict[str, str], lang: str
) -> dict[str, Any]:
    given = [(names.get(r.region_code, r.region_code), r.answers.get(f.key)) for r in rows]
    # A value stored under an earlier type of the field (edited since) is left out, not guessed.
    given = [
        (region, v) for region, v in given if v not in (None, "", []) and value_fits(f.type, v)
    ]
    out: dict[str, Any] = {"key": f.key, "type": f.type, "label": f.text(lang)}
    if f.type == "rating":
        out["bars"] = distribution([v for _, v in given if isinstance(v, int)])
    elif f.type in CHOICE_TYPES:
        chosen = [c for _, v in given for c in (v if isinstance(v, list) else [v])]
        out["bars"] = [
            {"label": f.option_label(o.value, lang), "count": chosen.count(o.value)}
            for o in f.options
        ]
    else:
        out["texts"] = [{"region": region, "text": str(v)} for region, v in given]
    out["answered"] = len(given)
    return out


def distribution(values: list[int]) -> list[dict[str, Any]]:
    return [{"label": str(n), "count": values.count(n)} for n in range(1, 6)]


def mean(values: list[int]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def _individual(rows: list[FeedbackRating], names: dict[str, str]) -> dict[str, Any]:
    days = [r.day for r in rows]
    acc = [r.accessibility for r in rows if r.accessibility]
    return {
        "count": len(rows),
        "day": distribution(days),
        "day_mean": mean(days),
        "accessibility": distribution(acc),
        "accessibility_mean": mean(acc),
        "comments": [
            {"region": names.get(r.region_code or "", ""), "text": r.comment}
            for r in rows
            if r.comment
        ],
    }


EXPORT_COLUMNS = (
    "source",
    "region_code",
    "region_name",
    "status",
    "version",
    "updated_at",
    "submitted_at",
    "question_key",
    "question",
    "question_type",
    "answer",
)


async def export_rows(db: AsyncSession, event_id: int) -> list[dict[str, Any]]:
    """Every stored answer as flat rows (columns EXPORT_COLUMNS): one per region and question,
    then one per individual rating value. Drafts are included, marked by `status`. Reused by
    the archival package."""
    form = form_of(await get_form(db, event_id))
    names = {r.code: r.name for r in await db.scalars(select(Region))}
    responses = sorted(
        await db.scalars(select(FeedbackResponse).where(FeedbackResponse.event_id == event_id)),
        key=lambda r: names.get(r.region_code, ""),
    )
    rows = [row for r in responses for row in _response_rows(form, r, names)]
    ratings = await db.scalars(
        select(FeedbackRating)
        .where(FeedbackRating.event_id == event_id)
        .order_by(FeedbackRating.id)
    )
    return rows + [row for r in ratings for row in _rating_rows(r, names)]


def _response_rows(
    form: FormDef, r: FeedbackResponse, names: dict[str, str]
) -> list[dict[str, Any]]:
    base = {
        "source": "region",
        "region_code": r.region_code,
        "region_name": names.get(r.region_code, ""),
        "status": r.status,
        "version": r.version,
        "updated_at": _iso(r.updated_at),
        "submitted_at": _iso(r.submitted_at),
    }
    rows = []
    for f in form.fields:
        if f.key in r.answers:
            rows.append(
                {
                    **base,
                    "question_key": f.key,
                    "question": f.label,
                    "question_type": f.type,
                    "answer": _text(f, r.answers[f.key]),
                }
            )
    for key in sorted(set(r.answers) - {f.key for f in form.fields}):  # a field since removed
        rows.append(
            {
                **base,
                "question_key": key,
                "question": key,
                "question_type": "",
                "answer": _text(None, r.answers[key]),
            }
        )
    return rows


def _rating_rows(r: FeedbackRating, names: dict[str, str]) -> list[dict[str, Any]]:
    base = {
        "source": "individual",
        "region_code": r.region_code or "",
        "region_name": names.get(r.region_code or "", ""),
        "status": "submitted",
        "version": "",
        "updated_at": _iso(r.updated_at),
        "submitted_at": _iso(r.updated_at),
    }
    values = [
        ("day", "Betyg för dagen", "rating", r.day),
        ("accessibility", "Betyg för tillgängligheten", "rating", r.accessibility),
        ("comment", "Kommentar", "long_text", r.comment),
    ]
    return [
        {**base, "question_key": k, "question": q, "question_type": t, "answer": v}
        for k, q, t, v in values
        if v not in (None, "")
    ]


def _text(f: FieldDef | None, value: Any) -> str | int:
    """The cell of one stored answer, whatever type the field had when it was given."""
    if isinstance(value, list):
        return "; ".join(f.option_label(str(v)) if f else str(v) for v in value)
    if f is not None and f.type == "single_choice":
        return f.option_label(str(value))
    return value if isinstance(value, int | str) else str(value)


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


async def export_document(db: AsyncSession, event_id: int) -> dict[str, Any]:
    """The JSON export: the form, each region's response with raw values, and the ratings."""
    form_row_ = await get_form(db, event_id)
    statuses = await region_statuses(db, event_id)
    responses = {
        r.region_code: r
        for r in await db.scalars(
            select(FeedbackResponse).where(FeedbackResponse.event_id == event_id)
        )
    }
    ratings = await db.scalars(
        select(FeedbackRating)
        .where(FeedbackRating.event_id == event_id)
        .order_by(FeedbackRating.id)
    )
    return {
        "event_id": event_id,
        "form": {"version": form_row_.version, "fields": form_row_.fields},
        "deadline": _iso(form_row_.deadline),
        "regions": [_region_doc(s, responses.get(s["code"])) for s in statuses],
        "ratings": [
            {
                "region_code": r.region_code,
                "day": r.day,
                "accessibility": r.accessibility,
                "comment": r.comment,
                "anonymous": r.registration_id is None,
            }
            for r in ratings
        ],
    }


def _region_doc(status: dict[str, Any], row: FeedbackResponse | None) -> dict[str, Any]:
    doc = {
        **status,
        "updated_at": _iso(status["updated_at"]),
        "submitted_at": _iso(status["submitted_at"]),
        "answers": dict(row.answers) if row else {},
    }
    if row is not None and row.late_answers:
        doc["late_answers"] = row.late_answers
        doc["late_at"] = _iso(row.late_at)
    return doc
