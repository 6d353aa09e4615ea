"""The embeddable Python API: one loaded model and index shared by every caller.

    from rag import PolicyQA
    qa = PolicyQA.open("index/")
    answer = qa.ask("天长市何时被评为全国法治政府建设示范市？")
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from rag.answer.chain import AnswerChain
from rag.config import Settings
from rag.embed import load_embedder
from rag.index.build import IndexStats, remove_documents, update_index
from rag.ingest import Ingestor
from rag.models import Answer, Hit
from rag.retrieve import Filters, Retriever


class PolicyQA:
    """Thread-safe facade over retrieval, answering and index updates."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._write_lock = threading.Lock()
        self.retriever = Retriever.open(settings)
        self.chain = AnswerChain(settings, self.retriever)
        self.ingestor = Ingestor(settings.ingest_limits())  # its reader process starts on first use

    @classmethod
    def open(cls, index_dir: str | Path | None = None, settings: Settings | None = None, **overrides) -> PolicyQA:
        settings = settings or Settings()
        updates = dict(overrides)
        if index_dir is not None:
            updates["index_dir"] = Path(index_dir)
        return cls(settings.model_copy(update=updates) if updates else settings)

    @classmethod
    def build(cls, paths: Sequence[str | Path], settings: Settings | None = None) -> PolicyQA:
        """Index ``paths`` (incrementally) and open the result."""
        settings = settings or Settings()
        update_index(settings, paths, load_embedder(settings.embedding_model, settings.embed_threads))
        return cls(settings)

    def ask(self, question: str, mode: str | None = None, filters: Filters | None = None) -> Answer:
        return self.chain.ask(question, mode=mode, filters=filters)

    def stream(self, question: str, mode: str | None = None, filters: Filters | None = None) -> Iterator[str | Answer]:
        """Text pieces as generated (unverified, for display while waiting), then the verified Answer."""
        return self.chain.stream(question, mode=mode, filters=filters)

    def search(self, question: str, k: int = 5, filters: Filters | None = None) -> list[Hit]:
        return self.retriever.search(question, k=k, filters=filters)

    def add(self, paths: Sequence[str | Path]) -> IndexStats:
        """Ingest and index files or folders; searches see them as soon as this returns."""
        with self._write_lock:
            stats = update_index(self.settings, paths, self.retriever.embedder, ingestor=self.ingestor)
            self.retriever.refresh()
        return stats

    def remove(self, docid: str) -> bool:
        with self._write_lock:
            removed = remove_documents(self.settings, [docid], self.retriever.embedder)
            self.retriever.refresh()
        return bool(removed)

    def close(self) -> None:
        """Stop the helper processes (file reader, local model)."""
        self.ingestor.close()
        self.chain.close()

    def documents(self) -> list[dict]:
        return self.retriever.store.documents()

    def document(self, docid: str):
        return self.retriever.store.document(docid)
