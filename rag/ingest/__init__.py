"""Ingest: find files, pick the loader for each format, normalise into :class:`Document` records.

One bad file never stops a folder: every file yields an :class:`IngestResult` carrying either
documents or the error that names the file and what to do.
"""

from __future__ import annotations

import logging
import queue
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from rag.ingest.base import IngestError, Loader, RawDocument
from rag.ingest.convert import Converter
from rag.ingest.docx import DocxLoader
from rag.ingest.html import HtmlLoader
from rag.ingest.image import ImageLoader
from rag.ingest.jsonl import JsonlLoader
from rag.ingest.limits import IngestLimits, check_file_size
from rag.ingest.notes import ParserNotes
from rag.ingest.ofd import OfdLoader
from rag.ingest.office import OfficeLoader
from rag.ingest.pdf import PdfLoader
from rag.ingest.spreadsheet import CsvLoader, XlsxLoader
from rag.ingest.subject import derive_subject
from rag.ingest.text import MarkdownLoader, TextLoader
from rag.isolation import Worker, WorkerCrashed, WorkerTimeout
from rag.models import Document
from rag.ingest.pages import strip_running_lines
from rag.text.directives import directive_sentences
from rag.text.doc_kinds import ends_in_document_kind, unwrap_title
from rag.text.frontmatter import labels_document
from rag.text.normalize import HEADING_START, normalize_pages, normalize_traced
from rag.text.offsets import Traced, edits_between

log = logging.getLogger(__name__)

LOADERS: tuple[Loader, ...] = (TextLoader(), MarkdownLoader(), HtmlLoader(), DocxLoader(), PdfLoader(),
                               JsonlLoader(), ImageLoader(), OfdLoader(), XlsxLoader(), CsvLoader(), OfficeLoader())
SUPPORTED = tuple(ext for loader in LOADERS for ext in loader.extensions)

__all__ = ["IngestError", "IngestLimits", "IngestResult", "Ingestor", "SUPPORTED", "build_document", "find_files",
           "ingest_file", "ingest_paths", "loader_for", "read_file", "ReaderPool"]


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
                      f"Convert it to one of: {', '.join(SUPPORTED)}")


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


def read_file(path: Path, docid: str, limits: IngestLimits) -> Iterator[Document | IngestError]:
    """Load and normalise one file in this process: its documents, and an IngestError for each
    problem. Never raises for the file's content: whatever a parser raises is this file's error.
    What the parser warns or logs on the way is attached to the next document or error it leads to
    (never printed on its own, where no one can tell which file it was about)."""
    with ParserNotes() as notes:
        for item in _read(path, docid, limits):
            said = notes.take()
            if isinstance(item, IngestError):
                yield item.with_notes(said)
            else:
                yield item.model_copy(update={"warnings": item.warnings + tuple(f"the parser said: {n}" for n in said)}) \
                    if said else item
        left = notes.take()
    if left:
        log.warning("%s: after its last document the parser said: %s", path, "; ".join(left))


def _read(path: Path, docid: str, limits: IngestLimits) -> Iterator[Document | IngestError]:
    try:
        check_file_size(path, limits)
        loader = loader_for(path)
        if path.is_file() and path.stat().st_size == 0:  # (a pipe or device reports 0 too)
            raise IngestError(path, "the file is empty (0 bytes)", "Check that it was copied completely")
        for item in loader.load(path, docid, limits):
            if isinstance(item, IngestError):
                yield item
                continue
            doc = build_document(item)
            if not doc.text.strip():
                yield IngestError(item.source, "no text left after extraction",
                                  "Check the file's content; scanned documents need OCR")
            else:
                yield doc
    except IngestError as exc:
        yield exc
    except MemoryError:
        yield IngestError(path, f"reading it needs more than {limits.max_memory_mb} MB of memory",
                          "Split or re-save the file, or raise POLICYQA_INGEST_MAX_MEMORY_MB")
    except OSError as exc:
        if exc.errno is not None:  # the file system said no
            yield IngestError(path, f"cannot be read ({exc.strerror or exc})", "Check that it exists and is readable")
        else:  # an OSError about the content (a bad gzip stream)
            yield _unparsable(path, exc)
    except Exception as exc:  # a third-party parser's own failure on this one file
        if "bad_alloc" in str(exc):  # a C++ library (the OCR runtime) ran out of the reader's memory
            yield IngestError(path, f"reading it needs more than {limits.max_memory_mb} MB of memory",
                              "Split or re-save the file, or raise POLICYQA_INGEST_MAX_MEMORY_MB")
        else:
            yield _unparsable(path, exc)


def _unparsable(path: Path, exc: Exception) -> IngestError:
    log.debug("parser failure on %s", path, exc_info=True)
    return IngestError(path, f"its content could not be parsed ({type(exc).__name__}: {str(exc)[:200]})",
                       "Open it in the application that made it and save it again, or convert it to .txt")


def ingest_file(path: Path, docid: str, limits: IngestLimits) -> IngestResult:
    """:func:`read_file` gathered into one result (in this process: for tests and tools)."""
    return _result(path, read_file(path, docid, limits))


def ingest_paths(paths: Iterable[Path | str], limits: IngestLimits) -> Iterator[IngestResult]:
    for path, docid in find_files(paths):
        yield ingest_file(path, docid, limits)


def _result(path: Path, items: Iterable[Document | IngestError]) -> IngestResult:
    """Gather items; an error about the file itself (not one of its records) fails the whole file,
    so a JSONL corpus cut off halfway never looks like a corpus whose later records were deleted."""
    result = IngestResult(str(path))
    for item in items:
        (result.errors if isinstance(item, IngestError) else result.documents).append(item)
    if any(e.path == str(path) for e in result.errors):
        result.documents.clear()
    return result


def _reader(limits: IngestLimits):
    """Handler of the file-reader process (see :class:`Ingestor`)."""
    return lambda request: read_file(Path(request[0]), request[1], limits)


class Ingestor:
    """Reads files in a child process with the time and memory limits of ``limits``.

    A parser that segfaults, hangs or inflates a bomb ends only that child: the file gets an
    IngestError, a fresh child reads the next file, and the caller's process is never at risk.
    """

    def __init__(self, limits: IngestLimits) -> None:
        self.limits = limits
        self._worker = Worker("file reader", "rag.ingest:_reader", (limits,), memory_mb=limits.max_memory_mb)
        self._converter = Converter(limits)  # its process starts on the first .doc/.xls/…

    def prepare(self, paths: Iterable[Path]) -> None:
        """Convert the files among ``paths`` that LibreOffice reads, in one batch, before they are
        read one by one (a file read without this is converted on its own)."""
        self._converter.prepare(paths)

    def ingest_file(self, path: Path, docid: str) -> IngestResult:
        result = _result(path, self.stream_file(path, docid))
        for err in result.errors:
            log.debug("%s", err)  # callers report them (CLI table, API 422)
        return result

    def stream_file(self, path: Path, docid: str) -> Iterator[Document | IngestError]:
        """The file's documents one by one as the reader process produces them (a JSONL corpus of
        64k records is never held whole), then any error; a hang or a crash of the reader ends the
        stream with an IngestError about the file itself (``error.path == str(path)``)."""
        if (error := self._converter.error_for(path)) is not None:
            yield error
            return
        try:
            # the limit is on progress: a JSONL corpus sends each document as it is read
            yield from self._worker.stream((str(path), docid), timeout_s=self.limits.timeout_s)
        except WorkerTimeout:
            yield IngestError(path, f"reading it made no progress for {self.limits.timeout_s:g} s and was stopped",
                              "Check the file (re-save or split it), or raise POLICYQA_INGEST_TIMEOUT_S")
        except WorkerCrashed as exc:
            yield IngestError(path, f"its parser crashed ({exc})",
                              "Open it in the application that made it and save it again, or convert it to .txt")

    def ingest_paths(self, paths: Iterable[Path | str]) -> Iterator[IngestResult]:
        files = list(find_files(paths))
        self.prepare([path for path, _ in files])
        for path, docid in files:
            yield self.ingest_file(path, docid)

    def close(self) -> None:
        self._worker.close()
        self._converter.close()

    def __enter__(self) -> Ingestor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ReaderPool:
    """Several :class:`Ingestor` s, lent one at a time: a long read (a 5,000-page scan that will be
    refused in the end) holds up only the readers it uses, not a small file behind it."""

    def __init__(self, limits: IngestLimits, size: int) -> None:
        self._all = [Ingestor(limits) for _ in range(size)]
        self._idle: queue.SimpleQueue[Ingestor] = queue.SimpleQueue()
        for reader in self._all:
            self._idle.put(reader)

    @contextmanager
    def reader(self) -> Iterator[Ingestor]:
        """An idle reader for the block (waiting for one if all are busy)."""
        reader = self._idle.get()
        try:
            yield reader
        finally:
            self._idle.put(reader)

    def close(self) -> None:
        for reader in self._all:
            reader.close()


def build_document(raw: RawDocument) -> Document:
    metadata = dict(raw.metadata)
    if raw.pages:
        original = "\n".join(raw.pages)
        pages, at = [], 0
        for page in raw.pages:
            pages.append(Traced.of(page, at))
            at += len(page) + 1
        traced, starts = normalize_pages(strip_running_lines(pages))
        metadata["page_starts"] = ",".join(map(str, starts))
    else:
        original = raw.text
        traced = normalize_traced(Traced.of(original))
    text = traced.text
    title = raw.title or _title_from_text(text) or Path(raw.docid).stem
    warnings = raw.warnings
    if steering := flag_directives(text, metadata):
        warnings += (f"{len(steering)} sentence(s) give orders to the reader or the system (e.g. "
                     f"「{steering[0][:40]}」); they are kept in the text but never quoted as support",)
    for key, value in derive_subject(raw.docid, title, text).items():
        if key not in metadata:  # what a JSONL record states wins over what is derived
            metadata[key] = value
    return Document(
        docid=raw.docid,
        source=raw.source,
        title=" ".join(title.split())[:120],
        text=text,
        content_hash=raw.content_hash,
        metadata=metadata,
        warnings=warnings,
        edits=edits_between(traced, original),
    )


#: Metadata keys of a document that gives orders (see rag.text.directives): how many sentences do,
#: and the first of them, so `policyqa docs`, the API and the UI can flag it without reading its text.
DIRECTIVES_KEY, DIRECTIVE_EXAMPLE_KEY = "directives", "directive_example"


def flag_directives(text: str, metadata: dict[str, str]) -> list[str]:
    """The sentences of ``text`` that give orders, recorded in ``metadata`` (derived from the text
    alone: a JSONL record's own fields can neither set nor clear the flag)."""
    steering = [text[s:e] for s, e in directive_sentences(text)]
    metadata.pop(DIRECTIVES_KEY, None)
    metadata.pop(DIRECTIVE_EXAMPLE_KEY, None)
    if steering:
        metadata[DIRECTIVES_KEY] = str(len(steering))
        metadata[DIRECTIVE_EXAMPLE_KEY] = steering[0][:60]
    return steering


_TITLE_END = tuple("。！？；：，、:;,")
#: The longest line taken for a title; a line that ends in the name of a kind of document
#: ("…关于印发《…实施方案（2023—2025年）》的通知") may run longer, as notices' titles do.
_TITLE_MAX, _KIND_TITLE_MAX = 40, 80


def _title_from_text(text: str) -> str | None:
    """A short, unpunctuated, non-heading line among the first few (how titles are set), else the
    lead phrase of a one-line document (flattened corpora put the title first, then a space).
    A line that only labels the document (its number, its date, a field of the page: 发布日期：…)
    is not its title, and a title a page wraps in 《》 is given without them."""
    lines = [unwrap_title(line) for line in text.split("\n")]
    candidates = [line for line in lines[:6]
                  if 2 <= len(line) <= (_KIND_TITLE_MAX if ends_in_document_kind(line) else _TITLE_MAX)
                  and not line.endswith(_TITLE_END) and not HEADING_START.match(line) and not labels_document(line)
                  and "|" not in line]  # a table row (a bulletin's first table) is no title
    if candidates:
        return next((c for c in candidates if len(c) >= 6), candidates[0])
    lead = re.match(r"[^\s。！？；]{6,40}(?=\s)", lines[0])
    return lead.group(0) if lead else None
