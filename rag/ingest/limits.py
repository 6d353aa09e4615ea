"""Bounds on what reading one file may cost, checked before a parser is let loose on it.

A .docx is a zip: a 400 KB file can inflate to gigabytes (a "zip bomb") and python-docx would try.
The archive's directory says how big each member claims to be, so members are checked before any
byte is inflated, and reading stops at the limit if a member lies about its size.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from rag.ingest.base import IngestError


@dataclass(frozen=True)
class IngestLimits:
    """Built from :class:`rag.config.Settings` (``Settings.ingest_limits()``); no defaults here."""

    max_file_mb: float
    archive_max_members: int
    archive_max_total_mb: float
    archive_max_member_mb: float
    archive_max_ratio: float
    pdf_max_pages: int
    timeout_s: float
    max_memory_mb: int
    ocr: bool  # read pages with no usable text layer, and images, with the packaged OCR
    ocr_dpi: int
    ocr_cache_dir: str | None
    render_max_pixels: int  # pages rendered and images decoded are scaled down to this
    image_max_pixels: int  # larger images are refused unread
    converter: str  # LibreOffice's soffice, for the formats rag.ingest.convert converts
    convert_timeout_s: float
    convert_max_memory_mb: int
    convert_cache_dir: str
    sheet_max_columns: int


_ADVICE = "If the file is genuine, raise POLICYQA_INGEST_{} (see rag/config.py); otherwise remove it"


def check_file_size(path: Path, limits: IngestLimits) -> None:
    size = path.stat().st_size
    if size > limits.max_file_mb * 1024 * 1024:
        raise IngestError(path, f"the file is {size / 1024 / 1024:.0f} MB, over the {limits.max_file_mb:g} MB limit",
                          _ADVICE.format("MAX_FILE_MB"))


def check_archive(path: Path, limits: IngestLimits, original: Path | None = None) -> None:
    """Refuse a zip whose directory promises too many members, too many bytes or a bomb's ratio,
    and an Office file protected with a password (then not a zip); errors name ``original`` (the
    file the user gave, where ``path`` is its conversion) if given."""
    path_given, path = path, original or path
    refuse_encrypted(path_given, path)
    try:
        with zipfile.ZipFile(path_given) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise IngestError(path, f"not a readable zip/Office file ({exc})",
                          "Open it in Word/WPS and save it again as .docx") from exc
    if len(members) > limits.archive_max_members:
        raise IngestError(path, f"the archive holds {len(members)} members, over the limit of "
                          f"{limits.archive_max_members}", _ADVICE.format("ARCHIVE_MAX_MEMBERS"))
    mb = 1024 * 1024
    total = 0
    for m in members:
        total += m.file_size
        if m.compress_size and m.file_size > 1024 * 1024 and m.file_size / m.compress_size > limits.archive_max_ratio:
            raise IngestError(path, f"member '{m.filename}' inflates {m.file_size / m.compress_size:.0f}x "
                              f"(limit {limits.archive_max_ratio:g}x): it looks like a zip bomb",
                              _ADVICE.format("ARCHIVE_MAX_RATIO"))
        if m.file_size > limits.archive_max_member_mb * mb:
            raise IngestError(path, f"member '{m.filename}' inflates to {m.file_size / mb:.0f} MB, over the "
                              f"{limits.archive_max_member_mb:g} MB limit", _ADVICE.format("ARCHIVE_MAX_MEMBER_MB"))
    if total > limits.archive_max_total_mb * mb:
        raise IngestError(path, f"the archive inflates to {total / mb:.0f} MB, over the "
                          f"{limits.archive_max_total_mb:g} MB limit", _ADVICE.format("ARCHIVE_MAX_TOTAL_MB"))


_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def refuse_encrypted(path: Path, original: Path) -> None:
    """A password-protected .docx/.xlsx is an OLE2 container holding the encrypted package (and a
    protected .doc/.xls an OLE2 file with its encryption flag set): say so, by name."""
    with path.open("rb") as f:
        head = f.read(len(_OLE2))
    if head != _OLE2:
        return
    import msoffcrypto

    try:
        with path.open("rb") as f:
            encrypted = msoffcrypto.OfficeFile(f).is_encrypted()
    except Exception:  # noqa: BLE001 - an OLE2 file msoffcrypto does not know: the parser decides
        return
    if encrypted:
        raise IngestError(original, "the file is protected with a password (encrypted)",
                          "Save an unprotected copy (remove the password) and add that / 文件设有密码，请去除密码后另存再添加")
