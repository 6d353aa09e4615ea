"""How much of a question a piece of text covers, compared on search keys.

Shared by the reranker (which window of a chunk to show the judge), the LLM prompt (the same
window) and the answer checks (whether a sentence is about what was asked).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from rag.models import Question
from rag.text.normalize import search_key, sentence_spans
from rag.text.written_as import WRITTEN_AS

#: Quote marks and brackets that a quote may add or drop without changing what it says.
_QUOTE_MARKS = "“”‘’\"'「」『』"


def folded(text: str) -> tuple[str, list[int]]:
    """Search key of ``text`` without whitespace and quote marks, with a map back to offsets."""
    key = search_key(text)
    chars, index = [], []
    for i, ch in enumerate(key):
        if ch.isspace() or ch in _QUOTE_MARKS:
            continue
        chars.append(ch)
        index.append(i)
    return "".join(chars), index


def contains(haystack: str, needle: str) -> bool:
    """``needle`` occurs in ``haystack`` once both are folded (script, width, quote marks, spaces)."""
    return folded(needle)[0] in folded(haystack)[0]


def found(word: str, key: str) -> bool:
    """``word`` occurs in the search key ``key`` as written, as documents write it (WRITTEN_AS), or,
    for a word of three characters or more, with one character inserted (可办率 in 可网办率)."""
    return (word in key or any(alt in key for alt in WRITTEN_AS.get(word, ()))
            or (len(word) >= 3 and _with_one_inserted(word).search(key) is not None))


@lru_cache(maxsize=4096)
def _with_one_inserted(word: str) -> re.Pattern[str]:
    """``word`` with any one character between two of its own: 可办率 → 可.办率|可办.率."""
    return re.compile("|".join(re.escape(word[:i]) + "." + re.escape(word[i:]) for i in range(1, len(word))))


def coverage(words: tuple[str, ...] | list[str], text_key: str, context_key: str) -> float:
    """Share of the question's content characters that ``text_key`` holds, as written or as
    documents write them (see rag/text/written_as.py); a word found only in the context (title, section)
    counts half.

    Words are read as jieba's search mode gives them, a compound with its parts (行政诉讼, 行政,
    诉讼): each character counts once, held by the best of the words covering it, so a compound
    the text does not hold whole still counts the parts it does ("败诉率" under "行政败诉案件"
    holds 行政 of 行政诉讼), and a compound is not weighed once whole and again in parts.
    """
    if not words:
        return 0.0
    units = [w for w in words if not any(w != o and w in o for o in words)]
    total = got = 0.0
    for unit in units:
        marks = [0.0] * len(unit)
        for w in words:
            at = unit.find(w)
            if at < 0:
                continue
            credit = 1.0 if found(w, text_key) else 0.5 if found(w, context_key) else 0.0
            while at >= 0:
                for i in range(at, at + len(w)):
                    marks[i] = max(marks[i], credit)
                at = unit.find(w, at + 1)
        total += len(unit)
        got += sum(marks)
    return got / total


def focus_window(text: str, question: Question, budget: int) -> tuple[int, int]:
    """The span of ``text`` (whole sentences, at most ``budget`` characters where possible) that
    covers the question best: the best sentence, grown by its better neighbour while it fits.

    Why: the LLM's time to first token is its prompt length on 2 cores; the sentences around the
    best match carry the answer, the rest of a 500-character chunk mostly costs seconds. The
    window is a span of the chunk, so quotes from it verify against the chunk unchanged.
    """
    if len(text) <= budget:
        return 0, len(text)
    spans = sentence_spans(text)
    if not spans:
        return 0, min(len(text), budget)
    scores = [coverage(question.content_words, search_key(text[s:e]), "") for s, e in spans]
    lo = hi = max(range(len(spans)), key=lambda i: (scores[i], -i))
    while True:
        options = [i for i in (lo - 1, hi + 1) if 0 <= i < len(spans)
                   and max(spans[hi][1], spans[i][1]) - min(spans[lo][0], spans[i][0]) <= budget]
        if not options:
            break
        best = max(options, key=lambda i: (scores[i], i))  # ties: read on rather than back
        lo, hi = min(lo, best), max(hi, best)
    return spans[lo][0], spans[hi][1]


#: A passage whose best window covers less than this share of what the best passage's window
#: covers is not worth its prompt time (it stays with the verifier and the extractive fallback).
_WEAK_COVERAGE = 0.5
#: Fewer characters than this left in the budget give no useful window.
_MIN_WINDOW = 40


def evidence_windows(texts: Sequence[str], contexts: Sequence[str], question: Question,
                     total: int, each: int) -> list[tuple[int, int] | None]:
    """Which passages the LLM is shown, and which span of each (whole sentences), within ``total``
    characters in all and ``each`` per passage; ``None`` for a passage left out.

    Why: on 2 cores the first token waits for the whole prompt (~70 tokens/s on an AVX2 EPYC, ~1.6
    characters a token), so four 220-character windows cost ~7 s before anything shows. The budget
    goes first to the passages whose window covers the question best (``contexts``: title and
    section, counted half, as in :func:`coverage`); one covering much less than the best is left out.
    The best passage always gets its window, even when its best sentence alone is longer.
    """
    scored = []
    for i, (text, context) in enumerate(zip(texts, contexts, strict=True)):
        start, end = focus_window(text, question, each)
        scored.append((coverage(question.content_words, search_key(text[start:end]), search_key(context)), i))
    out: list[tuple[int, int] | None] = [None] * len(texts)
    left, best = total, max((s for s, _ in scored), default=0.0)
    for score, i in sorted(scored, key=lambda x: (-x[0], x[1])):
        first = not any(out)
        if not first and (left < _MIN_WINDOW or score < best * _WEAK_COVERAGE):
            break
        start, end = focus_window(texts[i], question, min(each, left))
        if not first and end - start > left:
            continue  # its best sentence alone is longer than what is left
        out[i] = (start, end)
        left = max(0, left - (end - start))
    return out
