"""An index folder: SQLite store (truth) + derived FAISS and BM25 files + a manifest.

Layout of ``index/``::

    store.sqlite        documents, chunks, tokens, vectors (WAL; one transaction per batch)
    manifest.json       embedding model, dimension, normaliser version, chunking, counts
    derived.json        which derived folder matches which store generation (replaced atomically)
    derived-<gen>/      vectors.faiss, bm25/ — rebuilt from the store whenever they are stale
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from rag.chunk import CHUNKER_VERSION
from rag.config import Settings
from rag.index.keyword import TERMS_VERSION, KeywordIndex
from rag.index.store import Store
from rag.index.vectors import FaissIndex
from rag.text.normalize import NORMALIZER_VERSION, search_key

log = logging.getLogger(__name__)

FORMAT_VERSION = "1"
STORE_FILE = "store.sqlite"


class IndexMismatchError(ValueError):
    """The index on disk was built with settings this process cannot search it with."""


class IndexBusyError(RuntimeError):
    """Another process (``policyqa index``, another server) holds the index's write lock right now."""


class StoreUnavailableError(RuntimeError):
    """The search engine holding the index (a Milvus server) failed or cannot be reached; the
    message names it and what to do. An index run it cut off is finished by running it again."""


def expected_manifest(settings: Settings, model_name: str, dim: int, keyword_terms: str = TERMS_VERSION) -> dict[str, str]:
    return {
        "format_version": FORMAT_VERSION,
        "embedding_model": model_name,
        "dimension": str(dim),
        "normalizer_version": NORMALIZER_VERSION,
        "chunker_version": CHUNKER_VERSION,
        "keyword_terms": keyword_terms,
        "chunk_max_chars": str(settings.chunk_max_chars),
        "chunk_min_chars": str(settings.chunk_min_chars),
    }


def manifest_diffs(store: Store, expected: dict[str, str]) -> list[tuple[str, str | None, str]]:
    """``(key, stored, expected)`` for every setting the index was built with differently."""
    built = store.get_meta("embedding_model") is not None  # an empty store has no settings yet
    return [(k, store.get_meta(k), v) for k, v in expected.items()
            if store.get_meta(k) != v and (built or store.get_meta(k) is not None)]


def check_manifest(store: Store, expected: dict[str, str], folder: Path | str) -> None:
    """Raise IndexMismatchError naming what differs and how to fix it."""
    diffs = manifest_diffs(store, expected)
    if not diffs:
        return
    if [k for k, _, _ in diffs] == ["keyword_terms"] and store.terms_upgrade_in_place:
        raise IndexMismatchError(
            f"index {folder} stores keyword terms of an older scheme ({diffs[0][1]!r}, this version uses "
            f"{diffs[0][2]!r}): run `policyqa index --index {folder} PATH...` once to upgrade it in place "
            "(nothing is re-embedded)"
        )
    what = "; ".join(f"{k}: index has {have!r}, settings ask for {want!r}" for k, have, want in diffs)
    hint = ""
    if any(k == "embedding_model" for k, _, _ in diffs):
        hint = (f" Set POLICYQA_EMBEDDING_MODEL={store.get_meta('embedding_model')} to use this index, or ")
    raise IndexMismatchError(
        f"index {folder} was built with different settings ({what}).{hint or ' '}"
        f"rebuild it with `policyqa index --rebuild PATH...`"
    )


def embed_text(title: str, section: tuple[str, ...], text: str) -> str:
    """What gets embedded and keyword-indexed for a chunk: its context (title, section) + its text."""
    return search_key("\n".join(p for p in (title, " ".join(section), text) if p))


def embed_hash(model: str, text: str) -> str:
    return hashlib.sha1(f"{model}\x00{text}".encode()).hexdigest()


@dataclass
class Derived:
    generation: int
    vectors: FaissIndex
    keyword: KeywordIndex

    @property
    def partial(self) -> bool:
        """Some chunks are keyword-searchable but not embedded yet (two-stage indexing)."""
        return self.vectors.size < len(self.keyword.ids)

    @cached_property
    def _embedded(self) -> frozenset[int]:
        return frozenset(self.vectors.ids().tolist())

    def without_vectors(self, ids: Iterable[int]) -> set[int]:
        """Those of ``ids`` that have no vector yet."""
        return {i for i in ids if i not in self._embedded} if self.partial else set()


def build_derived(store: Store, dim: int, ann_threshold: int) -> Derived:
    generation = store.generation
    ids, vectors = store.all_vectors(dim)
    return Derived(generation, FaissIndex.build(ids, vectors, dim, ann_threshold),
                   KeywordIndex.build(list(store.iter_tokens())))


def save_derived(folder: Path, derived: Derived) -> None:
    """Write the derived structures beside the store; readers switch over with one atomic rename."""
    target = folder / f"derived-{derived.generation}"
    tmp = folder / f".derived-{derived.generation}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    derived.vectors.save(tmp / "vectors.faiss")
    derived.keyword.save(tmp / "bm25")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    pointer = folder / f".derived.json.tmp{os.getpid()}"
    pointer.write_text(json.dumps({"generation": derived.generation, "folder": target.name}))
    os.replace(pointer, folder / "derived.json")
    for old in folder.glob("derived-*"):
        if old != target:
            shutil.rmtree(old, ignore_errors=True)


def load_derived(folder: Path, store: Store, dim: int, ann_threshold: int) -> Derived:
    """The saved derived structures if they match the store's generation, else rebuilt in memory."""
    try:
        pointer = json.loads((folder / "derived.json").read_text())
        if pointer["generation"] == store.generation:
            sub = folder / pointer["folder"]
            return Derived(pointer["generation"], FaissIndex.load(sub / "vectors.faiss"), KeywordIndex.load(sub / "bm25"))
        log.warning("index %s: search structures are behind the store (an indexing run was interrupted); "
                    "rebuilding them in memory — run `policyqa index` to finish and save", folder)
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        log.warning("index %s: derived files unreadable (%s); rebuilding from the store", folder, exc)
    return build_derived(store, dim, ann_threshold)


def open_store(settings: Settings, *, readonly: bool = False) -> Store:
    """The index ``settings`` name: the SQLite store in ``index_dir``, or (``store=milvus``) the
    collections on the Milvus server or file at ``milvus_uri``. Reading a folder with no index is
    a FileNotFoundError saying how to build one."""
    if settings.store == "milvus":
        from rag.index.milvus import MilvusStore

        return MilvusStore.connect(settings, readonly=readonly)
    folder = Path(settings.index_dir)
    path = folder / STORE_FILE
    if readonly and not path.exists():
        raise FileNotFoundError(f"no index at {folder}: build one with `policyqa index docs/`")
    return Store(path, readonly=readonly)


def index_status(settings: Settings) -> dict:
    """What an index holds (documents, chunks, how many embedded), read without loading any model."""
    store = open_store(settings, readonly=True)
    try:
        return {"index": str(store.location), "store": store.kind, "embedding_model": store.get_meta("embedding_model"),
                "generation": store.generation, **store.counts()}
    finally:
        store.close()


def write_manifest_file(folder: Path, store: Store) -> None:
    meta = {k: v for k, v in store.db.execute("SELECT key, value FROM meta")}
    meta.update({k: str(v) for k, v in store.counts().items()})
    tmp = folder / f".manifest.json.tmp{os.getpid()}"
    tmp.write_text(json.dumps(meta, ensure_ascii=False, indent=2, sort_keys=True))
    os.replace(tmp, folder / "manifest.json")
