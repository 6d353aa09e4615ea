"""The embeddable Python API: one loaded model and index shared by every caller.

    from rag import PolicyQA
    qa = PolicyQA.open("index/")
    answer = qa.ask("天长市何时被评为全国法治政府建设示范市？")
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rag.answer.chain import AnswerChain
from rag.config import Settings
from rag.embed import embedder_for
from rag.feedback import FeedbackLog
from rag.index.build import IndexStats, remove_documents, set_subject, update_index
from rag.ingest import DIRECTIVE_EXAMPLE_KEY, DIRECTIVES_KEY, Ingestor, ReaderPool
from rag.ingest.view import PageViewer
from rag.models import UPLOAD_PREFIX, Answer, Document, Hit, Progress, source_kind
from rag.retrieve import Filters, Retriever
from rag.uploads import UploadFolder, UploadRefused, upload_docid


def listed(documents: list[dict]) -> list[dict]:
    """The store's document list as staff see it (CLI, API, UI): each with its ``kind`` (upload or
    library, see rag.uploads.SOURCE_KINDS) and ``directives``, how many of its sentences give orders
    to the reader or the system (0 for none; see rag.text.directives) with the first of them, so a
    document trying to steer answers is visible before anyone asks."""
    return [{**d, "kind": source_kind(d["docid"]), "directives": int(d["metadata"].get(DIRECTIVES_KEY, 0) or 0),
             "directive_example": d["metadata"].get(DIRECTIVE_EXAMPLE_KEY, "")} for d in documents]


class WriteQueueFull(RuntimeError):
    """More document writes are in progress or waiting than ``Settings.write_queue``: try again shortly."""


class UploadUnreadable(ValueError):
    """The uploaded file could not be read; ``reasons`` name it and say what to do."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(reasons[0] if reasons else "the file could not be read")
        self.reasons = reasons


@dataclass(frozen=True)
class UploadResult:
    docid: str
    documents: list[dict]
    chunks_embedded: int
    warnings: list[str]


class PolicyQA:
    """Thread-safe facade over retrieval, answering and index updates."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._write_lock = threading.Lock()
        self._write_slots = threading.BoundedSemaphore(settings.write_queue)
        self.retriever = Retriever.open(settings)
        self.chain = AnswerChain(settings, self.retriever)
        self.ingestor = Ingestor(settings.ingest_limits())  # its reader process starts on first use
        self.upload_readers = ReaderPool(settings.ingest_limits(), settings.upload_readers)
        self.uploads = UploadFolder(settings.upload_dir)
        self.feedback = FeedbackLog(settings.feedback_file, int(settings.feedback_max_mb * 1024 * 1024))
        self.pages = PageViewer(settings.ingest_limits(), settings.page_view_max_memory_mb,
                                settings.page_view_timeout_s, int(settings.page_view_cache_mb * 1024 * 1024))

    @classmethod
    def open(cls, index_dir: str | Path | None = None, settings: Settings | None = None, **overrides) -> PolicyQA:
        settings = settings or Settings()
        updates = dict(overrides)
        if index_dir is not None:
            updates["index_dir"] = Path(index_dir)
        return cls(settings.model_copy(update=updates) if updates else settings)

    @classmethod
    def build(cls, paths: Sequence[str | Path], settings: Settings | None = None) -> PolicyQA:
        """Index ``paths`` (incrementally) and open the result."""
        settings = settings or Settings()
        update_index(settings, paths, embedder_for(settings))
        return cls(settings)

    def ask(self, question: str, mode: str | None = None, filters: Filters | None = None,
            history: Sequence[str] = (), max_tokens: int | None = None, history_answers: Sequence[str] = (),
            llm_only: bool = False) -> Answer:
        """``history``: the user's earlier questions in this conversation, oldest first, and
        ``history_answers`` the answers they got where known; ``max_tokens`` caps what the LLM may
        write (LLM mode); ``llm_only``: raise LLMBusyError instead of answering extractively when the
        model's queue is full."""
        return self.chain.ask(question, mode=mode, filters=filters, history=history, max_tokens=max_tokens,
                              history_answers=history_answers, llm_only=llm_only)

    def stream(self, question: str, mode: str | None = None, filters: Filters | None = None,
               history: Sequence[str] = (), history_answers: Sequence[str] = (),
               llm_only: bool = False) -> Iterator[str | Progress | Answer]:
        """Progress (place in the model's queue, then "checking"), the model's unverified text
        pieces (never to be shown to people as an answer), then the verified Answer."""
        return self.chain.stream(question, mode=mode, filters=filters, history=history, history_answers=history_answers,
                                 llm_only=llm_only)

    def search(self, question: str, k: int = 5, filters: Filters | None = None) -> list[Hit]:
        return self.retriever.search(question, k=k, filters=filters)

    def add(self, paths: Sequence[str | Path]) -> IndexStats:
        """Ingest and index files or folders; searches see them as soon as this returns."""
        with self._write_slot(), self._write_lock:
            stats = update_index(self.settings, paths, self.retriever.embedder, ingestor=self.ingestor)
            self.retriever.refresh()
        return stats

    def add_upload(self, filename: str, data: bytes) -> UploadResult:
        """Index uploaded bytes as ``uploads/<name>`` (a new version if that name was uploaded before).

        The bytes are read first, in a staging file, by one of the upload readers and outside the
        write lock: a long read (a 5,000-page file that is refused in the end) delays no other
        write. Only a file that reads is put in place and indexed, from what was read (it is not
        read twice), so a refused upload leaves the folder and the index exactly as they were.
        Raises UploadRefused (bad name, unsupported type, empty), UploadUnreadable (with the
        reasons), WriteQueueFull or IndexBusyError (another process is writing the index).
        """
        docid = upload_docid(filename)
        if not data:
            raise UploadRefused("empty_file", "the file is empty")
        name = docid[len(UPLOAD_PREFIX):]
        with self._write_slot():
            staging = self.uploads.staging(docid)
            try:
                self.uploads.write(staging, data)
                with self.upload_readers.reader() as reader:
                    result = reader.ingest_file(staging, docid)
                if not result.documents:
                    raise UploadUnreadable([f"{name}: {e.problem}. {e.remedy}" for e in result.errors])
                with self._write_lock:
                    final = self.uploads.path_for(docid)
                    previous = final.with_name(f".{final.name}.previous") if final.exists() else None
                    if previous:
                        os.replace(final, previous)
                    os.replace(staging, final)
                    try:
                        stats = update_index(self.settings, [(final, docid)], self.retriever.embedder,
                                             ingestor=_Read(result.documents, staging, final))
                    except BaseException:
                        if previous:
                            os.replace(previous, final)  # the earlier version stays what is indexed
                        else:
                            final.unlink(missing_ok=True)
                        raise
                    if previous:
                        previous.unlink(missing_ok=True)
                    self.retriever.refresh()
            finally:
                staging.unlink(missing_ok=True)
        documents = [d for d in self.documents() if d["docid"] == docid or d["docid"].startswith(docid + "/")]
        problems = [str(e) for e in result.errors] + stats.errors + stats.warnings  # e.g. bad JSONL lines
        warnings = [w.replace(str(staging), name).replace(str(final), name) for w in problems]
        return UploadResult(docid, documents, stats.chunks_embedded, warnings)

    @contextmanager
    def _write_slot(self) -> Iterator[None]:
        """One of ``write_queue`` places for a write in progress or waiting for the lock; none left
        is WriteQueueFull at once (the API's 503 with Retry-After), not an ever longer wait."""
        if not self._write_slots.acquire(blocking=False):
            raise WriteQueueFull(f"{self.settings.write_queue} document writes are already in progress or waiting; "
                                 "try again shortly (POLICYQA_WRITE_QUEUE sets how many may wait)")
        try:
            yield
        finally:
            self._write_slots.release()

    def remove(self, docid: str) -> bool:
        """Remove one document; an uploaded file goes with its last document (a JSONL upload's
        other records stay indexed, and the file with them)."""
        with self._write_slot(), self._write_lock:
            doc = self.retriever.store.document(docid)
            removed = remove_documents(self.settings, [docid], self.retriever.embedder)
            self.retriever.refresh()
            if doc is not None:
                source = Path(doc.source.split("#", 1)[0])
                if self.uploads.holds(source) and not self.retriever.store.docids_of_file(str(source.resolve())):
                    source.unlink(missing_ok=True)
        return bool(removed)

    def set_subject(self, docid: str, **values: str | None) -> dict[str, str] | None:
        """Say what a document is about where ingest got it wrong (``city="天长市"``); None or ""
        clears a field back to the derived value. Returns the document's subject now, or None when
        there is no such document."""
        with self._write_slot(), self._write_lock:
            if set_subject(self.settings, docid, values, self.retriever.embedder) is None:
                return None
        return next(d["subject"] for d in self.documents() if d["docid"] == docid)

    def page_image(self, docid: str, page: int, start: int = 0, end: int = 0) -> bytes:
        """PNG of page ``page`` of a PDF or image document as it stands in the original file, the
        stored-text span ``start:end`` (a citation's quote) highlighted on it, drawn in the page-view
        process. Raises LookupError for an unknown document, PageNotAvailable for a page or file
        that is not there, PageRenderFailed for a page that overruns that process's limits."""
        from rag.ingest.view import PageNotAvailable, PageRequest

        doc = self.document(docid)
        if doc is None:
            raise LookupError(f"no document '{docid}'")
        if "page_starts" not in doc.metadata:
            raise PageNotAvailable(f"'{docid}' is not a paged document (PDF or image)")
        start, end = max(0, start), min(len(doc.text), end)
        quote = doc.text[start:end] if 0 <= start < end and end - start <= 4000 else ""
        ocr = doc.metadata.get("ocr", "")
        scanned = ocr == "all" or str(page) in ocr.split(",")
        limits = self.settings.ingest_limits()
        request = PageRequest(doc.source, page, quote, scanned, limits.ocr_dpi, limits.ocr_cache_dir)
        return self.pages.png(request, doc.content_hash)

    def close(self) -> None:
        """Stop the helper processes (file readers, page view, local model)."""
        self.ingestor.close()
        self.upload_readers.close()
        self.pages.close()
        self.chain.close()

    def documents(self) -> list[dict]:
        return listed(self.retriever.store.documents())

    def document(self, docid: str):
        return self.retriever.store.document(docid)


class _Read:
    """Stands in for the ingestor of an upload's index run: the documents read from the staging
    file, as read from where the file now lies."""

    def __init__(self, documents: list[Document], staging: Path, final: Path) -> None:
        self._documents, self._staging, self._final = documents, str(staging), str(final)

    def prepare(self, paths: list[Path]) -> None:
        """Nothing to convert: the upload was read (and converted) before this run."""

    def stream_file(self, path: Path, docid: str) -> Iterator[Document]:
        for doc in self._documents:
            yield doc.model_copy(update={"source": doc.source.replace(self._staging, self._final, 1)})
