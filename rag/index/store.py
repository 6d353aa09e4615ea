"""SQLite store: documents, chunks, tokens and vectors — the single source of truth of an index.

FAISS and BM25 are derived from it and rebuilt when stale, so a crash can only ever leave them
behind the store, never inconsistent with it. Each batch of documents is written in one
transaction and bumps ``generation``; a SIGKILL loses at most the batch in flight.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.index.acl import (ACCESS_KEYS, AUDIENCE_KEY, CATALOGUE_META, CLASSIFICATION_KEY, DEFAULT_KB, KB_KEY, PUBLIC,
                           Catalogue, ReadFilter)
from rag.index.keyword import TERMS_VERSION
from rag.models import Chunk, Document
from rag.text.offsets import decode_edits, encode_edits

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files(path TEXT PRIMARY KEY, root TEXT NOT NULL, content_hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents(
    docid TEXT PRIMARY KEY, file TEXT NOT NULL, source TEXT NOT NULL, title TEXT NOT NULL,
    text TEXT NOT NULL, content_hash TEXT NOT NULL, metadata TEXT NOT NULL, edits TEXT);
CREATE INDEX IF NOT EXISTS documents_file ON documents(file);
CREATE TABLE IF NOT EXISTS chunks(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    docid TEXT NOT NULL REFERENCES documents(docid) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL, section TEXT NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL,
    text TEXT NOT NULL, tokens TEXT NOT NULL, embed_hash TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(docid);
CREATE INDEX IF NOT EXISTS chunks_embed ON chunks(embed_hash);
CREATE TABLE IF NOT EXISTS vectors(embed_hash TEXT PRIMARY KEY, vector BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS subjects(docid TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
#: What a document is about (derived at ingest, see rag.ingest.subject) and may be set by a person.
SUBJECT_KEYS = ("city", "organisation", "year")
#: A document's metadata with the subject a person set laid over what ingest derived (SQL).
_METADATA = "json_patch(d.metadata, COALESCE(s.value, '{}'))"
_WITH_SUBJECT = "documents d LEFT JOIN subjects s ON s.docid = d.docid"
#: A document's knowledge base, audience and classification (rag.index.acl), as SQL over _METADATA.
_ACCESS_SQL = (f"COALESCE(json_extract({_METADATA}, '$.{KB_KEY}'), '{DEFAULT_KB}')",
               f"COALESCE(json_extract({_METADATA}, '$.{AUDIENCE_KEY}'), '')",
               f"COALESCE(json_extract({_METADATA}, '$.{CLASSIFICATION_KEY}'), '{PUBLIC}')")


@dataclass(frozen=True)
class StoredChunk:
    id: int
    chunk: Chunk
    title: str


@dataclass(frozen=True)
class NewChunk:
    chunk: Chunk
    tokens: str
    embed_hash: str


class Store:
    """The embedded store: one SQLite file (see the module docstring)."""

    kind = "sqlite+faiss"
    keyword_terms = TERMS_VERSION  # its BM25 terms are computed here (rag.index.keyword)
    terms_upgrade_in_place = True  # policyqa index retokenizes an older scheme's chunks

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self.location = path.parent
        uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
        self.db = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA foreign_keys=ON")
        if not readonly:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
            if not self._has_edits():  # an index written before edits were kept: they are unknown (NULL)
                self.db.execute("ALTER TABLE documents ADD COLUMN edits TEXT")
        elif not self.db.execute("SELECT 1 FROM sqlite_master WHERE name='subjects'").fetchone():
            # an index written before subjects could be set: none are set (reading must not fail)
            self.db.execute("CREATE TEMP TABLE subjects(docid TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self._edits = "d.edits" if self._has_edits() else "NULL"

    def _has_edits(self) -> bool:
        return any(row[1] == "edits" for row in self.db.execute("PRAGMA table_info(documents)"))

    def close(self) -> None:
        self.db.close()

    # -- meta -----------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    @property
    def generation(self) -> int:
        return int(self.get_meta("generation") or 0)

    @property
    def filter_version(self) -> int:
        """Moves when what filters read of documents changes without a new generation (a subject
        or access a person set): searchers drop the allowed ids they kept."""
        return int(self.get_meta("filter_version") or 0)

    def _bump_filters(self) -> None:
        self.db.execute("INSERT INTO meta(key, value) VALUES('filter_version', '1') ON CONFLICT(key) "
                        "DO UPDATE SET value = CAST(value AS INTEGER) + 1")

    def _bump(self) -> None:
        self.db.execute("INSERT INTO meta(key, value) VALUES('generation', '1') ON CONFLICT(key) "
                        "DO UPDATE SET value = CAST(value AS INTEGER) + 1")

    def set_meta(self, values: dict[str, str]) -> None:
        with self.transaction():
            self.db.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", values.items())

    def transaction(self):
        return _Transaction(self.db)

    # -- files and documents --------------------------------------------------------------------
    def file_hash(self, path: str) -> str | None:
        row = self.db.execute("SELECT content_hash FROM files WHERE path=?", (path,)).fetchone()
        return row[0] if row else None

    def files_under(self, root: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT path FROM files WHERE root=?", (root,))]

    def docids_of_file(self, path: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT docid FROM documents WHERE file=?", (path,))]

    def doc_hashes_of_file(self, path: str) -> dict[str, str]:
        """``{docid: content hash}`` of the documents that came from ``path``."""
        return dict(self.db.execute("SELECT docid, content_hash FROM documents WHERE file=?", (path,)))

    def file_of(self, docid: str) -> str | None:
        row = self.db.execute("SELECT file FROM documents WHERE docid=?", (docid,)).fetchone()
        return row[0] if row else None

    def doc_hash(self, docid: str) -> str | None:
        row = self.db.execute("SELECT content_hash FROM documents WHERE docid=?", (docid,)).fetchone()
        return row[0] if row else None

    def known_vectors(self, hashes: Iterable[str]) -> set[str]:
        hashes = list(set(hashes))
        found: set[str] = set()
        for i in range(0, len(hashes), 500):
            part = hashes[i:i + 500]
            q = f"SELECT embed_hash FROM vectors WHERE embed_hash IN ({','.join('?' * len(part))})"
            found.update(r[0] for r in self.db.execute(q, part))
        return found

    def write_documents(self, items: Sequence[tuple[str, Document, list[NewChunk]]],
                        vectors: dict[str, np.ndarray]) -> None:
        """Replace each document (and its chunks) in one transaction with the new vectors.

        ``vectors`` may lack some (or all) of the chunks' texts: those chunks are keyword-searchable
        now and get their vectors later (:meth:`missing_vectors`, :meth:`add_vectors`)."""
        with self.transaction():
            self.db.executemany("INSERT OR IGNORE INTO vectors(embed_hash, vector) VALUES(?, ?)",
                                ((h, v.astype(np.float32).tobytes()) for h, v in vectors.items()))
            for file, doc, chunks in items:
                self.db.execute("DELETE FROM documents WHERE docid=?", (doc.docid,))
                self.db.execute(
                    "INSERT INTO documents(docid, file, source, title, text, content_hash, metadata, edits) "
                    "VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
                    (doc.docid, file, doc.source, doc.title, doc.text, doc.content_hash,
                     json.dumps(doc.metadata, ensure_ascii=False),
                     None if doc.edits is None else encode_edits(doc.edits)))
                self.db.executemany(
                    "INSERT INTO chunks(docid, ordinal, section, start, end, text, tokens, embed_hash) "
                    "VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
                    ((c.chunk.docid, c.chunk.ordinal, json.dumps(c.chunk.section, ensure_ascii=False),
                      c.chunk.start, c.chunk.end, c.chunk.text, c.tokens, c.embed_hash) for c in chunks))
            self._bump()

    def missing_vectors(self, limit: int, after: int = 0) -> tuple[list[tuple[str, str, tuple[str, ...], str]], int]:
        """Up to ``limit`` ``(embed_hash, title, section, text)`` of chunk texts with no vector yet,
        among chunks whose id is above ``after``, in id order; and the last chunk id looked at (pass
        it back as ``after`` to go on without rescanning what came before)."""
        rows = self.db.execute(
            "SELECT c.id, c.embed_hash, d.title, c.section, c.text FROM chunks c JOIN documents d USING(docid) "
            "WHERE c.id > ? AND NOT EXISTS (SELECT 1 FROM vectors v WHERE v.embed_hash = c.embed_hash) "
            "ORDER BY c.id LIMIT ?", (after, limit)).fetchall()
        out: dict[str, tuple[str, str, tuple[str, ...], str]] = {}
        for _, h, title, section, text in rows:
            out.setdefault(h, (h, title, tuple(json.loads(section)), text))
        return list(out.values()), (rows[-1][0] if rows else after)

    def add_vectors(self, vectors: dict[str, np.ndarray], *, publish: bool = False) -> None:
        """Store vectors of chunk texts (one transaction). Searchers see them once the generation
        moves (``publish``, or the next change): bumping it for every batch would make every
        server rebuild its search structures every few seconds during a long embedding run."""
        with self.transaction():
            self.db.executemany("INSERT OR IGNORE INTO vectors(embed_hash, vector) VALUES(?, ?)",
                                ((h, v.astype(np.float32).tobytes()) for h, v in vectors.items()))
            if publish:
                self._bump()

    def publish(self) -> None:
        """Move the generation on, so searchers reload what was stored (see :meth:`add_vectors`)."""
        with self.transaction():
            self._bump()

    def record_files(self, files: Iterable[tuple[str, str, str]]) -> None:
        """Mark ``(path, root, hash)`` files as fully indexed (after their documents are written)."""
        with self.transaction():
            self.db.executemany("INSERT OR REPLACE INTO files(path, root, content_hash) VALUES(?, ?, ?)", files)

    def delete_documents(self, docids: Iterable[str]) -> int:
        docids = list(docids)
        if not docids:
            return 0
        with self.transaction():
            self.db.executemany("DELETE FROM documents WHERE docid=?", ((d,) for d in docids))
            self.db.executemany("DELETE FROM subjects WHERE docid=?", ((d,) for d in docids))
            self._bump()
        return len(docids)

    def set_subject(self, docid: str, values: dict[str, str | None]) -> dict[str, str] | None:
        """Set (a value) or clear (None or "") what a document is about, over what ingest derived.

        Kept apart from the derived metadata, so it survives re-indexing the changed file and a
        cleared key falls back to the derived value. Returns the document's metadata now, or None
        when there is no such document.
        """
        return self._set_overlay(docid, values, SUBJECT_KEYS, "a subject")

    def subject_set(self, docid: str) -> dict[str, str]:
        """The subject fields a person set for ``docid`` (empty when all are derived)."""
        row = self.db.execute("SELECT value FROM subjects WHERE docid=?", (docid,)).fetchone()
        return {k: v for k, v in json.loads(row[0]).items() if k in SUBJECT_KEYS} if row else {}

    def set_access(self, docid: str, values: dict[str, str | None]) -> dict[str, str] | None:
        """Set a document's audience or classification over what its folder's sidecar gave it
        (a value, "" included: an empty audience); None clears a key back to the sidecar's. Kept
        beside the subject a person set, so it survives re-indexing. Searches see it at once
        (filter_version moves). None when there is no such document."""
        return self._set_overlay(docid, values, ACCESS_KEYS, "an access")

    def _set_overlay(self, docid: str, values: dict[str, str | None], keys: tuple[str, ...],
                     what: str) -> dict[str, str] | None:
        unknown = set(values) - set(keys)
        if unknown:
            raise ValueError(f"not {what} field: {', '.join(sorted(unknown))} (use {', '.join(keys)})")
        with self.transaction():
            if not self.db.execute("SELECT 1 FROM documents WHERE docid=?", (docid,)).fetchone():
                return None
            row = self.db.execute("SELECT value FROM subjects WHERE docid=?", (docid,)).fetchone()
            current = overlay(json.loads(row[0]) if row else {}, values)
            if current:
                self.db.execute("INSERT OR REPLACE INTO subjects(docid, value) VALUES(?, ?)",
                                (docid, json.dumps(current, ensure_ascii=False)))
            else:
                self.db.execute("DELETE FROM subjects WHERE docid=?", (docid,))
            self._bump_filters()
        return self.metadata_of([docid])[docid]

    def catalogue(self) -> Catalogue:
        """The knowledge bases and grants (rag.index.acl)."""
        return Catalogue.from_json(self.get_meta(CATALOGUE_META), DEFAULT_KB)

    def update_catalogue(self, change) -> Catalogue:
        """Apply ``change`` (Catalogue -> Catalogue) to the stored catalogue in one transaction."""
        with self.transaction():
            new = change(self.catalogue())
            self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", (CATALOGUE_META, new.to_json()))
        return new

    def forget_files(self, paths: Iterable[str]) -> None:
        """Drop file records (their documents are already gone) so a re-upload is indexed again."""
        with self.transaction():
            self.db.executemany("DELETE FROM files WHERE path=?", ((p,) for p in paths))

    def delete_files(self, paths: Iterable[str]) -> int:
        """Forget files and every document that came from them."""
        paths = list(paths)
        with self.transaction():
            n = 0
            for path in paths:
                self.db.execute("DELETE FROM subjects WHERE docid IN (SELECT docid FROM documents WHERE file=?)", (path,))
                n += self.db.execute("DELETE FROM documents WHERE file=?", (path,)).rowcount
                self.db.execute("DELETE FROM files WHERE path=?", (path,))
            if paths:
                self._bump()
        return n

    def collect_garbage(self) -> int:
        """Drop vectors no chunk refers to any more."""
        with self.transaction():
            return self.db.execute(
                "DELETE FROM vectors WHERE embed_hash NOT IN (SELECT DISTINCT embed_hash FROM chunks)").rowcount

    # -- reading --------------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        return {
            "documents": self.db.execute("SELECT COUNT(*) FROM documents").fetchone()[0],
            "chunks": self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0],
            "vectors": self.db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0],
            "embedded_chunks": self.db.execute(
                "SELECT COUNT(*) FROM chunks c WHERE EXISTS (SELECT 1 FROM vectors v WHERE v.embed_hash = c.embed_hash)"
            ).fetchone()[0],
        }

    def retokenize(self, keyword_text: Callable[[str, tuple[str, ...], str], str]) -> int:
        """Recompute every chunk's keyword terms from (title, section, text) in one transaction.

        Used when the term scheme changes: terms come from stored text, so no file is re-read and
        no vector is recomputed.
        """
        rows = self.db.execute("SELECT c.id, d.title, c.section, c.text FROM chunks c JOIN documents d USING(docid)").fetchall()
        with self.transaction():
            self.db.executemany("UPDATE chunks SET tokens=? WHERE id=?",
                                [(keyword_text(t, tuple(json.loads(sec)), x), cid) for cid, t, sec, x in rows])
            self._bump()
        return len(rows)

    def iter_tokens(self) -> Iterator[tuple[int, str]]:
        yield from self.db.execute("SELECT id, tokens FROM chunks ORDER BY id")

    def all_vectors(self, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """Chunk ids and their vectors, in id order."""
        rows = self.db.execute("SELECT c.id, v.vector FROM chunks c JOIN vectors v USING(embed_hash) ORDER BY c.id").fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dim) if rows else np.zeros((0, dim), np.float32)
        return ids, vectors

    def chunks_by_id(self, ids: Sequence[int]) -> dict[int, StoredChunk]:
        if not ids:
            return {}
        q = ("SELECT c.id, c.docid, c.ordinal, c.section, c.start, c.end, c.text, d.title FROM chunks c "
             f"JOIN documents d USING(docid) WHERE c.id IN ({','.join('?' * len(ids))})")
        out = {}
        for cid, docid, ordinal, section, start, end, text, title in self.db.execute(q, list(map(int, ids))):
            chunk = Chunk(docid=docid, ordinal=ordinal, section=tuple(json.loads(section)), start=start, end=end, text=text)
            out[cid] = StoredChunk(cid, chunk, title)
        return out

    def chunk_ids_where(self, docids: Sequence[str] | None = None, city: str | None = None,
                        year: str | None = None, access: ReadFilter | None = None) -> np.ndarray:
        """Ids of chunks whose document matches every given filter (``access``: what the asker may read)."""
        clauses, params = [], []
        if access is not None:
            clause, values = access.sql(*_ACCESS_SQL)
            clauses.append(clause)
            params.extend(values)
        if docids:
            clauses.append(f"d.docid IN ({','.join('?' * len(docids))})")
            params.extend(docids)
        if city:
            clauses.append(f"json_extract({_METADATA}, '$.city') = ?")
            params.append(city)
        if year:
            clauses.append(f"json_extract({_METADATA}, '$.year') = ?")
            params.append(str(year))
        where = " AND ".join(clauses) or "1"
        rows = self.db.execute("SELECT c.id FROM chunks c JOIN documents d ON d.docid = c.docid "
                               f"LEFT JOIN subjects s ON s.docid = d.docid WHERE {where}", params)
        return np.array([r[0] for r in rows], dtype=np.int64)

    def document(self, docid: str) -> Document | None:
        row = self.db.execute(f"SELECT d.docid, d.source, d.title, d.text, d.content_hash, {_METADATA}, {self._edits} "
                              f"FROM {_WITH_SUBJECT} WHERE d.docid=?", (docid,)).fetchone()
        if not row:
            return None
        return Document(docid=row[0], source=row[1], title=row[2], text=row[3], content_hash=row[4],
                        metadata=json.loads(row[5]), edits=None if row[6] is None else decode_edits(row[6]))

    def metadata_of(self, docids: Sequence[str]) -> dict[str, dict[str, str]]:
        docids = list(dict.fromkeys(docids))
        if not docids:
            return {}
        q = f"SELECT d.docid, {_METADATA} FROM {_WITH_SUBJECT} WHERE d.docid IN ({','.join('?' * len(docids))})"
        return {d: json.loads(m) for d, m in self.db.execute(q, docids)}

    def documents(self) -> list[dict]:
        """Every document with its subject (what it is about, and which fields a person set)."""
        rows = self.db.execute(
            f"SELECT d.docid, d.title, d.source, {_METADATA}, COALESCE(s.value, '{{}}'), COUNT(c.id) FROM {_WITH_SUBJECT} "
            "LEFT JOIN chunks c ON c.docid = d.docid GROUP BY d.docid ORDER BY d.docid")
        out = []
        for docid, title, source, metadata, set_by_person, chunks in rows:
            metadata, set_by_person = json.loads(metadata), json.loads(set_by_person)
            subject = {k: metadata[k] for k in SUBJECT_KEYS if metadata.get(k)}
            out.append({"docid": docid, "title": title, "source": source, "metadata": metadata,
                        "subject": {**subject, "set": sorted(set(set_by_person) & set(SUBJECT_KEYS))}, "chunks": chunks})
        return out


def overlay(current: dict[str, str], values: dict[str, str | None]) -> dict[str, str]:
    """A person's fields (a subject's, a document's access) laid over ``current``: a subject field set to None or "" is
    cleared (back to the derived value); access fields (set_access) are kept as they are."""
    merged = {**current, **values}
    return {k: (v.strip() if k in SUBJECT_KEYS else v) for k, v in merged.items()
            if v is not None and (k not in SUBJECT_KEYS or v.strip())}


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, exc, tb) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
