"""KB's view of one event's cycle, region by region: the follow-up meetings held (when, how
many took part, which municipalities were there), the region's feedback (its status, its
documents, its municipalities' answers) and its proposals. Reads the other features' tables;
writes nothing."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.breakout.models import BreakoutAssignment
from server.feedback import report
from server.feedback.models import (
    FeedbackAttachment,
    FeedbackForm,
    FeedbackResponse,
    MunicipalFeedback,
)
from server.followup.models import FollowUpMeeting
from server.platform.models import Event, Registration, Theme
from server.proposals.models import Proposal

COLUMNS = ("region", "meetings", "dates", "participants", "municipalities", "feedback",
           "documents", "municipal_feedback", "proposals", "accepted")


async def overview(db: AsyncSession, event_id: int) -> list[dict[str, Any]]:
    """One row per region (all 21, by name)."""
    meetings = list(await db.scalars(select(FollowUpMeeting).where(
        FollowUpMeeting.event_id == event_id, FollowUpMeeting.status != "cancelled",
    ).order_by(FollowUpMeeting.starts_at)))
    people = await _people(db, [m.round_id for m in meetings])
    per_region: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for m in meetings:
        here = people.get(m.round_id, [])
        view = {"id": m.id, "title": m.title, "starts_at": m.starts_at, "status": m.status,
                "participants": len(here),
                "municipalities": sorted({x for x in here if x})}
        for code in m.regions:
            per_region[code].append(view)
    documents = await _count(db, FeedbackAttachment.region_code, FeedbackAttachment.event_id,
                             event_id)
    municipal = await _count(db, MunicipalFeedback.region_code, MunicipalFeedback.event_id,
                             event_id)
    proposals = Counter[str]()
    accepted = Counter[str]()
    for of, decided in (await db.execute(select(Proposal.region_code, Proposal.status).where(
            Proposal.event_id == event_id))).all():
        proposals[of or ""] += 1
        accepted[of or ""] += decided == "accepted"
    rows = []
    for status in await report.region_statuses(db, event_id):
        code = status["code"]
        held = per_region.get(code, [])
        rows.append({
            "code": code, "region": status["name"], "meetings": len(held),
            "meeting_list": held,
            "dates": ", ".join(m["starts_at"].strftime("%Y-%m-%d") for m in held),
            "participants": sum(m["participants"] for m in held),
            "municipalities": ", ".join(sorted({x for m in held for x in m["municipalities"]})),
            "feedback": status["status"], "documents": documents[code],
            "municipal_feedback": municipal[code], "proposals": proposals[code],
            "accepted": accepted[code],
        })
    return rows


async def _people(db: AsyncSession, round_ids: list[int]) -> dict[int, list[str]]:
    """The municipality of everyone each meeting's link let in, by round."""
    out: dict[int, list[str]] = defaultdict(list)
    if not round_ids:
        return out
    rows = await db.execute(
        select(BreakoutAssignment.round_id, Registration.municipality)
        .join(Registration, Registration.id == BreakoutAssignment.registration_id)
        .where(BreakoutAssignment.round_id.in_(round_ids)))
    for round_id, municipality in rows:
        out[round_id].append(" ".join((municipality or "").split()))
    return out


async def _count(db: AsyncSession, column: Any, event_column: Any, event_id: int) -> Counter[str]:
    rows = await db.execute(select(column, func.count()).where(event_column == event_id)
                            .group_by(column))
    return Counter({code: n for code, n in rows})


def totals(rows: list[dict[str, Any]]) -> dict[str, int]:
    """How many regions held a meeting, submitted, sent documents; proposals in all."""
    return {
        "held": sum(1 for r in rows if r["meetings"]),
        "submitted": sum(1 for r in rows if r["feedback"] == "submitted"),
        "participants": sum(r["participants"] for r in rows),
        "proposals": sum(r["proposals"] for r in rows),
        "regions": len(rows),
    }


async def trends(db: AsyncSession) -> dict[str, Any]:
    """Across events (oldest first), per §18 theme: how many regions answered at least one of
    the theme's questions, and how many proposals named the theme. Themes are matched by key
    (a copied event keeps its keys), titled by the newest event's wording."""
    events = list(await db.scalars(select(Event).where(Event.status != "draft")
                                   .order_by(Event.starts_at)))
    titles: dict[str, str] = {}
    for theme in await db.scalars(select(Theme).join(Event, Event.id == Theme.event_id)
                                  .order_by(Event.starts_at, Theme.position)):
        titles[theme.key] = theme.title
    columns = []
    for event in events:
        form = await db.get(FeedbackForm, event.id)
        fields_by_theme: dict[str, set[str]] = defaultdict(set)
        for field in (form.fields if form else []):
            if field.get("theme"):
                fields_by_theme[str(field["theme"])].add(str(field.get("key")))
        answered = Counter[str]()
        for response in await db.scalars(select(FeedbackResponse).where(
                FeedbackResponse.event_id == event.id)):
            given = {k for k, v in (response.answers or {}).items() if v not in ("", [], None)}
            for key, fields in fields_by_theme.items():
                answered[key] += bool(given & fields)
        proposed = Counter(t or "" for t in await db.scalars(
            select(Proposal.theme_key).where(Proposal.event_id == event.id)))
        columns.append({"event": event.title, "slug": event.slug, "answered": answered,
                        "proposed": proposed})
    return {"themes": titles, "events": columns}
