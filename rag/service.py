"""The embeddable Python API: one loaded model and index shared by every caller.

    from rag import PolicyQA
    qa = PolicyQA.open("index/")
    answer = qa.ask("天长市何时被评为全国法治政府建设示范市？")
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from rag.answer.chain import AnswerChain
from rag.audit import AuditLog, answer_hash
from rag.config import Settings
from rag.embed import embedder_for
from rag.feedback import FeedbackLog
from rag.index.acl import DEFAULT_KB, AccessError, Catalogue, ReadFilter, access_of, audience_value, \
    classification_value, read_filter
from rag.index.build import IndexStats, access_store, remove_documents, set_subject, update_index
from rag.ingest import DIRECTIVE_EXAMPLE_KEY, DIRECTIVES_KEY, Ingestor, ReaderPool
from rag.ingest.view import PageViewer
from rag.models import LOCAL, UPLOAD_PREFIX, Answer, Document, Hit, Principal, Progress, source_kind
from rag.retrieve import Filters, Retriever
from rag.uploads import UploadFolder, UploadRefused, upload_docid


def listed(documents: list[dict]) -> list[dict]:
    """The store's document list as staff see it (CLI, API, UI): each with its ``kind`` (upload or
    library, see rag.uploads.SOURCE_KINDS) and ``directives``, how many of its sentences give orders
    to the reader or the system (0 for none; see rag.text.directives) with the first of them, so a
    document trying to steer answers is visible before anyone asks."""
    return [{**d, "kind": source_kind(d["docid"]), "directives": int(d["metadata"].get(DIRECTIVES_KEY, 0) or 0),
             "directive_example": d["metadata"].get(DIRECTIVE_EXAMPLE_KEY, "")} for d in documents]


class Forbidden(PermissionError):
    """The asker may read the thing but not change it (an editor's or a manager's right)."""


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
        self.audit = AuditLog(settings.audit_file)
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
            llm_only: bool = False, principal: Principal = LOCAL, kbs: Sequence[str] = ()) -> Answer:
        """``history``: the user's earlier questions in this conversation, oldest first, and
        ``history_answers`` the answers they got where known; ``max_tokens`` caps what the LLM may
        write (LLM mode); ``llm_only``: raise LLMBusyError instead of answering extractively when the
        model's queue is full. Only what ``principal`` may read in ``kbs`` (all it may read when
        none are named) is searched (rag.index.acl); the question goes into the audit trail."""
        started = time.perf_counter()
        scoped = self.scoped(principal, kbs, filters)
        answer = self.chain.ask(question, mode=mode, filters=scoped, history=history, max_tokens=max_tokens,
                                history_answers=history_answers, llm_only=llm_only)
        self._audit_question(principal, kbs, filters, scoped, answer, started)
        return answer

    def stream(self, question: str, mode: str | None = None, filters: Filters | None = None,
               history: Sequence[str] = (), history_answers: Sequence[str] = (),
               llm_only: bool = False, principal: Principal = LOCAL, kbs: Sequence[str] = ()) -> Iterator[str | Progress | Answer]:
        """Progress (place in the model's queue, then "checking"), the model's unverified text
        pieces (never to be shown to people as an answer), then the verified Answer; searched and
        audited as :meth:`ask` (an AccessError before anything is streamed)."""
        started = time.perf_counter()
        scoped = self.scoped(principal, kbs, filters)

        def events() -> Iterator[str | Progress | Answer]:
            for item in self.chain.stream(question, mode=mode, filters=scoped, history=history,
                                          history_answers=history_answers, llm_only=llm_only):
                if isinstance(item, Answer):
                    self._audit_question(principal, kbs, filters, scoped, item, started)
                yield item
        return events()

    def search(self, question: str, k: int = 5, filters: Filters | None = None, principal: Principal = LOCAL,
               kbs: Sequence[str] = ()) -> list[Hit]:
        return self.retriever.search(question, k=k, filters=self.scoped(principal, kbs, filters))

    # -- knowledge bases and permissions (rag.index.acl) ------------------------------------------
    def catalogue(self) -> Catalogue:
        return self.retriever.store.catalogue()

    def read_filter(self, principal: Principal, kbs: Sequence[str] = ()) -> ReadFilter | None:
        """What ``principal`` may read among ``kbs`` (AccessError for one it may not read)."""
        return read_filter(principal, self.catalogue(), list(kbs))

    def scoped(self, principal: Principal, kbs: Sequence[str], filters: Filters | None) -> Filters | None:
        """``filters`` narrowed to what ``principal`` may read in ``kbs``."""
        access = self.read_filter(principal, kbs)
        if access is None:
            return filters
        return replace(filters or Filters(), access=access)

    def may_read(self, principal: Principal, docid: str) -> bool:
        access = self.read_filter(principal)
        if access is None:
            return True
        metadata = self.retriever.store.metadata_of([docid]).get(docid)
        return metadata is not None and access.admits(*access_of(metadata))

    def _audit_question(self, principal: Principal, kbs: Sequence[str], filters: Filters | None,
                        scoped: Filters | None, answer: Answer, started: float) -> None:
        """One audit line for an answered question, with how many of the passages a search of the
        same knowledge bases without the asker's permissions would have ranked first were withheld
        from this asker (counted, never named)."""
        access = scoped.access if scoped else None
        withheld = 0
        catalogue = self.catalogue()
        ceiling = read_filter(LOCAL, catalogue, list(kbs))  # the same knowledge bases, no permissions
        if access is not None and access != ceiling:
            unrestricted = replace(filters or Filters(), access=ceiling) if ceiling else filters
            hits = self.retriever.search(answer.understood_as or answer.question, filters=unrestricted)
            meta = self.retriever.store.metadata_of([h.chunk.docid for h in hits])
            withheld = sum(not access.admits(*access_of(meta.get(h.chunk.docid, {}))) for h in hits)
        searched = list(kbs) or (catalogue.kbs if access is None else
                                 [*access.full, *access.member, *access.public])
        self.audit.record("question", principal, kbs=list(searched), question=answer.question,
                          cited=sorted({c.docid for c in answer.citations}), withheld=withheld,
                          refused=answer.refused, mode=answer.mode, answer_sha256=answer_hash(answer.answer),
                          latency_ms=round((time.perf_counter() - started) * 1000, 1))

    def create_kb(self, principal: Principal, name: str) -> Catalogue:
        if not principal.admin:
            raise Forbidden("only a site administrator may create knowledge bases")
        return self._change_catalogue(principal, "kb_create", name, {}, lambda c: c.create(name))

    def grant(self, principal: Principal, kb: str, kind: str, who: str, role: str | None) -> Catalogue:
        """Grant ``role`` on ``kb`` to a user or a group (``role`` None revokes); a manager's right."""
        self._readable_kb(principal, kb)
        if not self.catalogue().may(principal, kb, "manager"):
            raise Forbidden(f"only a manager of {kb} may grant or revoke roles on it")
        change = (lambda c: c.revoke(kb, kind, who)) if role is None else (lambda c: c.grant(kb, kind, who, role))
        return self._change_catalogue(principal, "revoke" if role is None else "grant", kb,
                                      {"kind": kind, "who": who, "role": role}, change)

    def _readable_kb(self, principal: Principal, kb: str) -> None:
        read_filter(principal, self.catalogue(), [kb])  # AccessError, the same for a missing one

    def _change_catalogue(self, principal: Principal, kind: str, target: str, change: dict, apply) -> Catalogue:
        with self._write_slot(), self._write_lock, access_store(self.settings) as store:
            catalogue = store.update_catalogue(apply)
        self.audit.record(kind, principal, target=target, change=change)
        return catalogue

    def set_access(self, principal: Principal, docid: str, audience: Sequence[str] | None = None,
                   classification: str | None = None) -> dict[str, str] | None:
        """Set a document's audience (groups; [] for everyone who may read its knowledge base) and
        classification (公开/内部); an editor's right in the document's knowledge base. None when
        there is no such document the asker may read (the same answer either way)."""
        values = {}
        if audience is not None:
            values["audience"] = audience_value(audience)
        if classification is not None:
            values["classification"] = classification_value(classification)
        if not values:
            raise AccessError("nothing to set: give an audience and/or a classification")
        self._editable(principal, docid)
        with self._write_slot(), self._write_lock, access_store(self.settings) as store:
            metadata = store.set_access(docid, values)
        if metadata is None:
            return None
        self.audit.record("access", principal, target=docid, change=values)
        kb, audience_now, classification_now = access_of(metadata)
        return {"kb": kb, "audience": [g for g in audience_now.split(",") if g], "classification": classification_now}

    def _editable(self, principal: Principal, docid: str) -> None:
        """LookupError when ``principal`` may not read ``docid`` (or it does not exist), Forbidden
        when it may read but not edit it."""
        if not self.may_read(principal, docid):
            raise LookupError(f"no document '{docid}'")
        kb = access_of(self.retriever.store.metadata_of([docid]).get(docid, {}))[0]
        if not self.catalogue().may(principal, kb, "editor"):
            raise Forbidden(f"only an editor of knowledge base {kb} may change its documents")

    def add(self, paths: Sequence[str | Path], kb: str | None = None) -> IndexStats:
        """Ingest and index files or folders (into ``kb``, see update_index); searches see them as
        soon as this returns."""
        with self._write_slot(), self._write_lock:
            stats = update_index(self.settings, paths, self.retriever.embedder, ingestor=self.ingestor, kb=kb)
            self.retriever.refresh()
        return stats

    def add_upload(self, filename: str, data: bytes, principal: Principal = LOCAL, kb: str | None = None) -> UploadResult:
        """Index uploaded bytes as ``uploads/<name>`` (a new version if that name was uploaded before).

        The bytes are read first, in a staging file, by one of the upload readers and outside the
        write lock: a long read (a 5,000-page file that is refused in the end) delays no other
        write. Only a file that reads is put in place and indexed, from what was read (it is not
        read twice), so a refused upload leaves the folder and the index exactly as they were.
        Raises UploadRefused (bad name, unsupported type, empty), UploadUnreadable (with the
        reasons), WriteQueueFull or IndexBusyError (another process is writing the index),
        AccessError / Forbidden unless ``principal`` is an editor of ``kb`` (default: the default
        knowledge base); replacing an upload the asker may not read is refused as well.
        """
        kb = kb or DEFAULT_KB
        docid = upload_docid(filename)
        if kb != DEFAULT_KB:  # each knowledge base's uploads apart: no name is taken across them
            docid = f"{UPLOAD_PREFIX}{kb}/{docid[len(UPLOAD_PREFIX):]}"
        self._readable_kb(principal, kb)
        if not self.catalogue().may(principal, kb, "editor"):
            raise Forbidden(f"only an editor of knowledge base {kb} may add documents to it")
        if self.retriever.store.doc_hash(docid) is not None and not self.may_read(principal, docid):
            raise Forbidden("a document of that name exists that you may not replace; choose another file name")
        if not data:
            raise UploadRefused("empty_file", "the file is empty")
        name = docid.rsplit("/", 1)[-1]
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
                                             ingestor=_Read(result.documents, staging, final), kb=kb)
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
        documents = [d for d in self.documents(principal) if d["docid"] == docid or d["docid"].startswith(docid + "/")]
        self.audit.record("upload", principal, target=docid, change={"kb": kb, "documents": len(documents)})
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

    def remove(self, docid: str, principal: Principal = LOCAL) -> bool:
        """Remove one document; an uploaded file goes with its last document (a JSONL upload's
        other records stay indexed, and the file with them)."""
        try:
            self._editable(principal, docid)
        except LookupError:
            return False
        with self._write_slot(), self._write_lock:
            doc = self.retriever.store.document(docid)
            removed = remove_documents(self.settings, [docid], self.retriever.embedder)
            self.retriever.refresh()
            if doc is not None:
                source = Path(doc.source.split("#", 1)[0])
                if self.uploads.holds(source) and not self.retriever.store.docids_of_file(str(source.resolve())):
                    source.unlink(missing_ok=True)
        if removed:
            self.audit.record("delete", principal, target=docid, change={})
        return bool(removed)

    def set_subject(self, docid: str, principal: Principal = LOCAL, **values: str | None) -> dict[str, str] | None:
        """Say what a document is about where ingest got it wrong (``city="天长市"``); None or ""
        clears a field back to the derived value. Returns the document's subject now, or None when
        there is no such document (that the asker may read); an editor's right."""
        try:
            self._editable(principal, docid)
        except LookupError:
            return None
        with self._write_slot(), self._write_lock:
            if set_subject(self.settings, docid, values, self.retriever.embedder) is None:
                return None
        self.audit.record("subject", principal, target=docid, change=values)
        return next(d["subject"] for d in self.documents(principal) if d["docid"] == docid)

    def page_image(self, docid: str, page: int, start: int = 0, end: int = 0, principal: Principal = LOCAL) -> bytes:
        """PNG of page ``page`` of a PDF or image document as it stands in the original file, the
        stored-text span ``start:end`` (a citation's quote) highlighted on it, drawn in the page-view
        process. Raises LookupError for an unknown document, PageNotAvailable for a page or file
        that is not there, PageRenderFailed for a page that overruns that process's limits."""
        from rag.ingest.view import PageNotAvailable, PageRequest

        doc = self.document(docid, principal)
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

    def documents(self, principal: Principal = LOCAL) -> list[dict]:
        """The documents ``principal`` may read, each with its knowledge base, audience and classification."""
        access = self.read_filter(principal)
        out = []
        for d in listed(self.retriever.store.documents()):
            kb, audience, classification = access_of(d["metadata"])
            if access is None or access.admits(kb, audience, classification):
                out.append({**d, "kb": kb, "audience": [g for g in audience.split(",") if g],
                            "classification": classification})
        return out

    def document(self, docid: str, principal: Principal = LOCAL) -> Document | None:
        """The stored document, or None when there is none that ``principal`` may read."""
        return self.retriever.store.document(docid) if self.may_read(principal, docid) else None


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
