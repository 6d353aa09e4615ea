"""Vector search behind a small interface; FAISS is the embedded implementation.

Another engine (Milvus) is a new subclass of :class:`VectorIndex`, not a change here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np


class VectorIndex(ABC):
    @abstractmethod
    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top ``k`` ``(chunk id, inner product)`` for one unit query vector, best first."""

    @property
    @abstractmethod
    def size(self) -> int: ...

    @abstractmethod
    def ids(self) -> np.ndarray:
        """The chunk ids that have a vector here."""


class FaissIndex(VectorIndex):
    """Exact inner product while small; HNSW past ``ann_threshold`` vectors."""

    def __init__(self, index) -> None:
        self._index = index

    @classmethod
    def build(cls, ids: np.ndarray, vectors: np.ndarray, dim: int, ann_threshold: int) -> FaissIndex:
        import faiss

        if len(ids) > ann_threshold:
            inner = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = 80
            inner.hnsw.efSearch = 128
        else:
            inner = faiss.IndexFlatIP(dim)
        index = faiss.IndexIDMap2(inner)
        if len(ids):
            index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))
        return cls(index)

    @property
    def kind(self) -> str:
        import faiss

        return "hnsw" if isinstance(faiss.downcast_index(self._index.index), faiss.IndexHNSW) else "flat"

    @property
    def size(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> np.ndarray:
        """The chunk ids that have a vector here."""
        import faiss

        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path) -> FaissIndex:
        import faiss

        return cls(faiss.read_index(str(path)))

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        import faiss

        if not self.size:
            return []
        params = None
        if allowed is not None:
            if not len(allowed):
                return []
            # Keep a Python reference to the selector for the whole search: SWIG parameter objects
            # do not own it, and a collected selector crashes FAISS.
            selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
            if self.kind == "hnsw":
                params = faiss.SearchParametersHNSW(sel=selector, efSearch=max(128, k))
            else:
                params = faiss.SearchParameters(sel=selector)
        scores, ids = self._index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32),
                                         min(k, self.size), params=params)
        del params
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
