"""Embedding backends. ``load_embedder`` maps a setting to a backend; no backend reaches a hub."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rag.embed.base import Embedder
from rag.embed.e5 import E5SmallEmbedder
from rag.embed.st import SentenceTransformerEmbedder
from rag.embed.remote import EmbeddingServerError, RemoteEmbedder
from rag.embed.use import UseM3Embedder

if TYPE_CHECKING:
    from rag.config import Settings

PACKAGED: dict[str, type[Embedder]] = {E5SmallEmbedder.name: E5SmallEmbedder, UseM3Embedder.name: UseM3Embedder}

__all__ = ["Embedder", "EmbeddingServerError", "PACKAGED", "RemoteEmbedder", "embedder_for", "load_embedder"]


def embedder_for(settings: Settings) -> Embedder:
    """The embedder ``settings`` ask for: the site's server when ``embedding_url`` is set, else local."""
    if settings.embedding_url:
        return RemoteEmbedder(
            settings.embedding_url, settings.embedding_model, api_key=settings.embedding_api_key,
            batch_size=settings.embed_batch_size, retries=settings.embedding_retries,
            timeout_s=settings.embedding_timeout_s, query_prefix=settings.embedding_query_prefix,
            passage_prefix=settings.embedding_passage_prefix)
    return load_embedder(settings.embedding_model, settings.embed_threads)


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
