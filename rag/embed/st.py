"""Any sentence-transformers model folder a site copies in (bge-small-zh, bge-m3, …), loaded offline."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rag.embed.base import Embedder, as_unit_float32

# Instruction prefixes some retrieval models expect on the query side only.
_QUERY_PREFIX = {"bge-": "为这个句子生成表示以用于检索相关文章：", "e5": "query: "}
_PASSAGE_PREFIX = {"e5": "passage: "}


class SentenceTransformerEmbedder(Embedder):
    def __init__(self, folder: str | Path, threads: int | None = None) -> None:
        folder = Path(folder).expanduser()
        if not (folder / "config.json").is_file() and not (folder / "modules.json").is_file():
            raise ValueError(
                f"embedding model folder {folder} not found or not a sentence-transformers model "
                "(no config.json/modules.json). Copy the whole model folder there, or set "
                "POLICYQA_EMBEDDING_MODEL=e5-small to use the packaged model"
            )
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ValueError(
                "a sentence-transformers model folder needs the 'st' extra: pip install torch==2.13.0 "
                "'policyqa[st]' (torch pinned first, or pip takes a multi-GB CUDA build)") from exc

        if threads:
            torch.set_num_threads(threads)
        self._model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
        self.dim = int(self._model.get_embedding_dimension())
        self.name = f"st:{folder.resolve().name}"
        lowered = folder.name.lower()
        self._qp = next((p for k, p in _QUERY_PREFIX.items() if k in lowered), "")
        self._pp = next((p for k, p in _PASSAGE_PREFIX.items() if k in lowered), "")

    def _encode(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode([prefix + t for t in texts], batch_size=32, normalize_embeddings=True,
                                     show_progress_bar=False, convert_to_numpy=True)
        return as_unit_float32(vectors)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self._pp)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self._qp)
