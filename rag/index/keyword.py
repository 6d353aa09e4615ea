"""BM25 over the simplified search key, so 發展 and 发展 are the same term.

The index terms are overlapping character bigrams (plus Latin/digit words), not jieba words: jieba
segments the same phrase differently in a question and in a passage (``稳产保供`` vs ``稳产 保供``),
and on NCP bigram BM25 finds the right document in the top 5 for 96% of questions against 92% for
jieba words (eval/bench_retrieval.py). jieba words (:func:`rag.text.words.tokenize`) are still what
the answer stage uses to judge which content words a sentence covers.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

TERMS_VERSION = "bigram-1"  # recorded in the manifest: stored terms are only valid for one scheme
_RUNS = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[a-z0-9]+(?:\.[0-9]+)?")
# bigrams of question phrasing (什么/哪些/如何…) that say nothing about which passage answers
_QUESTION_BIGRAMS = frozenset("什么 哪些 如何 怎么 多少 是否 哪个 请问 为什 么时 时候 哪里 怎样 么样".split())


@lru_cache(maxsize=1)
def _bm25s():
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets DEBUG on itself at import
    return bm25s


def terms(key: str) -> list[str]:
    """BM25 terms of an already simplified key: character bigrams of each Han run (a lone character
    stands for itself) and whole Latin/number words; punctuation separates runs."""
    out: list[str] = []
    for run in _RUNS.findall(key):
        if run[0].isascii() or len(run) == 1:
            out.append(run)
        else:
            out.extend(run[i:i + 2] for i in range(len(run) - 1))
    return out


def query_terms(key: str) -> list[str]:
    """:func:`terms` of a question, minus question-phrasing bigrams."""
    return [t for t in terms(key) if t not in _QUESTION_BIGRAMS]


class KeywordIndex:
    """bm25s over pre-tokenised chunks; ``ids[i]`` is the chunk id of BM25 document ``i``."""

    def __init__(self, bm25, ids: np.ndarray) -> None:
        self._bm25 = bm25
        self.ids = ids

    @classmethod
    def build(cls, rows: list[tuple[int, str]], k1: float = 0.75, b: float = 0.75) -> KeywordIndex:
        """k1 0.75 rather than bm25s's 1.5 for bigram terms: NCP and DRCD dev both plateau at 0.75–0.9
        and drop past 1.2 (measured with eval/bench_retrieval.py's data)."""
        bm25s = _bm25s()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        bm25 = bm25s.BM25(k1=k1, b=b)
        if rows:
            bm25.index([r[1].split(" ") if r[1] else [] for r in rows], show_progress=False)
        return cls(bm25, ids)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "ids.npy", self.ids)
        if len(self.ids):
            self._bm25.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path) -> KeywordIndex:
        bm25s = _bm25s()
        ids = np.load(folder / "ids.npy")
        bm25 = bm25s.BM25.load(str(folder), show_progress=False) if len(ids) else bm25s.BM25()
        return cls(bm25, ids)

    def search(self, tokens: list[str], k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        if not len(self.ids) or not tokens:
            return []
        known = [t for t in tokens if t in self._bm25.vocab_dict]
        if not known:
            return []
        mask = np.isin(self.ids, allowed).astype(np.float32) if allowed is not None else None
        k = min(k, len(self.ids))
        docs, scores = self._bm25.retrieve([known], k=k, show_progress=False, weight_mask=mask, n_threads=1)
        return [(int(self.ids[d]), float(s)) for d, s in zip(docs[0], scores[0]) if s > 0]
