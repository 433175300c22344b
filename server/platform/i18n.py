"""Swedish first, English available. Catalogues are JSON files, one per feature and language:
`server/locales/<lang>/<feature>.json`, merged at start-up.

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


@cache
def catalog(lang: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in sorted((LOCALES / lang).glob("*.json")):
        merged.update(json.loads(path.read_text(encoding="utf-8")))
    return merged


def translate(lang: str, key: str, **values: object) -> str:
    text = catalog(lang).get(key) or catalog("sv").get(key) or key
    return text.format(**values) if values else text


def pick_language(query: str | None, cookie: str | None, default: str = "sv") -> str:
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return candidate
    return default
