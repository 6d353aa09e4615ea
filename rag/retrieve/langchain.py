"""The hybrid retriever as a LangChain ``BaseRetriever``, for any LangChain application."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from rag.models import Hit
from rag.retrieve import Filters, Retriever


def hit_to_document(hit: Hit) -> LCDocument:
    c = hit.chunk
    return LCDocument(
        page_content=c.text,
        id=c.chunk_id,
        metadata={"docid": c.docid, "chunk_id": c.chunk_id, "title": hit.title, "section": list(c.section),
                  "start": c.start, "end": c.end, "score": hit.score, "ranks": dict(hit.ranks)},
    )


class PolicyQARetriever(BaseRetriever):
    """``PolicyQARetriever(retriever=Retriever.open(settings), k=5).invoke("问题")``."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: Retriever
    k: int = 5
    filters: Filters | None = None

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                **kwargs: Any) -> list[LCDocument]:
        return [hit_to_document(h) for h in self.retriever.search(query, k=self.k, filters=self.filters)]
