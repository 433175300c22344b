"""Every file the platform writes for a spreadsheet or as Markdown goes through one helper
(server/platform/exports.py): participant text is never run as a formula and never becomes
markup (issue 19, point 8)."""

from __future__ import annotations

import csv
import io

import pytest
from markdown_it import MarkdownIt
from openpyxl import load_workbook

from server.notes.export import Export, Labels, Section, markdown
from server.platform.exports import FORMULA_START, csv_bytes, md_text, xlsx_bytes

HOSTILE = [
    '=HYPERLINK("https://evil.example","klicka")', "+46 8 123 45", "-2+3", "@SUM(A1:A9)",
    "\t=1+1", "\r=1+1", "＝1+1", "Helt vanlig fråga om läsfrämjande",
]
COLUMNS = ("id", "text")


def rows() -> list[dict[str, object]]:
    return [{"id": n, "text": text} for n, text in enumerate(HOSTILE)]


def test_csv_cells_never_start_a_formula() -> None:
    body = csv_bytes(rows(), COLUMNS).decode("utf-8-sig")
    read = list(csv.DictReader(io.StringIO(body)))
    assert [r["text"] for r in read][-1] == HOSTILE[-1], "plain text stays as it was"
    for r, original in zip(read, HOSTILE, strict=True):
        assert not r["text"].startswith(FORMULA_START)
        assert r["text"].lstrip("'") == original


def test_xlsx_cells_are_text_exactly_as_written() -> None:
    book = load_workbook(io.BytesIO(xlsx_bytes("Frågor", rows(), COLUMNS)))
    sheet = book.active
    assert sheet is not None
    cells = [sheet.cell(row=n, column=2) for n in range(2, len(HOSTILE) + 2)]
    assert [c.value for c in cells] == HOSTILE, "no apostrophe shows in the data"
    assert {c.data_type for c in cells} == {"s"}, "text, never a formula"
    assert sheet.cell(row=2, column=1).value == 0, "numbers stay numbers"


FORGERIES = [
    "## Region Skåne\nOm planen",
    "Om planen\n=========",
    "Om planen\n---",
    "[Klicka här](https://evil.example)",
    "![bild](https://evil.example/x.png)",
    "<script>alert(1)</script>",
    "> citat\n- punkt\n1. ett",
    "```\nkod\n```",
]


@pytest.mark.parametrize("text", FORGERIES)
def test_participant_text_makes_no_markup_in_markdown(text: str) -> None:
    export = Export("Anteckningar", "Träffpunkt", [Section("Uppföljning", "", text)], [])
    tokens = MarkdownIt("commonmark").parse(markdown(export, Labels("R", "F", "-", "(tomt)")))
    headings = [t for t in tokens if t.type == "heading_open"]
    assert len(headings) == 2, "only the document's own title and section"
    kinds = {t.type for t in tokens} | {c.type for t in tokens for c in (t.children or [])}
    assert not kinds & {"link_open", "image", "html_inline", "html_block", "fence",
                        "code_block", "bullet_list_open", "ordered_list_open",
                        "blockquote_open", "hr"}


def test_escaped_text_reads_as_written() -> None:
    text = "Fråga 3 (av 5): _kris_ & #beredskap [länk] <b>"
    inline = MarkdownIt("commonmark").parseInline(md_text(text))[0].children or []
    assert "".join(t.content for t in inline if t.type == "text") == text


def test_the_archival_package_csv_is_neutralised_too() -> None:
    from server.recording.publication import rows_files

    files = {f.name: f.data for f in rows_files("qa", rows())}
    read = list(csv.DictReader(io.StringIO(files["qa.csv"].decode("utf-8"))))
    assert all(not r["text"].startswith(FORMULA_START) for r in read)
    assert b"HYPERLINK" in files["qa.json"], "the JSON keeps the exact text"
