"""Q&A rules that need no server: text, visibility, export rows, rate limits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from server.platform.auth import Principal
from server.platform.errors import DomainError
from server.platform.store import MemoryStore
from server.qa import service as qa
from server.qa.models import Question


@pytest.mark.parametrize("raw,expected", [
    ("  fråga  ", "fråga"), ("x" * 500, "x" * 500), ("<b>fet</b>", "<b>fet</b>"),
    (" \n" + "å" * 500 + "\t", "å" * 500),
])
def test_text_is_trimmed_and_kept_as_typed(raw: str, expected: str) -> None:
    assert qa.clean_text(raw) == expected


@pytest.mark.parametrize("raw", ["", "   ", "\n\t", "x" * 501])
def test_text_outside_1_to_500_characters_is_refused(raw: str) -> None:
    with pytest.raises(DomainError) as err:
        qa.clean_text(raw)
    assert err.value.code == "qa.text_invalid"


def question(**fields: object) -> Question:
    base: dict[str, object] = dict(
        id=7, event_id=1, registration_id=3, author_name="Karin", anonymous=False,
        text="Hur?", item_id=None, state="approved", reject_reason="spam", merged_into_id=None,
        answer="", answered_by="", created_at=datetime(2020, 11, 5, 9, tzinfo=UTC),
        approved_at=None, answered_at=None, updated_at=datetime(2020, 11, 5, 9, tzinfo=UTC),
    )
    return Question(**{**base, **fields})


@pytest.mark.parametrize("state", ["pending", "rejected", "merged"])
def test_participants_learn_nothing_of_questions_not_public(state: str) -> None:
    assert qa.public_view(question(state=state), 4) == {"id": 7, "state": "hidden"}


def test_public_view_hides_reject_reason_and_anonymous_author() -> None:
    view = qa.public_view(question(anonymous=True, author_name=""), 2)
    assert view["author"] is None and view["votes"] == 2 and "reject_reason" not in view
    assert qa.moderator_view(question(state="rejected"), 0)["reject_reason"] == "spam"


def test_export_row_leaves_out_anonymous_authors() -> None:
    row = qa._export_row(question(anonymous=True, author_name=""), "Inledning", 5)
    assert set(row) == set(qa.EXPORT_FIELDS)
    assert (row["author"], row["votes"], row["programme_item"]) == ("", 5, "Inledning")
    assert row["asked_at"] == "2020-11-05T09:00:00+00:00"


async def test_rate_limit_refuses_after_the_limit() -> None:
    store, who = MemoryStore(), Principal("participant", 1, "Ann", event_id=1)
    for _ in range(3):
        await qa.rate_limit(store, "qa.ask", who, 3)
    with pytest.raises(DomainError) as err:
        await qa.rate_limit(store, "qa.ask", who, 3)
    assert err.value.code == "qa.rate_limited" and err.value.status == 429
    await qa.rate_limit(store, "qa.ask", Principal("participant", 2, "Bo", event_id=1), 3)


def test_export_row_has_the_reject_reason_only_for_moderators() -> None:
    row = qa._export_row(question(state="rejected"), None, 0)
    assert "reject_reason" not in row and tuple(row) == qa.export_fields()
    full = qa._export_row(question(state="rejected"), None, 0, moderator=True)
    assert full["reject_reason"] == "spam" and tuple(full) == qa.export_fields(moderator=True)


@pytest.mark.parametrize("who,may", [
    (Principal("user", 1, "Mod", "moderator"), True), (Principal("user", 2, "Adm", "admin"), True),
    (Principal("user", 3, "Maria", "speaker"), True),
    (Principal("user", 4, "Arkiv", "archivist"), False),
    (Principal("user", 5, "Rum", "facilitator"), False),
    (Principal("participant", 6, "Ann", event_id=1), False),
    (Principal("participant", 7, "Spoof", "speaker", event_id=1), False),
])
def test_who_may_answer_in_writing(who: Principal, may: bool) -> None:
    assert qa.may_answer(who) is may


def test_a_speaker_answers_public_questions_under_their_own_name() -> None:
    speaker = Principal("user", 3, "Maria", "speaker")
    mod = Principal("user", 1, "Mod", "moderator")
    assert qa._answerer(speaker, question(state="approved"), "Någon annan") == "Maria"
    assert qa._answerer(mod, question(state="pending"), " Talare T ") == "Talare T"
    assert qa._answerer(mod, question(state="approved"), None) == "Mod"
    for state in ("pending", "rejected", "merged"):
        with pytest.raises(DomainError) as err:
            qa._answerer(speaker, question(state=state), None)
        assert err.value.code == "qa.invalid_state"
