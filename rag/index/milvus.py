"""Milvus as the scale-out store: documents, chunks, vectors and BM25 in one Milvus database.

Everything an index holds lives in Milvus — file and document bookkeeping included — so several
``policyqa serve`` replicas can share one server and stay stateless. Collections (``<prefix>_…``):

    meta        manifest values (embedding model, dimension, …)
    files       indexed files with their content hash (what makes indexing incremental)
    documents   one row per document: title, hashes, derived metadata, the subject a person set,
                the effective city/year used by filters, and how many chunks it has
    texts       document text in parts (a VARCHAR holds 64 KB; documents can be longer), per version;
                parts numbered from -1 down hold the document's edits (rag.text.offsets), which
                give quotes their place in the text as extracted from the file
    chunks      chunk text and position, its BM25 terms (``key``: the embedded store's bigrams as
                Latin words, see encode_terms; Milvus's own BM25 function turns them into
                ``sparse``), the dense vector and ``embedded``

Milvus requires a vector field in every collection; the bookkeeping collections carry a 2-d
placeholder. Milvus has no multi-row transactions, so writes are ordered to be crash-safe:
a document version's chunks and text parts (ids derived from docid, content hash and ordinal, so a
retry rewrites the same rows) go in first, then its documents row, then the rows of its old version
are deleted; deletes go chunks → texts → document → file. Readers accept chunks and text parts only
of the document's current hash, so a write cut off halfway is never seen (no duplicates, no text
that does not match its chunks), and the next run finishes it (the file's hash is recorded last).

``milvus-lite`` (a local ``.db`` file, or ``milvus-lite server`` reached over gRPC like a cluster)
is what the tests run; see the README's "Scaling out" for what differs on a real server.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.index import IndexMismatchError, StoreUnavailableError
from rag.index.acl import ACCESS_KEYS, CATALOGUE_META, DEFAULT_KB, Catalogue, ReadFilter, access_of
from rag.index.keyword import query_terms
from rag.index.search import SearchBackend
from rag.index.store import SUBJECT_KEYS, NewChunk, StoredChunk, overlay
from rag.models import Chunk, Document
from rag.text.offsets import decode_edits, encode_edits

log = logging.getLogger(__name__)

#: BM25 terms are the embedded store's character bigrams (rag.index.keyword), each written as one
#: Latin word that Milvus's standard analyser keeps whole (:func:`encode_terms`); Milvus's BM25
#: function counts and weighs them. Measured on NCP + 64k news (eval/bench_scale.py), jieba words
#: analysed by Milvus found the right document far less often than bigrams (see the README).
KEYWORD_TERMS = "milvus-bm25-bigram-1"
#: Declared so that both milvus-lite and a Milvus >= 2.5 server accept it.
ANALYZER = {"tokenizer": "standard"}
#: BM25 parameters as the embedded store's (rag.index.keyword.KeywordIndex.build).
BM25_PARAMS = {"bm25_k1": 0.75, "bm25_b": 0.75}
_HEX_AS_LETTERS = str.maketrans("0123456789abcdef", "abcdefghijklmnop")
_TEXT_PART = 16_000  # characters of document text per row (≤ 64 KB in UTF-8)
_VARCHAR = 65_535
_PAGE = 1000  # rows per query/delete round trip
_QUERY_LIMIT = 16_384  # the most rows one Milvus query returns; past it, an iterator pages


def encode_terms(terms: Iterable[str]) -> str:
    """BM25 terms as words of letters only (发展 → its UTF-8 bytes in hex, digits as letters), so an
    analyser made for Latin text splits exactly at the spaces between terms."""
    return " ".join(t.encode("utf-8").hex().translate(_HEX_AS_LETTERS) for t in terms)


_CHUNK_FIELDS = ["id", "docid", "doc_hash", "ordinal", "section", "start", "end", "text", "embed_hash", "embedded",
                 "kb", "audience", "classification"]
_MAX_AUDIENCE = 64  # groups one document's audience may name


def _access_fields(metadata: dict, subject: dict) -> dict:
    """The scalar fields a read filter tests (rag.index.acl.ReadFilter.milvus), from the effective metadata."""
    kb, audience, classification = access_of({**(metadata or {}), **(subject or {})})
    groups = [g for g in audience.split(",") if g]
    if len(groups) > _MAX_AUDIENCE:
        raise ValueError(f"an audience may name at most {_MAX_AUDIENCE} groups")
    return {"kb": kb, "audience": groups, "classification": classification}


class _Guarded:
    """The Milvus client with its failures (server down, connection lost, a refused request) turned
    into StoreUnavailableError naming the server and what to do, for the CLI to print and the API
    to answer 503 with, instead of a traceback or a 500."""

    def __init__(self, client, location: str) -> None:
        from pymilvus.exceptions import MilvusException

        self._client, self._location = client, location
        self._failures = (MilvusException, ConnectionError, TimeoutError)

    def __getattr__(self, name: str):
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            try:
                return attr(*args, **kwargs)
            except self._failures as exc:
                raise StoreUnavailableError(
                    f"Milvus at {self._location} failed ({type(exc).__name__}: {str(exc)[:300]}); check that it "
                    "runs and is reachable (POLICYQA_MILVUS_URI), then retry: an index run it cut off finishes "
                    "when run again") from exc
        return call


def _parts(text: str) -> list[str]:
    """``text`` in rows a VARCHAR holds (see _TEXT_PART)."""
    return [text[i:i + _TEXT_PART] for i in range(0, len(text), _TEXT_PART)]


def _quote(value: str) -> str:
    """A string literal for a Milvus filter expression (JSON escaping is what its parser reads)."""
    return json.dumps(value, ensure_ascii=False)


def _in(field: str, values: Iterable[Any]) -> str:
    return f"{field} in [{', '.join(_quote(v) if isinstance(v, str) else str(int(v)) for v in values)}]"


def chunk_id(docid: str, content_hash: str, ordinal: int) -> int:
    """A stable 63-bit id: the same document version gives the same ids, so a retry overwrites."""
    digest = hashlib.blake2b(f"{docid}\x00{content_hash}\x00{ordinal}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & 0x7FFF_FFFF_FFFF_FFFF


class MilvusStore(SearchBackend):
    """The store and the search engine of an index kept in Milvus (same methods as rag.index.store.Store)."""

    kind = "milvus"
    keyword_terms = KEYWORD_TERMS
    terms_upgrade_in_place = False  # the analyser of a collection is fixed when it is created
    generation = 0  # searches read live data: there is nothing derived to reload

    def __init__(self, client, uri: str, prefix: str) -> None:
        self.client = client
        self.location = uri
        self.c = {name: f"{prefix}_{name}" for name in ("meta", "files", "documents", "texts", "chunks")}
        self.dim: int | None = None
        self._embedded: dict[int, bool] = {}  # chunk id -> has a vector, as last seen (insertion-ordered, bounded)
        self._has_vectors: tuple[bool, float] = (False, float("-inf"))

    @classmethod
    def connect(cls, settings, *, readonly: bool = False) -> MilvusStore:
        # gRPC's C core prints its own keepalive chatter to stderr ("GOAWAY … too_many_pings" from
        # milvus-lite): failures reach us as exceptions (see _Guarded), the chatter is noise
        os.environ.setdefault("GRPC_VERBOSITY", "NONE")
        try:
            from pymilvus import MilvusClient
        except ImportError:
            raise RuntimeError("POLICYQA_STORE=milvus needs the Milvus client: pip install 'policyqa[milvus]'") from None

        logging.getLogger("pymilvus").setLevel(logging.ERROR)  # its iterator warns on every page about lite's clock
        # milvus-lite's in-process gRPC server logs a traceback for each call it does not implement
        # (AllocTimestamp, which the client then does without): noise, not an error of ours
        logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
        uri = settings.milvus_location
        if not uri.startswith(("http://", "https://", "tcp://", "unix:")):
            path = Path(uri).expanduser()
            if readonly and not path.exists():
                raise FileNotFoundError(f"no Milvus index at {uri}: build one with "
                                        "`POLICYQA_STORE=milvus policyqa index docs/`")
            path.parent.mkdir(parents=True, exist_ok=True)
            uri = str(path)
        try:
            client = MilvusClient(uri=uri, token=settings.milvus_token or "")
        except Exception as exc:  # pymilvus raises its own MilvusException, or grpc errors
            raise RuntimeError(f"cannot reach Milvus at {settings.milvus_location} ({type(exc).__name__}: {exc}); check "
                               "POLICYQA_MILVUS_URI (a local .db file or http://host:19530) and that the server runs") from None
        store = cls(_Guarded(client, settings.milvus_location), settings.milvus_location, settings.milvus_collection_prefix)
        if store.client.has_collection(store.c["chunks"]):
            store.dim = store._dense_dim()
            for name in store.c.values():  # a reopened database starts with its collections released
                if store.client.has_collection(name):
                    store.client.load_collection(name)
        elif readonly:
            raise FileNotFoundError(f"no PolicyQA collections ({store.c['chunks']}) in Milvus at {settings.milvus_location}: "
                                    "build them with `POLICYQA_STORE=milvus policyqa index docs/`")
        return store

    def close(self) -> None:
        self.client.close()

    # -- schema -----------------------------------------------------------------------------------
    def ensure_collections(self, dim: int) -> None:
        """Create what is missing (a writer calls this once it knows the embedding dimension)."""
        from pymilvus import DataType, Function, FunctionType

        client = self.client

        def create(name: str, fields: list[tuple], vector: tuple[str, int, str, str], functions=()) -> None:
            if client.has_collection(self.c[name]):
                return
            schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
            for field_name, dtype, kwargs in fields:
                schema.add_field(field_name, dtype, **kwargs)
            for function in functions:
                schema.add_function(function)
            index = client.prepare_index_params()
            vname, vdim, itype, metric = vector
            if vdim:
                schema.add_field(vname, DataType.FLOAT_VECTOR, dim=vdim)
            index.add_index(vname, index_type=itype, metric_type=metric)
            if name == "chunks":
                index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25", params=BM25_PARAMS)
            client.create_collection(self.c[name], schema=schema, index_params=index, consistency_level="Strong")

        pk = {"is_primary": True, "max_length": 1024}
        access = [("kb", DataType.VARCHAR, {"max_length": 256}),
                  ("audience", DataType.ARRAY, {"element_type": DataType.VARCHAR, "max_capacity": _MAX_AUDIENCE,
                                                "max_length": 256}),
                  ("classification", DataType.VARCHAR, {"max_length": 16})]
        text = {"max_length": _VARCHAR}
        placeholder = ("v", 2, "FLAT", "IP")
        create("meta", [("key", DataType.VARCHAR, pk), ("value", DataType.VARCHAR, text)], placeholder)
        create("files", [("path", DataType.VARCHAR, {**pk, "max_length": 4096}), ("root", DataType.VARCHAR, {"max_length": 4096}),
                         ("hash", DataType.VARCHAR, {"max_length": 128})], placeholder)
        create("documents", [("docid", DataType.VARCHAR, pk), ("file", DataType.VARCHAR, {"max_length": 4096}),
                             ("source", DataType.VARCHAR, {"max_length": 4096}), ("title", DataType.VARCHAR, {"max_length": 2048}),
                             ("content_hash", DataType.VARCHAR, {"max_length": 128}), ("metadata", DataType.JSON, {}),
                             ("subject", DataType.JSON, {}), ("city", DataType.VARCHAR, {"max_length": 256}),
                             ("year", DataType.VARCHAR, {"max_length": 32}), ("chunks", DataType.INT64, {}),
                             *access], placeholder)
        create("texts", [("id", DataType.VARCHAR, pk), ("docid", DataType.VARCHAR, {"max_length": 1024}),
                         ("doc_hash", DataType.VARCHAR, {"max_length": 128}), ("part", DataType.INT64, {}),
                         ("text", DataType.VARCHAR, text)], placeholder)
        bm25 = Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["key"],
                        output_field_names=["sparse"])
        create("chunks", [("id", DataType.INT64, {"is_primary": True}), ("docid", DataType.VARCHAR, {"max_length": 1024}),
                          ("doc_hash", DataType.VARCHAR, {"max_length": 128}), ("ordinal", DataType.INT64, {}),
                          ("section", DataType.VARCHAR, {"max_length": 8192}), ("start", DataType.INT64, {}),
                          ("end", DataType.INT64, {}), ("text", DataType.VARCHAR, text),
                          ("key", DataType.VARCHAR, {**text, "enable_analyzer": True, "analyzer_params": ANALYZER}),
                          ("embed_hash", DataType.VARCHAR, {"max_length": 64}), ("embedded", DataType.BOOL, {}),
                          *access, ("sparse", DataType.SPARSE_FLOAT_VECTOR, {})],
               ("dense", dim, "AUTOINDEX", "IP"), functions=[bm25])
        self.dim = dim

    def _dense_dim(self) -> int:
        described = self.client.describe_collection(self.c["chunks"])
        if not any(field["name"] == "kb" for field in described["fields"]):
            raise IndexMismatchError(f"the Milvus collections {self.c['chunks']} at {self.location} were built before "
                                     "knowledge bases and permissions: rebuild them with `POLICYQA_STORE=milvus "
                                     "policyqa index --rebuild PATH...`")
        for field in described["fields"]:
            if field["name"] == "dense":
                return int(field["params"]["dim"])
        raise RuntimeError(f"collection {self.c['chunks']} has no dense field: it was not made by PolicyQA")

    def _query(self, name: str, expr: str, fields: list[str]) -> list[dict]:
        """Every row matching ``expr`` (paged: one query returns at most 16384)."""
        if not self.client.has_collection(self.c[name]):
            return []
        rows = self.client.query(self.c[name], filter=expr, output_fields=fields, limit=_QUERY_LIMIT)
        if len(rows) < _QUERY_LIMIT:
            return list(rows)
        iterator = self.client.query_iterator(self.c[name], batch_size=_PAGE, filter=expr, output_fields=fields)
        rows: list[dict] = []
        try:
            while page := iterator.next():
                rows.extend(page)
        finally:
            iterator.close()
        return rows

    def _count(self, name: str, expr: str = "") -> int:
        if not self.client.has_collection(self.c[name]):
            return 0
        return int(self.client.query(self.c[name], filter=expr, output_fields=["count(*)"])[0]["count(*)"])

    # -- meta -------------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        rows = self._query("meta", f"key == {_quote(key)}", ["value"])
        return rows[0]["value"] if rows else None

    def set_meta(self, values: dict[str, str]) -> None:
        self.client.upsert(self.c["meta"], [{"key": k, "value": v, "v": [0.0, 0.0]} for k, v in values.items()])

    def publish(self) -> None:
        """Nothing to do: searches read the collections themselves."""

    # -- files and documents ----------------------------------------------------------------------
    def file_hash(self, path: str) -> str | None:
        rows = self._query("files", f"path == {_quote(path)}", ["hash"])
        return rows[0]["hash"] if rows else None

    def files_under(self, root: str) -> list[str]:
        return [r["path"] for r in self._query("files", f"root == {_quote(root)}", ["path"])]

    def docids_of_file(self, path: str) -> list[str]:
        return [r["docid"] for r in self._query("documents", f"file == {_quote(path)}", ["docid"])]

    def doc_hashes_of_file(self, path: str) -> dict[str, str]:
        return {r["docid"]: r["content_hash"] for r in self._query("documents", f"file == {_quote(path)}", ["docid", "content_hash"])}

    def file_of(self, docid: str) -> str | None:
        rows = self._query("documents", f"docid == {_quote(docid)}", ["file"])
        return rows[0]["file"] if rows else None

    def doc_hash(self, docid: str) -> str | None:
        rows = self._query("documents", f"docid == {_quote(docid)}", ["content_hash"])
        return rows[0]["content_hash"] if rows else None

    def known_vectors(self, hashes: Iterable[str]) -> set[str]:
        return set(self._vectors_of(hashes))

    def _vectors_of(self, hashes: Iterable[str]) -> dict[str, list[float]]:
        hashes = list(set(hashes))
        found: dict[str, list[float]] = {}
        for i in range(0, len(hashes), _PAGE):
            expr = f"embedded == true and {_in('embed_hash', hashes[i:i + _PAGE])}"
            for row in self._query("chunks", expr, ["embed_hash", "dense"]):
                found.setdefault(row["embed_hash"], row["dense"])
        return found

    def write_documents(self, items: Sequence[tuple[str, Document, list[NewChunk]]],
                        vectors: dict[str, np.ndarray]) -> None:
        """Replace each document with its text and chunks, a batch of documents per round trip.

        Written in the order of the module docstring: rows of the new version first (chunks and
        text parts carry the document hash they belong to), then the documents rows, then the
        rows of old versions. Chunk texts with no vector in ``vectors`` reuse one already stored for
        the same text, else wait, keyword-searchable, for :meth:`add_vectors`."""
        assert self.dim is not None, "ensure_collections() first"
        if not items:
            return
        wanted = {c.embed_hash for _, _, chunks in items for c in chunks} - set(vectors)
        known = {**self._vectors_of(wanted), **{h: v.astype(np.float32).tolist() for h, v in vectors.items()}}
        previous = self._documents([doc.docid for _, doc, _ in items], ["subject", "content_hash"])
        zero = [0.0] * self.dim
        chunk_rows, text_rows, doc_rows = [], [], []
        for file, doc, chunks in items:
            subject = (previous.get(doc.docid) or {}).get("subject") or {}
            access = _access_fields(doc.metadata, subject)
            for c in chunks:
                vector = known.get(c.embed_hash)
                chunk_rows.append({
                    "id": chunk_id(doc.docid, doc.content_hash, c.chunk.ordinal), "docid": doc.docid,
                    "doc_hash": doc.content_hash, "ordinal": c.chunk.ordinal,
                    "section": json.dumps(c.chunk.section, ensure_ascii=False), "start": c.chunk.start,
                    "end": c.chunk.end, "text": c.chunk.text,
                    "key": encode_terms(c.tokens.split(" ")[:2000]) if c.tokens else "",
                    "embed_hash": c.embed_hash, "embedded": vector is not None,
                    "dense": vector if vector is not None else zero, **access})
            parts = _parts(doc.text) or [""]
            if doc.edits is not None:
                edits = encode_edits(doc.edits)
                parts_numbered = [*enumerate(parts), *((-1 - n, part) for n, part in enumerate(_parts(edits)))]
            else:
                parts_numbered = list(enumerate(parts))
            text_rows.extend({"id": f"{doc.docid}\x00{doc.content_hash}\x00{n}", "docid": doc.docid,
                              "doc_hash": doc.content_hash, "part": n, "text": part, "v": [0.0, 0.0]}
                             for n, part in parts_numbered)
            doc_rows.append(self._document_row(doc.docid, file, doc.source, doc.title, doc.content_hash, doc.metadata, subject,
                                               len(chunks)))
        self._upsert("chunks", chunk_rows)
        self._upsert("texts", text_rows)
        self._put_documents(doc_rows)
        stale = [f"(docid == {_quote(d)} and doc_hash != {_quote(row['content_hash'])})"
                 for d, row in ((r["docid"], r) for r in doc_rows) if d in previous]
        for i in range(0, len(stale), 100):
            expr = " or ".join(stale[i:i + 100])
            self.client.delete(self.c["chunks"], filter=expr)
            self.client.delete(self.c["texts"], filter=expr)

    def _upsert(self, name: str, rows: list[dict]) -> None:
        for i in range(0, len(rows), _PAGE):
            self.client.upsert(self.c[name], rows[i:i + _PAGE])

    def _document_row(self, docid: str, file: str, source: str, title: str, content_hash: str,
                      metadata: dict, subject: dict, chunks: int) -> dict:
        effective = {**metadata, **subject}
        return {"docid": docid, "file": file, "source": source, "title": title, "content_hash": content_hash,
                "metadata": metadata, "subject": subject, "city": str(effective.get("city") or ""),
                "year": str(effective.get("year") or ""), "chunks": chunks, "v": [0.0, 0.0],
                **_access_fields(metadata, subject)}

    def _put_documents(self, rows: list[dict]) -> None:
        self._upsert("documents", rows)

    def record_files(self, files: Iterable[tuple[str, str, str]]) -> None:
        rows = [{"path": p, "root": r, "hash": h, "v": [0.0, 0.0]} for p, r, h in files]
        if rows:
            self.client.upsert(self.c["files"], rows)

    def delete_documents(self, docids: Iterable[str]) -> int:
        docids = list(self._documents(docids, []))  # the ones that exist, a query per 1000 (not one each)
        for i in range(0, len(docids), _PAGE):
            part = docids[i:i + _PAGE]
            self.client.delete(self.c["chunks"], filter=_in("docid", part))
            self.client.delete(self.c["texts"], filter=_in("docid", part))
            self.client.delete(self.c["documents"], filter=_in("docid", part))
        return len(docids)

    def forget_files(self, paths: Iterable[str]) -> None:
        paths = list(paths)
        if paths:
            self.client.delete(self.c["files"], filter=_in("path", paths))

    def delete_files(self, paths: Iterable[str]) -> int:
        n = 0
        for path in paths:
            n += self.delete_documents(self.docids_of_file(path))
            self.forget_files([path])
        return n

    def collect_garbage(self) -> int:
        """Nothing to collect: vectors live in the chunk rows and go with them."""
        return 0

    def set_subject(self, docid: str, values: dict[str, str | None]) -> dict[str, str] | None:
        return self._set_overlay(docid, values, SUBJECT_KEYS, "a subject")

    def set_access(self, docid: str, values: dict[str, str | None]) -> dict[str, str] | None:
        """As the embedded store's: the documents row first, then every chunk row of the document's
        current version rewritten with the new access fields (Milvus updates rows, not fields), so
        the next search filters by them."""
        return self._set_overlay(docid, values, ACCESS_KEYS, "an access")

    def _set_overlay(self, docid: str, values: dict[str, str | None], keys: tuple[str, ...],
                     what: str) -> dict[str, str] | None:
        unknown = set(values) - set(keys)
        if unknown:
            raise ValueError(f"not {what} field: {', '.join(sorted(unknown))} (use {', '.join(keys)})")
        rows = self._query("documents", f"docid == {_quote(docid)}",
                           ["file", "source", "title", "content_hash", "metadata", "subject", "chunks"])
        if not rows:
            return None
        row = rows[0]
        current = overlay(row["subject"] or {}, values)
        self._put_documents([self._document_row(docid, row["file"], row["source"], row["title"], row["content_hash"],
                                                row["metadata"], current, row["chunks"])])
        if keys == ACCESS_KEYS:
            access = _access_fields(row["metadata"], current)
            chunks = self._query("chunks", f"docid == {_quote(docid)} and doc_hash == {_quote(row['content_hash'])}",
                                 [*_CHUNK_FIELDS, "key", "dense"])
            self._upsert("chunks", [{**c, **access} for c in chunks])
        return self.metadata_of([docid])[docid]

    def catalogue(self) -> Catalogue:
        return Catalogue.from_json(self.get_meta(CATALOGUE_META), DEFAULT_KB)

    def update_catalogue(self, change) -> Catalogue:
        """Apply ``change`` to the stored catalogue. Milvus has no transactions: two managers
        changing grants at the same instant may lose one change (the audit trail shows both)."""
        new = change(self.catalogue())
        self.set_meta({CATALOGUE_META: new.to_json()})
        return new

    def subject_set(self, docid: str) -> dict[str, str]:
        rows = self._query("documents", f"docid == {_quote(docid)}", ["subject"])
        return {k: v for k, v in (rows[0]["subject"] or {}).items() if k in SUBJECT_KEYS} if rows else {}

    # -- two-stage indexing -------------------------------------------------------------------------
    def missing_vectors(self, limit: int, after: int = 0) -> tuple[list[tuple[str, str, tuple[str, ...], str]], int]:
        """Up to ``limit`` chunk texts with no vector yet. Chunk ids here are hashes, not a sequence,
        so there is no cursor: a text leaves this list once its vector is stored."""
        if not self.client.has_collection(self.c["chunks"]):
            return [], after
        rows = self.client.query(self.c["chunks"], filter="embedded == false", limit=limit,
                                 output_fields=["docid", "embed_hash", "section", "text"])
        titles = {d: m["title"] for d, m in self._documents({r["docid"] for r in rows}, ["title"]).items()}
        out: dict[str, tuple[str, str, tuple[str, ...], str]] = {}
        for r in rows:
            out.setdefault(r["embed_hash"], (r["embed_hash"], titles.get(r["docid"], ""), tuple(json.loads(r["section"])), r["text"]))
        return list(out.values()), after

    def add_vectors(self, vectors: dict[str, np.ndarray], *, publish: bool = False) -> None:
        """Fill in the vectors of every chunk with these texts (rows are rewritten whole: Milvus
        updates rows, not fields)."""
        hashes = list(vectors)
        for i in range(0, len(hashes), _PAGE):
            rows = self._query("chunks", _in("embed_hash", hashes[i:i + _PAGE]), [*_CHUNK_FIELDS, "key"])
            for row in rows:
                row["dense"] = vectors[row["embed_hash"]].astype(np.float32).tolist()
                row["embedded"] = True
                self._embedded[int(row["id"])] = True
            if rows:
                self.client.upsert(self.c["chunks"], rows)

    # -- reading ----------------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        chunks = self._count("chunks")
        embedded = self._count("chunks", "embedded == true")
        return {"documents": self._count("documents"), "chunks": chunks, "vectors": embedded, "embedded_chunks": embedded}

    def _documents(self, docids: Iterable[str], fields: list[str]) -> dict[str, dict]:
        docids = list(dict.fromkeys(docids))
        out: dict[str, dict] = {}
        for i in range(0, len(docids), _PAGE):
            for row in self._query("documents", _in("docid", docids[i:i + _PAGE]), ["docid", *fields]):
                out[row["docid"]] = row
        return out

    def chunks_by_id(self, ids: Sequence[int]) -> dict[int, StoredChunk]:
        if not len(ids):
            return {}
        rows = self._query("chunks", _in("id", ids), _CHUNK_FIELDS)
        docs = self._documents({r["docid"] for r in rows}, ["title", "content_hash"])
        out = {}
        for r in rows:
            doc = docs.get(r["docid"])
            if doc is None or doc["content_hash"] != r["doc_hash"]:
                continue  # a write cut off halfway: not this document's current version
            chunk = Chunk(docid=r["docid"], ordinal=r["ordinal"], section=tuple(json.loads(r["section"])),
                          start=r["start"], end=r["end"], text=r["text"])
            out[int(r["id"])] = StoredChunk(int(r["id"]), chunk, doc["title"])
        return out

    def document(self, docid: str) -> Document | None:
        docs = self._documents([docid], ["source", "title", "content_hash", "metadata", "subject"])
        if docid not in docs:
            return None
        row = docs[docid]
        parts = self._query("texts", f"docid == {_quote(docid)} and doc_hash == {_quote(row['content_hash'])}",
                            ["part", "text"])
        text = "".join(p["text"] for p in sorted((p for p in parts if p["part"] >= 0), key=lambda p: p["part"]))
        edits = [p["text"] for p in sorted((p for p in parts if p["part"] < 0), key=lambda p: -p["part"])]
        return Document(docid=docid, source=row["source"], title=row["title"], text=text,
                        content_hash=row["content_hash"], metadata={**(row["metadata"] or {}), **(row["subject"] or {})},
                        edits=decode_edits("".join(edits)) if edits else None)

    def metadata_of(self, docids: Sequence[str]) -> dict[str, dict[str, str]]:
        return {d: {**(r["metadata"] or {}), **(r["subject"] or {})}
                for d, r in self._documents(docids, ["metadata", "subject"]).items()}

    def documents(self) -> list[dict]:
        rows = self._query("documents", 'docid != ""', ["docid", "title", "source", "metadata", "subject", "chunks"])
        out = []
        for r in sorted(rows, key=lambda r: r["docid"]):
            subject_set = r["subject"] or {}
            metadata = {**(r["metadata"] or {}), **subject_set}
            subject = {k: metadata[k] for k in SUBJECT_KEYS if metadata.get(k)}
            out.append({"docid": r["docid"], "title": r["title"], "source": r["source"], "metadata": metadata,
                        "subject": {**subject, "set": sorted(set(subject_set) & set(SUBJECT_KEYS))}, "chunks": r["chunks"]})
        return out

    # -- search (SearchBackend) ---------------------------------------------------------------------
    def allowed(self, docids: Sequence[str] | None, city: str | None, year: str | None,
                access: ReadFilter | None = None) -> object:
        """A filter expression over chunk fields: the documents matching docids/city/year (looked up
        in the documents collection), and what ``access`` lets the asker read (the chunks' own
        kb/audience/classification fields, tested inside the search itself)."""
        expression = []
        clauses = []
        if docids:
            clauses.append(_in("docid", docids))
        if city:
            clauses.append(f"city == {_quote(city)}")
        if year:
            clauses.append(f"year == {_quote(str(year))}")
        if clauses:
            matching = [r["docid"] for r in self._query("documents", " and ".join(clauses), ["docid"])]
            if not matching:
                return None
            expression.append(_in("docid", matching))
        if access is not None:
            if access.empty:
                return None
            expression.append(access.milvus())
        return " and ".join(expression) or None

    def keyword(self, key: str, k: int, allowed: object = None) -> list[tuple[int, float]]:
        query = encode_terms(query_terms(key))
        if not query:
            return []
        hits = self.client.search(self.c["chunks"], data=[query], anns_field="sparse", limit=k, output_fields=["embedded"],
                                  filter=str(allowed or ""), search_params={"metric_type": "BM25"})[0]
        for h in hits:  # remembered for without_vectors: no second round trip for the same candidates
            self._embedded[int(h["id"])] = bool(h["entity"]["embedded"])
        while len(self._embedded) > 50_000:
            self._embedded.pop(next(iter(self._embedded)))
        # a Milvus server returns BM25 scores (higher is better); milvus-lite returns them negated
        return [(int(h["id"]), abs(float(h["distance"]))) for h in hits]

    def dense(self, vector: np.ndarray, k: int, allowed: object = None) -> list[tuple[int, float]]:
        expr = "embedded == true" + (f" and {allowed}" if allowed else "")
        hits = self.client.search(self.c["chunks"], data=[np.asarray(vector, dtype=np.float32).tolist()],
                                  anns_field="dense", limit=k, filter=expr, search_params={"metric_type": "IP"})[0]
        return [(int(h["id"]), float(h["distance"])) for h in hits]

    def without_vectors(self, ids: Iterable[int]) -> set[int]:
        ids = list(ids)
        unknown = [i for i in ids if i not in self._embedded]
        if unknown:
            for r in self._query("chunks", _in("id", unknown), ["id", "embedded"]):
                self._embedded[int(r["id"])] = bool(r["embedded"])
        return {i for i in ids if self._embedded.get(i) is False}

    @property
    def has_vectors(self) -> bool:
        """Whether any chunk is embedded; asked of Milvus at most every few seconds (a count per
        question cost a round trip on every search)."""
        now = time.monotonic()
        if not self._has_vectors[0] and now - self._has_vectors[1] > 5.0:
            self._has_vectors = (self._count("chunks", "embedded == true") > 0, now)
        return self._has_vectors[0]

    def iter_rows(self) -> Iterator[dict]:
        """Every chunk row (for consistency checks in tests and tools)."""
        yield from self._query("chunks", "id >= 0", _CHUNK_FIELDS)
