"""Hybrid retrieval: BM25 and dense candidates fused (normalised scores or RRF), with document/city/year filters.

Queries go through the same normalisation and search key as the corpus, so a traditional and a
simplified phrasing of a question are literally the same query to both retrievers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from rag.config import Settings
from rag.embed import PACKAGED, Embedder, embedder_for
from rag.index import check_manifest, expected_manifest, open_store
from rag.index.acl import ReadFilter
from rag.index.search import LocalSearch, SearchBackend
from rag.index.store import Store
from rag.models import Hit, Original, Question, Retrieved
from rag.retrieve.fusion import rrf, score_fusion
from rag.retrieve.passages import in_context, original_of
from rag.retrieve.rerank import LLMJudgeReranker, Reranker
from rag.text import analyze_question
from rag.text.normalize import normalize_text, search_key

log = logging.getLogger(__name__)
#: How long the places of a live store's documents (Milvus) are kept before they are read again.
_LIVE_CITIES_S = 30
#: Question vectors a Retriever keeps (by search key), newest first.
QUERY_VECTORS = 256


@dataclass(frozen=True)
class Filters:
    docids: tuple[str, ...] = ()
    city: str | None = None
    year: str | None = None
    access: ReadFilter | None = None  # what the asker may read (rag.index.acl.read_filter); None: everything

    def __bool__(self) -> bool:
        return bool(self.docids or self.city or self.year or self.access is not None)


class Retriever:
    """An opened index. Thread-safe for searching; :meth:`refresh` picks up a newer generation."""

    def __init__(self, settings: Settings, store: Store, embedder: Embedder, backend: SearchBackend,
                 reranker: Reranker | None = None) -> None:
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self.reranker = reranker
        self.backend = backend
        # the same question is searched again within one answer (its parts, the audit trail's count
        # of what permissions withheld): its vector is computed once (~17 ms with e5 on a small CPU)
        self._query_vector = lru_cache(maxsize=QUERY_VECTORS)(lambda key: self.embedder.embed_queries([key])[0])
        self._city_cache: tuple[tuple[int, int], dict[str, str]] | None = None

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder | None = None, reranker: Reranker | None = None) -> Retriever:
        """Open the index ``settings`` name (a folder, or a Milvus server with ``store=milvus``);
        with ``settings.rerank`` and no reranker given, the local LLM judges candidates (it loads
        on the first search)."""
        store = open_store(settings, readonly=True)
        if embedder is None:
            if settings.embedding_model in PACKAGED and not settings.embedding_url:  # fail before loading a model for nothing
                check_manifest(store, {"embedding_model": settings.embedding_model}, store.location)
            embedder = embedder_for(settings)
        check_manifest(store, expected_manifest(settings, embedder.name, embedder.dim, store.keyword_terms), store.location)
        if reranker is None and settings.rerank:
            reranker = _llm_reranker(settings)
        backend = store if isinstance(store, SearchBackend) else LocalSearch(
            Path(settings.index_dir), store, embedder.dim, settings.ann_threshold)
        return cls(settings, store, embedder, backend, reranker)

    def refresh(self) -> None:
        """Reload the search structures if the index was updated since they were loaded."""
        self.backend.refresh()

    def search(self, question: str | Question, k: int | None = None, filters: Filters | None = None,
               candidates: int | None = None, places: Sequence[str] = ()) -> list[Hit]:
        """The ``k`` best hits for a question's text; given analysed (a :class:`Question`), the
        reranker reads that analysis instead of making its own. When the question names ``places``
        (short names: 清水, 清河区) that documents are about, up to ``Settings.place_passages`` more of
        those documents' best passages that the search left out follow: a county's figure must reach
        the answer even where twenty other counties' reports use the same words."""
        analysed = question if isinstance(question, Question) else None
        question = question.text if isinstance(question, Question) else question
        k = k or self.settings.top_k
        candidates = max(candidates or self.settings.candidates, k)
        key = query_key(question, self.settings.max_question_chars)
        backend = self.backend
        backend.refresh()  # sees what another process (policyqa index, another server) wrote since
        allowed = None
        if filters:
            allowed = backend.allowed(filters.docids or None, filters.city, filters.year, filters.access)
            if allowed is None:
                return []
        hits = self._ranked(key, question, analysed, k, candidates, allowed)
        about = self._documents_about(places, filters)
        if about and self.settings.place_passages and sum(h.chunk.docid in about for h in hits) < self.settings.place_passages:
            scoped = backend.allowed(sorted(about), filters.city if filters else None,  # the asker's filters hold
                                     filters.year if filters else None, filters.access if filters else None)
            if scoped is not None:  # None: the asker may read none of them (never "search everything")
                seen = {h.chunk.chunk_id for h in hits}
                extra = [h for h in self._ranked(key, question, analysed, self.settings.place_passages, candidates,
                                                 scoped) if h.chunk.chunk_id not in seen]
                hits += extra[:self.settings.place_passages]
        return hits

    def _ranked(self, key: str, question: str, analysed: Question | None, k: int, candidates: int,
                allowed: object) -> list[Hit]:
        backend = self.backend
        keyword = backend.keyword(key, candidates, allowed)
        dense = backend.dense(self._query_vector(key), candidates, allowed) if backend.has_vectors else []
        # chunks still waiting for their vector (two-stage indexing) are judged on keywords alone
        unscored = {"dense": backend.without_vectors(i for i, _ in keyword)}
        if self.settings.fusion == "rrf":
            fused = rrf({"bm25": [i for i, _ in keyword], "dense": [i for i, _ in dense]}, k=self.settings.rrf_k,
                        unscored=unscored)
        else:
            w = self.settings.dense_weight
            fused = score_fusion({"bm25": keyword, "dense": dense}, {"bm25": 1.0 - w, "dense": w}, unscored)
        fused = fused[:max(k, self.reranker.candidates) if self.reranker else k]
        rows = self.store.chunks_by_id([i for i, _, _ in fused])
        hits = [Hit(chunk=rows[i].chunk, title=rows[i].title, score=score, ranks=ranks)
                for i, score, ranks in fused if i in rows]
        if not self.reranker:
            return hits[:k]
        return self.reranker.rerank(analysed or analyze_question(question), hits)[:k]

    def _documents_about(self, places: Sequence[str], filters: Filters | None) -> set[str]:
        """The documents whose place is one of ``places`` (of those ``filters`` name, if any)."""
        if not places:
            return set()
        keys = [search_key(p) for p in places]
        about = {docid for docid, city in self._cities().items() if any(k in city for k in keys)}
        return about & set(filters.docids) if filters and filters.docids else about

    def _cities(self) -> dict[str, str]:
        """docid → the search key of its place, read again when the index or a subject changed (a
        store read live, Milvus, has no version to watch: it is read again every half minute)."""
        version = ((self.store.generation, self.store.filter_version) if hasattr(self.store, "filter_version")
                   else (-1, int(time.monotonic() // _LIVE_CITIES_S)))
        if self._city_cache is None or self._city_cache[0] != version:
            cities = {d["docid"]: search_key(d["subject"].get("city", "")) for d in self.store.documents()}
            self._city_cache = (version, {d: c for d, c in cities.items() if c})
        return self._city_cache[1]

    def passages(self, question: Question, k: int, filters: Filters | None = None) -> list[Retrieved]:
        """The ``k`` best passages for an analysed question, with what the answer layer reads of
        their documents (rag.retrieve.passages); a compound question also gets the two best
        passages of each part (searched with the question's places and years), after the others."""
        hits = self.search(question, k=k, filters=filters, places=question.places)
        if question.compound:  # make sure each part's best passages are there
            subject = " ".join(question.subject_terms)
            seen = {h.chunk.chunk_id for h in hits}
            for part in question.parts:
                for h in self.search(f"{subject} {part.text}", k=2, filters=filters):
                    if h.chunk.chunk_id not in seen:
                        seen.add(h.chunk.chunk_id)
                        hits.append(h)
        return in_context(self.store, hits, question.quoted)

    def original(self, docid: str) -> Original | None:
        """A document's text as extracted from its file, for citing a quote where it stands there
        (None where the index does not know how the stored text differs)."""
        return original_of(self.store, docid)


def _llm_reranker(settings: Settings) -> Reranker:
    from rag.llm import RelevanceJudge, load_chat_model

    model = load_chat_model(settings)
    if not isinstance(model, RelevanceJudge):
        raise ValueError("POLICYQA_RERANK needs the packaged local LLM (it reads the model's logits); "
                         "unset POLICYQA_LLM_URL or POLICYQA_RERANK")
    return LLMJudgeReranker(model, settings.rerank_candidates, settings.llm_passage_chars)


def query_key(question: str, max_chars: int = 2000) -> str:
    """Validate a question and give its search key (normalised like the corpus, simplified)."""
    if not question or not question.strip():
        raise ValueError("the question is empty: type a question about the documents")
    if len(question) > max_chars:
        raise ValueError(f"the question is {len(question)} characters long; the limit is {max_chars}. "
                         "Ask about one point at a time")
    return search_key(normalize_text(question).replace("\n", " "))
