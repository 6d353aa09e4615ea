"""Incremental, crash-safe indexing: only changed files are re-read, only new chunk texts embedded.

A run walks the given paths, skips files whose bytes hash as before, ingests and chunks the rest,
embeds chunks whose text has no stored vector yet (batched across documents for throughput), and
writes each batch of documents in one SQLite transaction. Files that disappeared from a given folder
are deleted from every structure. Derived FAISS/BM25 files are rebuilt only if the store changed.
A SIGKILL at any point leaves the store at the last committed batch; the next run does the rest.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag.chunk import chunk_document
from rag.config import Settings
from rag.embed import Embedder
from rag.index import (
    STORE_FILE,
    IndexBusyError,
    build_derived,
    check_manifest,
    embed_hash,
    embed_text,
    expected_manifest,
    manifest_diffs,
    open_store,
    save_derived,
    write_manifest_file,
)
from rag.index.acl import AUDIENCE_KEY, CLASSIFICATION_KEY, DEFAULT_KB, KB_KEY, PUBLIC
from rag.index.keyword import terms
from rag.index.sidecar import Sidecars
from rag.index.store import NewChunk, Store
from rag.ingest import IngestError, Ingestor, find_files
from rag.ingest.convert import target_of
from rag.models import Document

log = logging.getLogger(__name__)

@dataclass
class IndexStats:
    files_seen: int = 0
    files_unchanged: int = 0
    files_failed: int = 0
    documents_read: int = 0
    documents_written: int = 0
    documents_deleted: int = 0
    chunks_written: int = 0
    chunks_embedded: int = 0
    embed_seconds: float = 0.0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)


ProgressFn = Callable[[str, int, int], None]

#: The recorded hash of a file that failed partway (some of its records were written): no real
#: hash equals it, so the next run reads the file again.
INCOMPLETE = "incomplete"


#: A file or folder to index (docids from the path), or ``(file, docid)``: a file indexed under a
#: docid of the caller's choosing (uploads); the records of such a JSONL file become ``docid/record``.
Source = str | Path | tuple[Path, str]


def update_index(settings: Settings, paths: Iterable[Source], embedder: Embedder, *,
                 rebuild: bool = False, progress: ProgressFn | None = None,
                 ingestor: Ingestor | None = None, keyword_only: bool = False, kb: str | None = None) -> IndexStats:
    """Bring ``settings.index_dir`` up to date with ``paths`` (files/folders/JSONL corpora).

    Each document goes into knowledge base ``kb`` (else its folder's sidecar's, else the default
    one), with the audience and classification of the nearest ``.policyqa.toml`` (rag.index.sidecar);
    a knowledge base must exist first (``policyqa kb create``).

    Files are read by ``ingestor`` (a long-lived one from a server), else by one made for this run.
    ``keyword_only``: store chunks without embedding them — keyword-searchable at once, at BM25's
    speed; :func:`embed_missing` fills in the vectors later.
    """
    started = time.perf_counter()
    stats = IndexStats()
    with _writable(settings, embedder, rebuild=rebuild) as store, \
            (nullcontext(ingestor) if ingestor else Ingestor(settings.ingest_limits())) as reader:
        _Run(store, settings, embedder, stats, progress, reader, keyword_only, Sidecars(kb)).run(list(paths))
        stats.totals = store.counts()
    stats.seconds = time.perf_counter() - started
    return stats


@dataclass
class EmbedStats:
    embedded: int = 0
    seconds: float = 0.0
    totals: dict[str, int] = field(default_factory=dict)


def embed_missing(settings: Settings, embedder: Embedder, *, progress: ProgressFn | None = None,
                  publish_every_s: float = 300.0, limit: int | None = None) -> EmbedStats:
    """Embed every stored chunk text that has no vector yet (the second stage of indexing).

    Resumable and crash-safe: each batch of vectors is committed on its own, so a SIGKILL loses at
    most the batch in flight and a rerun starts from the first chunk still without a vector. The
    index's write lock is held only while a batch is written, never while the model works, so
    ``policyqa index`` and uploads go on meanwhile. Searchers pick the new vectors up every
    ``publish_every_s`` seconds and at the end. ``limit`` stops after about that many chunk texts.
    """
    started = time.perf_counter()
    stats = EmbedStats()
    report = progress or (lambda *_: None)
    reader = open_store(settings, readonly=True)
    try:
        check_manifest(reader, expected_manifest(settings, embedder.name, embedder.dim, reader.keyword_terms), reader.location)
        counts = reader.counts()
        todo = counts["chunks"] - counts["embedded_chunks"]
        published = time.monotonic()
        unpublished = 0
        batch = settings.embed_batch_size
        after = 0
        while limit is None or stats.embedded < limit:
            want = batch * 8 if limit is None else min(batch * 8, limit - stats.embedded)
            rows, after = reader.missing_vectors(want, after)
            if not rows:
                break
            for i in range(0, len(rows), batch):
                part = rows[i:i + batch]
                vectors = embedder.embed_passages([embed_text(t, sec, x) for _, t, sec, x in part])
                publish = time.monotonic() - published >= publish_every_s
                with _batch_writer(settings, embedder, reader, publish) as store:
                    store.add_vectors(dict(zip((h for h, *_ in part), vectors)), publish=publish)
                stats.embedded += len(part)
                unpublished = 0 if publish else unpublished + len(part)
                published = time.monotonic() if publish else published
                report("chunks", stats.embedded, todo)
        if unpublished:
            with _batch_writer(settings, embedder, reader, True) as store:
                store.publish()
        stats.totals = reader.counts()
    finally:
        reader.close()
    stats.seconds = time.perf_counter() - started
    return stats


def _batch_writer(settings: Settings, embedder: Embedder, reader: Store, refresh: bool):
    """Where embed_missing writes a batch: the embedded store under its write lock, taken per batch
    (waiting behind another writer); Milvus through the connection already open (it has no lock)."""
    if settings.store == "milvus":
        return nullcontext(reader)
    return _writable(settings, embedder, wait=True, refresh=refresh)


def remove_documents(settings: Settings, docids: Iterable[str], embedder: Embedder) -> int:
    """Delete documents (and the files they came from) from every structure of the index."""
    with _writable(settings, embedder) as store:
        docids = [d for d in docids if store.doc_hash(d) is not None]
        files = {f for d in docids if (f := store.file_of(d)) is not None}
        removed = store.delete_documents(docids)
        store.forget_files(f for f in files if not store.docids_of_file(f))
    return removed


def set_subject(settings: Settings, docid: str, values: dict[str, str | None], embedder: Embedder) -> dict[str, str] | None:
    """Set or clear what a document is about (city, organisation, year); see Store.set_subject.
    Nothing derived changes (the subject is read at answer time), so this is instant."""
    with _writable(settings, embedder) as store:
        return store.set_subject(docid, values)


@contextmanager
def access_store(settings: Settings) -> Iterator[Store]:
    """The store for changing knowledge bases, grants and documents' access: under the index's
    write lock (waiting behind another writer), without loading a model — nothing derived changes."""
    if settings.store == "milvus":
        from rag.index.milvus import MilvusStore

        store = MilvusStore.connect(settings, readonly=True)
        try:
            yield store  # type: ignore[misc]
        finally:
            store.close()
        return
    folder = Path(settings.index_dir)
    if not (folder / STORE_FILE).exists():
        raise FileNotFoundError(f"no index at {folder}: build one with `policyqa index docs/`")
    with _index_lock(folder, wait=True):
        store = Store(folder / STORE_FILE)
        try:
            yield store
        finally:
            store.close()


@contextmanager
def _index_lock(folder: Path, wait: bool) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexBusyError(f"index {folder} is being updated by another process; wait for it to finish") from None
        yield


def _upgrade_terms(store: Store, expected: dict[str, str], folder: Path) -> None:
    """An index whose only difference is an older keyword-term scheme is upgraded in place
    (any other difference is left for check_manifest to explain)."""
    if [k for k, _, _ in manifest_diffs(store, expected)] != ["keyword_terms"]:
        return
    n = store.retokenize(lambda title, section, text: " ".join(terms(embed_text(title, section, text))))
    store.set_meta({"keyword_terms": expected["keyword_terms"]})
    log.info("index %s: keyword terms of %d chunks upgraded to %s (no re-embedding)", folder, n, expected["keyword_terms"])


@contextmanager
def _writable(settings: Settings, embedder: Embedder, rebuild: bool = False, *, wait: bool = False,
              refresh: bool = True) -> Iterator[Store]:
    """Exclusive, manifest-checked write access; derived files are refreshed on the way out
    (``refresh=False``: not yet, a later call does it). ``wait``: queue behind another writer
    instead of failing at once."""
    if settings.store == "milvus":
        with _writable_milvus(settings, embedder, rebuild) as store:
            yield store
        return
    folder = Path(settings.index_dir)
    with _index_lock(folder, wait):
        if rebuild:
            for path in [folder / STORE_FILE, folder / f"{STORE_FILE}-wal", folder / f"{STORE_FILE}-shm"]:
                path.unlink(missing_ok=True)
        store = Store(folder / STORE_FILE)
        try:
            expected = expected_manifest(settings, embedder.name, embedder.dim, store.keyword_terms)
            _upgrade_terms(store, expected, folder)
            check_manifest(store, expected, folder)
            store.set_meta(expected)
            before = store.generation
            yield store
            if refresh:
                store.collect_garbage()
                if store.generation != before or not (folder / "derived.json").exists():
                    save_derived(folder, build_derived(store, embedder.dim, settings.ann_threshold))
                write_manifest_file(folder, store)
        finally:
            store.close()


@contextmanager
def _writable_milvus(settings: Settings, embedder: Embedder, rebuild: bool) -> Iterator[Store]:
    """Manifest-checked access to the Milvus collections. No lock: replicas share the server, and
    each document is written so that a crash or a concurrent reader never sees half of it."""
    from rag.index.milvus import MilvusStore

    store = MilvusStore.connect(settings)
    try:
        if rebuild:
            for name in store.c.values():
                store.client.drop_collection(name)
        store.ensure_collections(embedder.dim)
        expected = expected_manifest(settings, embedder.name, embedder.dim, store.keyword_terms)
        check_manifest(store, expected, store.location)  # type: ignore[arg-type]
        store.set_meta(expected)
        yield store  # type: ignore[misc]
    finally:
        store.close()


class _Run:
    def __init__(self, store: Store, settings: Settings, embedder: Embedder, stats: IndexStats,
                 progress: ProgressFn | None, ingestor: Ingestor, keyword_only: bool, sidecars: Sidecars) -> None:
        self.store, self.settings, self.embedder, self.stats = store, settings, embedder, stats
        self.sidecars = sidecars
        self.ingestor = ingestor
        self.keyword_only = keyword_only
        self.progress = progress or (lambda *_: None)
        self.pending: list[tuple[str, Document, list[NewChunk]]] = []  # (file, document, chunks)
        self.done_files: list[tuple[str, str, str]] = []  # (file, root, hash) fully read
        self.pending_chunks = 0

    def run(self, sources: list[Source]) -> None:
        files: list[tuple[Path, str, str, bool]] = []  # (file, docid, root, docid chosen by the caller)
        folders = []
        for source in sources:
            if isinstance(source, tuple):
                path = Path(source[0])
                files.append((path, source[1], str(path.resolve()), True))
            else:
                root = Path(source)
                files.extend((f, docid, str(root.resolve()), False) for f, docid in find_files([root]))
                if root.is_dir():
                    folders.append(str(root.resolve()))
        access = [self.sidecars.access(path, Path(root)) for path, _, root, _ in files]  # a bad sidecar stops here
        kbs = self.store.catalogue().kbs
        missing = sorted({a[KB_KEY] for a in access} - set(kbs))
        if missing:
            raise ValueError(f"no knowledge base {missing[0]!r}: create it first with `policyqa kb create {missing[0]}`")
        # the changed .doc/.xls/… converted in one LibreOffice run before the files are read one by one
        self.ingestor.prepare([path for (path, _, _, _), given in zip(files, access) if target_of(path)
                               and self.store.file_hash(str(path.resolve())) != _with_access(_file_hash(path), given)])
        seen: set[str] = set()
        for i, ((path, docid, root, chosen), given) in enumerate(zip(files, access)):
            self.progress("files", i, len(files))
            key = str(path.resolve())
            seen.add(key)
            self.stats.files_seen += 1
            data_hash = _with_access(_file_hash(path), given)
            if self.store.file_hash(key) == data_hash and self.store.docids_of_file(key):
                self.stats.files_unchanged += 1
                continue
            self._read(path, docid, root, key, data_hash, chosen, given)
        self.progress("files", len(files), len(files))
        self._flush()
        self._delete_missing({root for _, _, root, _ in files} | set(folders), seen)

    def _read(self, path: Path, docid: str, root: str, key: str, data_hash: str, chosen: bool,
              access: dict[str, str]) -> None:
        """Stream the file's documents into the store in batches (bounded memory, progress per
        document). Records already written stay written if the file fails later on; but then the
        file is not marked indexed and no record is taken for deleted, so a corpus cut off halfway
        never deletes its later records, and the next run reads it again."""
        stored = self.store.doc_hashes_of_file(key)  # one query, not one per record of a big corpus
        old = set(stored)
        read, file_error = 0, False
        for item in self.ingestor.stream_file(path, docid):
            if isinstance(item, IngestError):
                self.stats.errors.append(str(item))
                file_error = file_error or item.path == str(path)
                continue
            doc = item
            if chosen and doc.docid != docid:  # the records of a multi-document file live under the caller's docid
                doc = doc.model_copy(update={"docid": f"{docid}/{doc.docid}"})
            doc = doc.model_copy(update={"metadata": {**doc.metadata, **access},
                                         "content_hash": _with_access(doc.content_hash, access)})
            self.stats.warnings.extend(f"{path}: {w}" for w in doc.warnings)
            read += 1
            self.stats.documents_read += 1
            if read % 500 == 0:
                self.progress("documents", self.stats.documents_read, 0)
            old.discard(doc.docid)
            if stored.get(doc.docid) == doc.content_hash:
                continue  # unchanged (a JSONL record, or a file whose run was cut off after writing)
            chunks = self._chunks(doc)
            self.pending.append((key, doc, chunks))
            self.pending_chunks += len(chunks)
            if self.pending_chunks >= self.settings.index_flush_chunks:
                self._flush()  # big JSONL corpora are committed in batches, not at the end
        if file_error or not read:
            self.stats.files_failed += 1
            if read:  # tracked, so removing the file removes its records; never "unchanged", so read again
                self.done_files.append((key, root, INCOMPLETE))
            if self.store.file_hash(key) is not None:
                log.warning("%s could not be read this time; %s", path,
                            f"the {read} record(s) read were updated, the others keep their indexed version"
                            if read else "its previously indexed version is kept")
            return
        if old:  # records removed from a JSONL file
            self._flush()
            self.stats.documents_deleted += self.store.delete_documents(old)
        # the file counts as indexed once all its documents are written (at the next flush)
        self.done_files.append((key, root, data_hash))

    def _chunks(self, doc: Document) -> list[NewChunk]:
        out = []
        for chunk in chunk_document(doc, self.settings.chunk_max_chars, self.settings.chunk_min_chars):
            text = embed_text(doc.title, chunk.section, chunk.text)
            out.append(NewChunk(chunk, " ".join(terms(text)), embed_hash(self.embedder.name, text)))
        return out

    def _flush(self) -> None:
        if self.pending:
            new: dict[str, str] = {}
            for _, doc, chunks in self.pending:
                for c in chunks:
                    new.setdefault(c.embed_hash, embed_text(doc.title, c.chunk.section, c.chunk.text))
            for h in self.store.known_vectors(new):
                del new[h]
            self.store.write_documents(self.pending, {} if self.keyword_only else self._embed(new))
            self.stats.documents_written += len(self.pending)
            self.stats.chunks_written += sum(len(c) for _, _, c in self.pending)
        if self.done_files:
            self.store.record_files(self.done_files)
        self.pending, self.done_files, self.pending_chunks = [], [], 0

    def _embed(self, texts: dict[str, str]) -> dict[str, np.ndarray]:
        hashes, bodies = list(texts), list(texts.values())
        out: dict[str, np.ndarray] = {}
        batch = self.settings.embed_batch_size
        started = time.perf_counter()
        for i in range(0, len(bodies), batch):
            vectors = self.embedder.embed_passages(bodies[i:i + batch])
            out.update(zip(hashes[i:i + batch], vectors))
            self.stats.chunks_embedded += len(vectors)
            self.progress("chunks", self.stats.chunks_embedded, 0)
        self.stats.embed_seconds += time.perf_counter() - started
        return out

    def _delete_missing(self, roots: set[str], seen: set[str]) -> None:
        gone = [f for root in roots for f in self.store.files_under(root) if f not in seen]
        if gone:
            self.stats.documents_deleted += self.store.delete_files(gone)
            log.info("removed %d file(s) that no longer exist", len(gone))


#: The access of a document indexed without a knowledge base or a sidecar (today's behaviour).
_DEFAULT_ACCESS = {KB_KEY: DEFAULT_KB, AUDIENCE_KEY: "", CLASSIFICATION_KEY: PUBLIC}


def _with_access(content_hash: str, access: dict[str, str]) -> str:
    """A content hash that also changes with the knowledge base and sidecar access a file is
    indexed with, so moving a folder to another knowledge base or editing its sidecar re-indexes
    it; unchanged for the default access, so libraries indexed before this are not redone."""
    if access == _DEFAULT_ACCESS:
        return content_hash
    tag = "\x00".join(f"{k}={access[k]}" for k in sorted(access))
    return hashlib.sha256(f"{content_hash}\x00{tag}".encode()).hexdigest()


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
