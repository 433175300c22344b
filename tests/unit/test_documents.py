"""A region's attached document is checked by its content (issue 24 point 3): real DOCX files
(python-docx), ODT and PDF files as their formats lay them out, and the ones to refuse: a
renamed file, macros, a damaged ZIP, a ZIP bomb, one too large."""

from __future__ import annotations

import io
import zipfile

import docx
import pytest

from server.platform.documents import MAX_BYTES, clean_filename, document_kind
from server.platform.errors import DomainError

PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
       b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")


def a_docx(macros: bool = False) -> bytes:
    out = io.BytesIO()
    document = docx.Document()
    document.add_paragraph("Återkoppling från Region Jämtland Härjedalen")
    document.save(out)
    if not macros:
        return out.getvalue()
    with zipfile.ZipFile(out, "a") as archive:
        archive.writestr("word/vbaProject.bin", b"\x00" * 64)
    return out.getvalue()


def an_odt(mimetype: bytes = b"application/vnd.oasis.opendocument.text") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), mimetype)  # stored, first
        archive.writestr("content.xml", '<?xml version="1.0"?><office:document-content/>',
                         compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("META-INF/manifest.xml", '<?xml version="1.0"?><manifest/>')
    return out.getvalue()


def refusal(data: bytes, name: str) -> str:
    with pytest.raises(DomainError) as caught:
        document_kind(data, name)
    return caught.value.key


def test_real_documents_are_taken() -> None:
    assert document_kind(a_docx(), "Rapport.DOCX") == "docx"
    assert document_kind(an_odt(), "rapport.odt") == "odt"
    assert document_kind(PDF, "rapport.pdf") == "pdf"


def test_what_is_not_the_document_it_says_is_refused() -> None:
    assert refusal(b"<html><script>alert(1)</script>", "rapport.pdf") == \
        "feedback.document_invalid.pdf"
    assert refusal(PDF, "rapport.docx") == "feedback.document_invalid.zip"
    assert refusal(a_docx(), "rapport.odt") == "feedback.document_invalid.odt"
    assert refusal(an_odt(b"application/x-evil"), "rapport.odt") == \
        "feedback.document_invalid.odt"
    assert refusal(an_odt(), "rapport.exe") == "feedback.document_invalid.type"
    assert refusal(a_docx(macros=True), "rapport.docx") == "feedback.document_invalid.macros"
    assert refusal(a_docx()[:-200], "rapport.docx") == "feedback.document_invalid.zip"


def test_a_zip_bomb_and_a_large_file_are_refused_without_unpacking() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"\0" * (101 * 1024 * 1024))
    assert len(out.getvalue()) < 1024 * 1024, "small on the wire"
    assert refusal(out.getvalue(), "bomb.docx") == "feedback.document_invalid.expands"
    assert refusal(PDF + b"\0" * MAX_BYTES, "stor.pdf") == "feedback.document_too_large"


def test_the_uploaders_file_name_is_only_shown() -> None:
    assert clean_filename("../../etc/passwd.pdf", "pdf") == "passwd.pdf"
    assert clean_filename('C:\\Users\\x\\"Svar"\x00\r\n.docx', "docx") == "Svar.docx"
    assert clean_filename("....", "odt") == "dokument.odt"
    assert clean_filename("rapport.exe", "pdf") == "rapport.pdf"
    assert len(clean_filename("å" * 500 + ".pdf", "pdf")) == 194
