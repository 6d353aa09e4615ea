"""Embedding backends. ``load_embedder`` maps a setting to a backend; no backend reaches a hub."""

from __future__ import annotations

from pathlib import Path

from rag.embed.base import Embedder
from rag.embed.e5 import E5SmallEmbedder
from rag.embed.st import SentenceTransformerEmbedder
from rag.embed.use import UseM3Embedder

PACKAGED: dict[str, type[Embedder]] = {E5SmallEmbedder.name: E5SmallEmbedder, UseM3Embedder.name: UseM3Embedder}

__all__ = ["Embedder", "PACKAGED", "load_embedder"]


def load_embedder(spec: str, threads: int | None = None) -> Embedder:
    """'e5-small', 'use-m3', or a path to a local sentence-transformers folder."""
    if spec in PACKAGED:
        return PACKAGED[spec](threads=threads)
    if "/" in spec or spec.startswith(".") or Path(spec).expanduser().exists():
        return SentenceTransformerEmbedder(spec, threads=threads)
    raise ValueError(
        f"unknown embedding model {spec!r}: use one of {', '.join(PACKAGED)} (packaged, offline) or the "
        "path to a sentence-transformers model folder copied onto this machine"
    )
