"""The search seam: keyword and dense candidates for one question, from whichever engine holds them.

:class:`LocalSearch` is the embedded engine (FAISS + bm25s files derived from the SQLite store);
:class:`rag.index.milvus.MilvusStore` is the scale-out one. The retriever fuses what either returns
in the same way, so ranking logic lives in one place (rag.retrieve).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from rag.index import Derived, load_derived
from rag.index.acl import ReadFilter
from rag.index.keyword import query_terms
from rag.index.store import Store


#: Filters whose allowed chunk ids a LocalSearch keeps (each at most 8 bytes per chunk).
ALLOWED_CACHE = 32


class SearchBackend(ABC):
    """Candidates with engine scores (higher is better), restricted to what ``allowed`` lets through."""

    @abstractmethod
    def allowed(self, docids: Sequence[str] | None, city: str | None, year: str | None,
                access: ReadFilter | None = None) -> object:
        """An engine-specific restriction to the documents matching every given filter and that
        ``access`` lets the asker read, or None when no chunk can match (so the search can stop).
        Both searches take it before they rank: nothing outside it is ever a candidate."""

    @abstractmethod
    def keyword(self, key: str, k: int, allowed: object = None) -> list[tuple[int, float]]:
        """BM25 candidates for a question's simplified search key, best first."""

    @abstractmethod
    def dense(self, vector: np.ndarray, k: int, allowed: object = None) -> list[tuple[int, float]]:
        """Nearest chunks to a unit query vector (inner product), best first."""

    @abstractmethod
    def without_vectors(self, ids: Iterable[int]) -> set[int]:
        """Those of ``ids`` not embedded yet (two-stage indexing): judged on keywords alone."""

    @property
    @abstractmethod
    def has_vectors(self) -> bool:
        """Whether any chunk is embedded (else the question need not be embedded either)."""

    def refresh(self) -> None:
        """Pick up what another process wrote since (engines that search live data need nothing)."""


class LocalSearch(SearchBackend):
    """FAISS + BM25 files beside the SQLite store, reloaded when the store's generation moves."""

    def __init__(self, folder: Path, store: Store, dim: int, ann_threshold: int) -> None:
        self.folder, self.store, self.dim, self.ann_threshold = folder, store, dim, ann_threshold
        self._lock = threading.Lock()
        self._derived: Derived = load_derived(folder, store, dim, ann_threshold)
        self._allowed: OrderedDict[tuple, object] = OrderedDict()

    def refresh(self) -> None:
        with self._lock:
            if self.store.generation != self._derived.generation:
                self._derived = load_derived(self.folder, self.store, self.dim, self.ann_threshold)

    def allowed(self, docids: Sequence[str] | None, city: str | None, year: str | None,
                access: ReadFilter | None = None) -> object:
        """Chunk ids, kept for the last few filters until the store's documents or what filters
        read of them (subjects, access) change: askers of one department share one filter, and
        working it out over every chunk costs ~25 ms at NCP's size (eval/bench_permissions.py)."""
        key = (self.store.generation, self.store.filter_version, tuple(docids or ()), city, year, access)
        with self._lock:
            if key in self._allowed:
                self._allowed.move_to_end(key)
                return self._allowed[key]
        ids = self.store.chunk_ids_where(list(docids) if docids else None, city, year, access)
        found = ids if len(ids) else None
        with self._lock:
            self._allowed[key] = found
            while len(self._allowed) > ALLOWED_CACHE:
                self._allowed.popitem(last=False)
        return found

    def keyword(self, key: str, k: int, allowed: object = None) -> list[tuple[int, float]]:
        return self._derived.keyword.search(query_terms(key), k, allowed)  # type: ignore[arg-type]

    def dense(self, vector: np.ndarray, k: int, allowed: object = None) -> list[tuple[int, float]]:
        return self._derived.vectors.search(vector, k, allowed)  # type: ignore[arg-type]

    def without_vectors(self, ids: Iterable[int]) -> set[int]:
        return self._derived.without_vectors(ids)

    @property
    def has_vectors(self) -> bool:
        return self._derived.vectors.size > 0
