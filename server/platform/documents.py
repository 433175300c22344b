"""Documents people attach (a region's feedback report, a proposal's report): PDF, DOCX or ODT,
checked by their content, not their name, and capped.

A PDF starts with `%PDF-` and ends with `%%EOF`; a DOCX or ODT is a ZIP that opens, holds the
parts its format requires (ODT's stored `mimetype` first), holds no macros, and expands to at
most 100 MB in at most 2,000 entries (a ZIP bomb is refused before anything is extracted;
nothing is ever extracted). A stored file gets a name of ours; the uploader's name is kept,
cleaned, only to show and to download under.
"""

from __future__ import annotations

import asyncio
import io
import re
import secrets
import unicodedata
import zipfile
from pathlib import Path

from server.platform.errors import DomainError

MAX_BYTES = 10 * 1024 * 1024
MAX_EXPANDED = 100 * 1024 * 1024
MAX_ENTRIES = 2000
MEDIA_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "odt": "application/vnd.oasis.opendocument.text",
}
ODT = b"application/vnd.oasis.opendocument.text"


def _refused(reason: str) -> DomainError:
    return DomainError("feedback.document_invalid",
                       "Filen är inte en PDF, DOCX eller ODT som går att öppna.",
                       key=f"feedback.document_invalid.{reason}")


def document_kind(data: bytes, filename: str) -> str:
    """`pdf`, `docx` or `odt` when the content is one (the name's ending must agree), or
    `feedback.document_invalid`."""
    if len(data) > MAX_BYTES:
        raise DomainError("feedback.document_too_large", "Filen är större än 10 MB.")
    ending = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if ending == "pdf":
        if not data.startswith(b"%PDF-") or b"%%EOF" not in data[-2048:]:
            raise _refused("pdf")
        return "pdf"
    if ending not in ("docx", "odt"):
        raise _refused("type")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
            if len(entries) > MAX_ENTRIES or sum(e.file_size for e in entries) > MAX_EXPANDED:
                raise _refused("expands")
            names = {e.filename for e in entries}
            if any(n.lower().endswith("vbaproject.bin") or n.startswith("Basic/")
                   for n in names):
                raise _refused("macros")
            if ending == "docx":
                if not {"[Content_Types].xml", "word/document.xml"} <= names:
                    raise _refused("docx")
            elif (entries[0].filename != "mimetype"
                  or archive.read(entries[0]).strip() != ODT or "content.xml" not in names):
                raise _refused("odt")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, IndexError, OSError, EOFError) as exc:
        raise _refused("zip") from exc
    return ending


def clean_filename(name: str, kind: str) -> str:
    """The uploader's file name without folders, control characters or quotes, at most 200
    characters, ending in its kind."""
    base = unicodedata.normalize("NFC", name.replace("\\", "/").rsplit("/", 1)[-1])
    base = re.sub(r'[\x00-\x1f\x7f"<>|:*?]+', "", base).strip(" .")
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return f"{stem[:190] or 'dokument'}.{kind}"


async def store(media_root: Path, folder: str, kind: str, data: bytes) -> str:
    """Write a checked document under `media_root/folder` with a name of ours; its path
    relative to the media root."""
    relative = Path(folder) / f"{secrets.token_hex(16)}.{kind}"
    await asyncio.to_thread(_write, media_root / relative, data)
    return str(relative)


def _write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


async def remove(media_root: Path, relative: str) -> None:
    await asyncio.to_thread((media_root / relative).unlink, missing_ok=True)
