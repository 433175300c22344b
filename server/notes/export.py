"""The notes exports: Markdown, DOCX (python-docx) and JSON, per theme or per room.

Every part carries its room's region(s) and facilitator, so a theme's export reads as the
regions' answers side by side and a room's export stands on its own in KB's follow-up report.
Input is ``server.notes.export_parts``; nothing here reads the database.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from docx import Document

from server.platform.exports import md_text

Part = dict[str, Any]

FORMATS = {
    "md": "text/markdown; charset=utf-8",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "json": "application/json; charset=utf-8",
}


@dataclass(frozen=True)
class Labels:
    """The words around the notes, in the reader's language."""

    region: str = "Region"
    facilitator: str = "Samtalsledare"
    none: str = "–"
    empty: str = "(inga anteckningar)"


@dataclass(frozen=True)
class Section:
    heading: str
    meta: str
    text: str


@dataclass(frozen=True)
class Export:
    """One document: a title and its sections, whatever the format."""

    title: str
    subtitle: str
    sections: list[Section]
    parts: list[Part]


def by_theme(parts: Sequence[Part], theme: str, event_title: str, labels: Labels) -> Export:
    chosen = [p for p in parts if p["theme"] == theme]
    title = chosen[0]["theme_title"] if chosen else theme
    sections = [Section(p["room"], _meta(p, labels), p["text"]) for p in chosen]
    return Export(title, event_title, sections, chosen)


def by_room(parts: Sequence[Part], room_id: int, event_title: str, labels: Labels) -> Export:
    chosen = [p for p in parts if p["room_id"] == room_id]
    title = chosen[0]["room"] if chosen else str(room_id)
    subtitle = f"{event_title} — {_meta(chosen[0], labels)}" if chosen else event_title
    sections = [Section(p["theme_title"], "", p["text"]) for p in chosen]
    return Export(title, subtitle, sections, chosen)


def _meta(part: Part, labels: Labels) -> str:
    regions = ", ".join(part["region_names"]) or labels.none
    facilitator = part["facilitator"] or labels.none
    return f"{labels.region}: {regions} · {labels.facilitator}: {facilitator}"


def render(export: Export, fmt: str, labels: Labels) -> bytes:
    """The export as bytes in ``fmt`` (``md``, ``docx`` or ``json``)."""
    if fmt == "md":
        return markdown(export, labels).encode("utf-8")
    if fmt == "docx":
        return docx(export, labels)
    return json.dumps({"title": export.title, "subtitle": export.subtitle,
                       "parts": export.parts}, ensure_ascii=False, indent=2).encode("utf-8")


def markdown(export: Export, labels: Labels) -> str:
    """Everything but the structure is escaped (server/platform/exports.py: md_text): a room
    name, a region or a participant's notes cannot make a heading or a link of their own."""
    lines = [f"# {md_text(export.title)}", "", f"_{md_text(export.subtitle)}_", ""]
    for s in export.sections:
        lines += [f"## {md_text(s.heading)}", ""]
        lines += [f"_{md_text(s.meta)}_", ""] if s.meta else []
        lines += [md_text(s.text.strip()) if s.text.strip() else labels.empty, ""]
    return "\n".join(lines)


def docx(export: Export, labels: Labels) -> bytes:
    document = Document()
    document.core_properties.title = export.title
    document.add_heading(export.title, level=1)
    document.add_paragraph().add_run(export.subtitle).italic = True
    for s in export.sections:
        document.add_heading(s.heading, level=2)
        if s.meta:
            document.add_paragraph().add_run(s.meta).italic = True
        for paragraph in (s.text.strip() or labels.empty).split("\n"):
            document.add_paragraph(paragraph)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
