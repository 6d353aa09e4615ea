"""Optional second stage: the packaged LLM judges whether each top candidate answers the question.

Score = logit("是") − logit("否") of the model's first reply token after a yes/no prompt
(``rag/prompts/rerank.md``). Off by default (``POLICYQA_RERANK``): on 2 cores it costs about a second
per candidate, and eval/bench_retrieval.py ``--rerank`` measures whether it pays.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence

from rag.llm.base import LLMUnavailableError, RelevanceJudge
from rag.models import Hit, Question
from rag.resources import load_prompt
from rag.text import focus_window

log = logging.getLogger(__name__)


class Reranker(ABC):
    """Reorders fused candidates; the retriever asks for ``candidates`` hits and keeps the top k."""

    candidates: int

    @abstractmethod
    def rerank(self, question: Question, hits: Sequence[Hit]) -> list[Hit]:
        """The same hits, best first, for the analysed question."""


def order_by(hits: Sequence[Hit], scores: Sequence[float], ranker: str) -> list[Hit]:
    """Hits sorted by ``scores`` (ties keep their order), each carrying its new score and rank."""
    order = sorted(range(len(hits)), key=lambda i: -scores[i])
    return [hits[i].model_copy(update={"score": float(scores[i]), "ranks": {**hits[i].ranks, ranker: rank}})
            for rank, i in enumerate(order, 1)]


class LLMJudgeReranker(Reranker):
    """Yes/no relevance from a local LLM on the first ``candidates`` hits (the rest follow unjudged)."""

    def __init__(self, model: RelevanceJudge, candidates: int = 8, passage_chars: int = 220) -> None:
        self.model = model
        self.candidates = candidates
        self.passage_chars = passage_chars
        self._prompt = load_prompt("rerank.md")

    def rerank(self, question: Question, hits: Sequence[Hit]) -> list[Hit]:
        head = list(hits[: self.candidates])
        scores = []
        try:
            for h in head:
                start, end = focus_window(h.chunk.text, question, self.passage_chars)  # the window the answer LLM sees
                text = self._prompt.format(title=h.title, passage=h.chunk.text[start:end], question=question.text.strip())
                scores.append(self.model.relevance([{"role": "user", "content": text}]))
        except LLMUnavailableError as exc:  # the fused order stands; retrieval never fails for the judge
            log.warning("reranking skipped: %s", exc)
            return list(hits)
        return order_by(head, scores, "judge") + list(hits[self.candidates:])
