"""Files people download and open elsewhere: the one place participant text is made safe for
a spreadsheet (CSV and XLSX) and for Markdown. Every export of the platform, live or in the
archival package, writes through these.

Spreadsheets run a cell that starts with `=`, `+`, `-`, `@` (or a tab or line break before one)
as a formula: `=HYPERLINK(...)` in a question would reach KB's laptops (OWASP "CSV injection").
In CSV such text gets a leading apostrophe, which spreadsheet programs read as "this is text"
and do not show; in XLSX the cell is written with the string type, so the text stays exactly
what the participant wrote and is never evaluated. In Markdown, participant text is escaped so
it cannot make a heading (`## Region ...`), a link, a list or raw HTML.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")
"""First characters a spreadsheet may read as a formula (fullwidth ones too: some convert)."""


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell: None as empty, formula-like text as plain text."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_bytes(rows: Iterable[Mapping[str, Any]], columns: Sequence[str], *,
              bom: bool = True) -> bytes:
    """Rows as UTF-8 CSV with a header; `bom` so that Excel reads å, ä, ö right."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows({k: csv_cell(row.get(k)) for k in columns} for row in rows)
    return (("\ufeff" if bom else "") + out.getvalue()).encode("utf-8")


def xlsx_bytes(title: str, rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> bytes:
    """Rows as one XLSX sheet; text cells are typed as text, never as formulas."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title[:31]
    sheet.append(list(columns))
    for n, row in enumerate(rows, start=2):
        for m, column in enumerate(columns, start=1):
            _set(sheet.cell(row=n, column=m), row.get(column))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _set(cell: Any, value: Any) -> None:
    if isinstance(value, str):
        cell.value = value
        cell.data_type = "s"  # openpyxl would otherwise store "=..." as a formula
    else:
        cell.value = value


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~&])")
_MD_RULE = re.compile(r"^(\s*)([-=])", re.MULTILINE)
_MD_ORDERED = re.compile(r"^(\s*\d+)([.)])", re.MULTILINE)


def md_text(text: str) -> str:
    """Participant text inside a Markdown document: shown as written, never as markup (no
    heading, setext underline, list, quote, link, image, code or raw HTML)."""
    escaped = _MD_SPECIAL.sub(r"\\\1", text)
    escaped = _MD_RULE.sub(r"\1\\\2", escaped)
    return _MD_ORDERED.sub(r"\1\\\2", escaped)
