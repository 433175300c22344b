"""The feedback form's definition and answer validation (pure, no database)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from server.feedback.service import (
    FormDef,
    Invalid,
    clean_answers,
    default_form,
    type_changes_in_use,
    value_fits,
)


def test_demo_form_asks_kb_questions_in_swedish_with_every_field_type() -> None:
    form = default_form()
    labels = " ".join(f.label for f in form.fields)
    for phrase in (
        "följt upp biblioteksplanerna",
        "nästa Träffpunkt",
        "nationellt intresse",
        "återkoppling till KB",
        "dagen som helhet",
        "tillgänglig",
    ):
        assert phrase in labels
    assert {f.type for f in form.fields} == {
        "short_text",
        "long_text",
        "rating",
        "single_choice",
        "multiple_choice",
    }


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("betyg_dagen", "6", "feedback.error.rating"),
        ("betyg_dagen", "fyra", "feedback.error.rating"),
        ("sammankomst", "kanske", "error.choice"),
        ("sammankomst", ["ja", "nej"], "error.choice"),
        ("aterkopplingsform", ["skriftlig", "okänd"], "error.choice"),
        ("aterkoppling_annan", "x" * 301, "error.too_long"),
    ],
)
def test_invalid_answers_get_a_message_on_their_field(
    field: str, value: object, message: str
) -> None:
    with pytest.raises(Invalid) as caught:
        clean_answers(default_form(), {field: value}, final=False)
    assert caught.value.fields[field][0] == message


def test_drafts_may_be_incomplete_but_a_submit_may_not() -> None:
    form = default_form()
    assert clean_answers(form, {"uppfoljning": "  Påbörjat  "}, final=False) == {
        "uppfoljning": "Påbörjat"
    }
    with pytest.raises(Invalid) as caught:
        clean_answers(form, {"uppfoljning": "Påbörjat"}, final=True)
    assert set(caught.value.fields) == {
        "sammankomst",
        "nasta_traffpunkt",
        "aterkopplingsform",
        "betyg_dagen",
        "betyg_tillganglighet",
    }


def test_choices_are_kept_in_form_order_and_unknown_keys_dropped() -> None:
    answers = clean_answers(
        default_form(),
        {"aterkopplingsform": ["skriftlig", "sammankomst"], "betyg_dagen": 4, "hack": "x"},
        final=False,
    )
    assert answers == {"aterkopplingsform": ["sammankomst", "skriftlig"], "betyg_dagen": 4}


@pytest.mark.parametrize(
    "fields",
    [
        [
            {
                "key": "a",
                "type": "single_choice",
                "label": "Ett val",
                "options": [{"value": "x", "label": "X"}],
            }
        ],
        [
            {
                "key": "a",
                "type": "rating",
                "label": "B",
                "options": [{"value": "x", "label": "X"}, {"value": "y", "label": "Y"}],
            }
        ],
        [
            {"key": "a", "type": "rating", "label": "B"},
            {"key": "a", "type": "short_text", "label": "C"},
        ],
        [{"key": "Stora bokstäver", "type": "rating", "label": "B"}],
        [{"key": "a", "type": "rating", "label": ""}],
        [],
    ],
)
def test_broken_form_definitions_are_refused(fields: list[dict[str, object]]) -> None:
    with pytest.raises(ValidationError):
        FormDef.model_validate({"fields": fields})


@pytest.mark.parametrize(
    ("field_type", "value", "fits"),
    [
        ("rating", 4, True),
        ("rating", "4", False),
        ("rating", True, False),
        ("rating", 9, False),
        ("long_text", "Åtgärder i Skåne", True),
        ("short_text", ["a"], False),
        ("single_choice", "ja", True),
        ("single_choice", 3, False),
        ("multiple_choice", ["a", "b"], True),
        ("multiple_choice", "a", False),
    ],
)
def test_a_stored_value_fits_its_field_type_or_not(
    field_type: str, value: object, fits: bool
) -> None:
    assert value_fits(field_type, value) is fits


def _with(form: FormDef, key: str, **change: object) -> FormDef:
    fields = [
        {**f.model_dump(), **change} if f.key == key else f.model_dump() for f in form.fields
    ]
    return FormDef.model_validate({"fields": fields})


def test_a_type_change_is_refused_only_where_answers_are_stored() -> None:
    old = default_form()
    stored = {"betyg_dagen": [4, 2], "uppfoljning": ["Text"]}
    assert type_changes_in_use(old, _with(old, "betyg_dagen", type="short_text"), stored) == [
        "betyg_dagen"
    ]
    unanswered = _with(old, "betyg_tillganglighet", type="short_text")
    assert type_changes_in_use(old, unanswered, stored) == []
    longer = _with(old, "uppfoljning", type="short_text")
    assert type_changes_in_use(old, longer, stored) == [], "text to text keeps the values"
    removed = FormDef.model_validate(
        {"fields": [f.model_dump() for f in old.fields if f.key != "betyg_dagen"]}
    )
    again = FormDef.model_validate(
        {"fields": [*removed.model_dump()["fields"],
                    {"key": "betyg_dagen", "type": "long_text", "label": "Åter"}]}
    )
    assert type_changes_in_use(removed, again, stored) == ["betyg_dagen"], (
        "a key removed and added again with another type is refused by the values' shape"
    )
