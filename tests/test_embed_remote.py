"""The embedder for a site's OpenAI-compatible /v1/embeddings server, against a real HTTP server on
loopback that serves the packaged e5 vectors (so its results can be checked against the local model)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from conftest import DOCS, TIANCHANG_Q
from rag.config import Settings
from rag.embed import EmbeddingServerError, RemoteEmbedder, embedder_for
from rag.index import IndexMismatchError
from rag.index.build import update_index
from rag.retrieve import Retriever


class _Server:
    """``POST /v1/embeddings`` answering with e5 vectors ('query: '/'passage: ' prefixes pick which);
    the first ``fail`` requests get ``status`` instead; ``key`` is required when set."""

    def __init__(self, embedder, fail: int = 0, status: int = 503, key: str | None = None) -> None:
        self.embedder, self.fail, self.status, self.key = embedder, fail, status, key
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                outer.requests.append(body)
                if outer.key and self.headers.get("authorization") != f"Bearer {outer.key}":
                    return self._send(401, {"error": "bad key"})
                if self.path != "/v1/embeddings":
                    return self._send(404, {"error": "no such route"})
                if outer.fail > 0:
                    outer.fail -= 1
                    return self._send(outer.status, {"error": "busy"})
                texts = body["input"]
                queries = [t.removeprefix("query: ") for t in texts if t.startswith("query: ")]
                vectors = (outer.embedder.embed_queries(queries) if queries
                           else outer.embedder.embed_passages([t.removeprefix("passage: ") for t in texts]))
                data = [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)]
                self._send(200, {"object": "list", "model": body["model"], "data": data[::-1]})  # any order

            def _send(self, status: int, payload: dict) -> None:
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(e5) -> Iterator[_Server]:
    srv = _Server(e5)
    yield srv
    srv.close()


def _settings(tmp_path: Path, url: str, **extra) -> Settings:
    return Settings(index_dir=tmp_path / "index", embedding_url=url, embedding_model="e5-small-server",
                    embedding_query_prefix="query: ", embedding_passage_prefix="passage: ", embed_batch_size=16, **extra)


def test_remote_vectors_are_the_served_model_and_an_index_answers(server: _Server, e5, tmp_path: Path) -> None:
    settings = _settings(tmp_path, server.url)
    embedder = embedder_for(settings)
    assert isinstance(embedder, RemoteEmbedder) and embedder.dim == 384 and embedder.name == "remote:e5-small-server"
    texts = ["天长市2020年8月被评为首批全国法治政府建设示范市", "苏州市化解矛盾纠纷"] * 20  # > one batch
    np.testing.assert_allclose(embedder.embed_passages(texts), e5.embed_passages(texts), atol=1e-5)
    np.testing.assert_allclose(embedder.embed_queries(texts[:2]), e5.embed_queries(texts[:2]), atol=1e-5)
    assert max(len(r["input"]) for r in server.requests) == 16 and {r["model"] for r in server.requests} == {"e5-small-server"}

    stats = update_index(settings, [DOCS], embedder)
    assert stats.chunks_embedded == stats.totals["chunks"] > 50
    hits = Retriever.open(settings).search(TIANCHANG_Q, k=3)
    assert hits[0].chunk.chunk_id == "tianchang-2021.txt#1"
    # the index remembers which model made its vectors: the packaged model may not search it
    with pytest.raises(IndexMismatchError, match="rebuild"):
        Retriever.open(Settings(index_dir=settings.index_dir))


def test_busy_server_is_retried_with_backoff(e5) -> None:
    srv = _Server(e5, fail=3, status=503)
    try:
        embedder = RemoteEmbedder(srv.url, "m", retries=4, backoff_s=0.01)
        assert embedder.dim == 384 and len(srv.requests) == 4  # three 503s, then the answer
    finally:
        srv.close()


def test_down_server_and_bad_key_are_clear_errors(e5) -> None:
    srv = _Server(e5, fail=100, status=503)
    try:
        with pytest.raises(EmbeddingServerError, match="did not answer after 3 tries.*POLICYQA_EMBEDDING_URL"):
            RemoteEmbedder(srv.url, "m", retries=2, backoff_s=0.01)
    finally:
        srv.close()
    srv = _Server(e5, key="right")
    try:
        with pytest.raises(EmbeddingServerError, match="HTTP 401.*POLICYQA_EMBEDDING_API_KEY"):
            RemoteEmbedder(srv.url, "m", api_key="wrong", retries=3, backoff_s=0.01)
        assert len(srv.requests) == 1  # a refused key is not retried
        assert RemoteEmbedder(srv.url, "m", api_key="right").dim == 384
    finally:
        srv.close()
    port = srv.httpd.server_address[1]  # nothing listens there any more
    with pytest.raises(EmbeddingServerError, match="ConnectError"):
        RemoteEmbedder(f"http://127.0.0.1:{port}/v1", "m", retries=1, backoff_s=0.01)
