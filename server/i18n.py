"""Swedish first, English available. A plain catalogue: keys to text per language.

Why not gettext/Babel: the UI has a few hundred short strings and two languages; a dictionary
keeps them next to each other, needs no compile step, and a test checks both have every key.
"""

from __future__ import annotations

from .i18n_catalog import CATALOG

LANGUAGES = ("sv", "en")


def translate(lang: str, key: str, **values: object) -> str:
    text = CATALOG.get(lang, {}).get(key) or CATALOG["sv"].get(key) or key
    return text.format(**values) if values else text


def pick_language(query: str | None, cookie: str | None, default: str = "sv") -> str:
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return candidate
    return default
