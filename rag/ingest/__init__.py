"""Ingest: find files, pick the loader for each format, normalise into :class:`Document` records.

One bad file never stops a folder: every file yields an :class:`IngestResult` carrying either
documents or the error that names the file and what to do.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rag.ingest.base import IngestError, Loader, RawDocument
from rag.ingest.docx import DocxLoader
from rag.ingest.html import HtmlLoader
from rag.ingest.jsonl import JsonlLoader
from rag.ingest.pdf import PdfLoader
from rag.ingest.text import MarkdownLoader, TextLoader
from rag.models import Document
from rag.normalize import HEADING_START, normalize_text, place_names

log = logging.getLogger(__name__)

LOADERS: tuple[Loader, ...] = (TextLoader(), MarkdownLoader(), HtmlLoader(), DocxLoader(), PdfLoader(),
                               JsonlLoader())
SUPPORTED = tuple(ext for loader in LOADERS for ext in loader.extensions)

__all__ = ["IngestError", "IngestResult", "SUPPORTED", "build_document", "find_files", "ingest_file",
           "ingest_paths", "loader_for"]


@dataclass
class IngestResult:
    """What became of one file: its documents, or the error, plus warnings."""

    path: str
    documents: list[Document] = field(default_factory=list)
    errors: list[IngestError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.documents) and not self.errors

    @property
    def warnings(self) -> list[str]:
        return [w for d in self.documents for w in d.warnings]


def loader_for(path: Path) -> Loader:
    name = path.name.lower()
    for loader in LOADERS:
        if any(name.endswith(ext) for ext in loader.extensions):
            return loader
    raise IngestError(path, f"unsupported file type '{path.suffix or path.name}'",
                      f"Convert it to one of: {', '.join(SUPPORTED)} (e.g. save .doc/.wps as .docx)")


def find_files(paths: Iterable[Path | str]) -> Iterator[tuple[Path, str]]:
    """Yield ``(file, docid)`` for files and folders (recursively, skipping hidden files).

    The docid is the path relative to the folder given, so it stays stable across runs and machines.
    """
    for p in map(Path, paths):
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p)
                if f.is_file() and not any(part.startswith(".") for part in rel.parts):
                    yield f, rel.as_posix()
        elif p.exists():
            yield p, p.name
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")


def ingest_file(path: Path, docid: str) -> IngestResult:
    """Load, normalise and describe one file; never raises IngestError."""
    result = IngestResult(str(path))
    try:
        loader = loader_for(path)
        if path.stat().st_size == 0:
            raise IngestError(path, "the file is empty (0 bytes)", "Check that it was copied completely")
        for item in loader.load(path, docid):
            if isinstance(item, IngestError):
                result.errors.append(item)
                continue
            doc = build_document(item)
            if not doc.text.strip():
                result.errors.append(IngestError(item.source, "no text left after extraction",
                                                 "Check the file's content; scanned documents need OCR"))
            else:
                result.documents.append(doc)
    except IngestError as exc:
        result.errors.append(exc)
    except OSError as exc:
        result.errors.append(IngestError(path, f"cannot be read ({exc.strerror or exc})",
                                         "Check that it exists and is readable"))
    for err in result.errors:
        log.warning("%s", err)
    return result


def ingest_paths(paths: Iterable[Path | str]) -> Iterator[IngestResult]:
    for path, docid in find_files(paths):
        yield ingest_file(path, docid)


def build_document(raw: RawDocument) -> Document:
    text = normalize_text(raw.text)
    title = raw.title or _title_from_text(text) or Path(raw.docid).stem
    metadata = dict(raw.metadata)
    for key, value in (("city", _city(title + "\n" + text)), ("year", _year(raw.docid, title, text))):
        if value and key not in metadata:
            metadata[key] = value
    return Document(
        docid=raw.docid,
        source=raw.source,
        title=" ".join(title.split())[:120],
        text=text,
        content_hash=raw.content_hash,
        metadata=metadata,
        warnings=raw.warnings,
    )


_TITLE_END = tuple("。！？；：，、:;,")


def _title_from_text(text: str) -> str | None:
    """A short, unpunctuated, non-heading line among the first few (how titles are set), else the
    lead phrase of a one-line document (flattened corpora put the title first, then a space)."""
    lines = text.split("\n")
    candidates = [line for line in lines[:6]
                  if 2 <= len(line) <= 40 and not line.endswith(_TITLE_END) and not HEADING_START.match(line)]
    if candidates:
        return next((c for c in candidates if len(c) >= 6), candidates[0])
    lead = re.match(r"[^\s。！？；]{6,40}(?=\s)", lines[0])
    return lead.group(0) if lead else None


_YEAR = re.compile(r"(?<!\d)(19[5-9]\d|20[0-4]\d)(?!\d)")


def _city(text: str) -> str | None:
    counts = Counter(place_names(text[:20000], suffixes="市"))
    if not counts:
        return None
    name, n = counts.most_common(1)[0]
    return name + "市" if n >= 2 else None


def _year(docid: str, title: str, text: str) -> str | None:
    for source in (docid, title):
        if m := _YEAR.search(source):
            return m.group(1)
    years = Counter(_YEAR.findall(text[:300]))
    return years.most_common(1)[0][0] if years else None
