"""Embeddings from a site's OpenAI-compatible ``/v1/embeddings`` server (TEI, vLLM, Xinference, Ollama).

Sites that serve bge-m3 or similar on a GPU box point every PolicyQA process at it instead of
embedding on their own CPUs. The model's name goes into the index manifest as ``remote:<model>``,
so an index built with another model is refused with the usual "rebuild" message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import httpx
import numpy as np

from rag.embed.base import Embedder, as_unit_float32

log = logging.getLogger(__name__)

#: Answers worth trying again: the server is busy or restarting (not a bad request or a bad key).
_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class EmbeddingServerError(RuntimeError):
    """The embedding server could not be reached or gave no usable vectors."""


class RemoteEmbedder(Embedder):
    """``POST {url}/embeddings`` in batches, retried with exponential backoff.

    ``query_prefix`` / ``passage_prefix`` are put before the texts for models trained with them
    (e5: ``"query: "`` / ``"passage: "``; bge-m3 and most others: none).
    """

    def __init__(self, url: str, model: str, *, api_key: str | None = None, batch_size: int = 32,
                 retries: int = 4, backoff_s: float = 0.5, timeout_s: float = 60.0,
                 query_prefix: str = "", passage_prefix: str = "") -> None:
        self.url = url.rstrip("/")
        self.model = model
        self.name = f"remote:{model}"
        self.batch_size = batch_size
        self.retries = retries
        self.backoff_s = backoff_s
        self.query_prefix, self.passage_prefix = query_prefix, passage_prefix
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout_s, headers=headers, trust_env=False)
        self.dim = int(self._post(["维度"]).shape[1])  # fails here, clearly, when the server is down

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed([self.passage_prefix + t for t in texts])

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed([self.query_prefix + t for t in texts])

    def close(self) -> None:
        self._client.close()

    def _embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [self._post(texts[i:i + self.batch_size]) for i in range(0, len(texts), self.batch_size)]
        return np.concatenate(parts)

    def _post(self, texts: list[str]) -> np.ndarray:
        endpoint = f"{self.url}/embeddings"
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                delay = self.backoff_s * 2 ** (attempt - 1)
                log.warning("embedding server %s: %s; retrying in %.1fs (%d/%d)", endpoint, problem, delay, attempt, self.retries)
                time.sleep(delay)
            try:
                response = self._client.post(endpoint, json={"model": self.model, "input": texts})
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code in _RETRY_STATUS:
                problem = f"HTTP {response.status_code}"
                continue
            if response.status_code != 200:
                raise EmbeddingServerError(
                    f"embedding server {endpoint} refused the request (HTTP {response.status_code}: "
                    f"{response.text[:200]}); check POLICYQA_EMBEDDING_MODEL ({self.model!r}) and POLICYQA_EMBEDDING_API_KEY")
            return self._vectors(response, len(texts), endpoint)
        raise EmbeddingServerError(
            f"embedding server {endpoint} did not answer after {self.retries + 1} tries ({problem}): check that it "
            "is running and reachable, or unset POLICYQA_EMBEDDING_URL to embed with the packaged model")

    def _vectors(self, response: httpx.Response, n: int, endpoint: str) -> np.ndarray:
        try:
            data = sorted(response.json()["data"], key=lambda d: d["index"])
            vectors = as_unit_float32([d["embedding"] for d in data])
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbeddingServerError(f"embedding server {endpoint} answered something that is not an "
                                       f"OpenAI embeddings response ({exc})") from None
        if len(vectors) != n or (getattr(self, "dim", None) and vectors.shape[1] != self.dim):
            raise EmbeddingServerError(f"embedding server {endpoint} returned {len(vectors)} vectors of dimension "
                                       f"{vectors.shape[1]} for {n} texts (expected dimension {getattr(self, 'dim', '?')})")
        return vectors
