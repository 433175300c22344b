"""Swedish first, English available: both languages carry every key, with the same placeholders."""

from __future__ import annotations

import re

from server.platform.i18n import catalog, pick_language, translate


def test_both_languages_have_the_same_keys() -> None:
    assert set(catalog("sv")) == set(catalog("en"))


def test_placeholders_match_between_languages() -> None:
    field = re.compile(r"\{(\w+)\}")
    for key, text in catalog("sv").items():
        assert set(field.findall(text)) == set(field.findall(catalog("en")[key])), key


def test_swedish_is_the_default_and_english_is_chosen_explicitly() -> None:
    assert pick_language(None, None) == "sv"
    assert pick_language("en", None) == "en"
    assert pick_language(None, "en") == "en"
    assert pick_language("fr", "xx") == "sv"
    assert translate("sv", "register.submit") == "Anmäl mig"
    assert translate("en", "register.submit") == "Register me"
    assert translate("en", "error.too_long", max=120) == "At most 120 characters."
