"""Swedish first, English available. Catalogues are JSON files, one per feature and language:
`server/platform/locales/<lang>/<feature>.json`, merged at start-up. Error messages are a
catalogue of their own, `errors.json`, keyed by the stable error code (`qa.rate_limited`):
the server translates a `DomainError` by its code at the boundary, and pages hand the same
catalogue to the browser (static/js/errors.js), so an error reads in the reader's language
wherever it is shown.

Why not gettext/Babel: the UI has a few hundred short strings and two languages; JSON files per
feature keep them next to each other, need no compile step, and tests/unit/test_i18n.py checks
both languages have every key.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

LANGUAGES = ("sv", "en")
LOCALES = Path(__file__).parent / "locales"
ERRORS = "errors.json"


@cache
def catalog(lang: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in sorted((LOCALES / lang).glob("*.json")):
        if path.name != ERRORS:
            merged.update(json.loads(path.read_text(encoding="utf-8")))
    return merged


@cache
def error_catalog(lang: str) -> dict[str, str]:
    """Error code (or a raise site's `key`) -> message, in one language."""
    path = LOCALES / lang / ERRORS
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def error_text(lang: str, key: str, values: dict[str, object]) -> str | None:
    """The catalogue's message for `key` with `values` filled in; None when it has none."""
    text = error_catalog(lang).get(key)
    if text is None:
        return None
    try:
        return text.format_map(values)
    except (KeyError, IndexError, ValueError):  # a value the raise site did not pass
        return text


def translate(lang: str, key: str, **values: object) -> str:
    text = catalog(lang).get(key) or catalog("sv").get(key) or key
    return text.format(**values) if values else text


def pick_language(query: str | None, cookie: str | None, default: str = "sv") -> str:
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return candidate
    return default
