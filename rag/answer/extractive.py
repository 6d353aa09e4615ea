"""Extractive answers: the best supporting source sentences themselves, cited. No LLM needed.

A sentence qualifies when it covers most of what the question asks about (its content words,
beyond the place and year that the verifier checks separately) and, for a how-many / when
question, actually contains a number / a date. Otherwise the draft is empty and the answer is a
refusal: returning a loosely related sentence would be a wrong answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.answer.verify import Draft, Passage, about_subject, posseg, sentence_spans, subject_terms
from rag.index.keyword import tokenize
from rag.normalize import search_key

#: Share of the question's content (weighted by word length) a sentence + its context must cover.
MIN_COVERAGE = 0.6
_QUESTION_WORDS = frozenset(
    "何时 什么 多少 哪 哪些 哪个 哪里 哪年 哪天 谁 怎样 如何 是否 什么时候 几 多 吗 呢 请问 有 哪位 为什么 怎么 具体 "
    "主要 情况 内容 方面 包括 年度 时候 时间 一下 介绍 方面 工作".split()
)
_ASKS_NUMBER = re.compile(r"多少|几[个项件名次年条家批]|比例|百分|数量|金额|人数|规模|多大|多长|多高")
_ASKS_DATE = re.compile(r"何时|什么时候|什么时间|哪一?年|哪一?天|几月|哪个月|日期")
_ASKS = re.compile(r"多少|几|什么|何时|哪|谁|怎样|如何|是否")
_HAS_NUMBER = re.compile(r"\d|[零〇一二三四五六七八九十百千万两]+[个项件名次年条家批人户元]")
_ASKS_PERSON = re.compile(r"谁|哪位|什么人|姓名|名字")
_HAS_DATE = re.compile(r"\d{4}年|\d{1,2}月|\d{1,2}日|[一二三四五六七八九十]+月|年初|年底|去年|今年|上半年|下半年")


def content_words(question: str) -> list[str]:
    """What the question asks about beyond its subject: words minus question words, places, years
    and single characters (classifiers like 年/件 are covered by the number/date requirement)."""
    key = search_key(question)
    for term in subject_terms(question):
        key = re.sub(re.escape(search_key(term)) + "(?:市|省|县|区|年)?", " ", key)
    words = [w for w in tokenize(key) if w not in _QUESTION_WORDS and not w.isdigit()]
    longer = [w for w in words if len(w) > 1]
    return list(dict.fromkeys(longer or words))


def _coverage(words: list[str], text_key: str, context_key: str) -> float:
    if not words:
        return 0.0
    total = sum(len(w) for w in words)
    got = sum(len(w) if w in text_key else 0.5 * len(w) if w in context_key else 0.0 for w in words)
    return got / total


def sub_questions(question: str) -> list[str]:
    """Parts of a compound question ("A多少件，B多少份？"), each asking something of its own."""
    parts = [p for p in re.split(r"[，,；;]|(?<=[？?])", question) if p.strip()]
    if len(parts) < 2 or sum(bool(_ASKS.search(search_key(p))) for p in parts) < 2:
        return [question]
    return parts


def _names_person(sentence_key: str) -> bool:
    return any(flag == "nr" and len(word) >= 2 for word, flag in posseg(sentence_key))


def draft_extractive(question: str, passages: Sequence[Passage], max_sentences: int = 3) -> Draft:
    """Pick source sentences that together cover the question, each citing its passage.

    The best-covering sentence comes first; further sentences are added only while they cover
    content words still uncovered (a question asking two things gets two sentences).
    """
    words = content_words(question)
    qkey = search_key(question)
    needs = [p for p, asked in ((_HAS_NUMBER, _ASKS_NUMBER), (_HAS_DATE, _ASKS_DATE)) if asked.search(qkey)]
    asks_person = bool(_ASKS_PERSON.search(qkey))
    terms = subject_terms(question)
    candidates = []
    for rank, p in enumerate(passages):
        if not about_subject([p], terms):
            continue  # another city or year: the verifier would reject it anyway
        chunk = p.hit.chunk
        context_key = search_key(p.context)
        for s, e in sentence_spans(chunk.text):
            sentence = chunk.text[s:e]
            key = search_key(sentence)
            if len(key) < 6 or any(not pattern.search(key) for pattern in needs):
                continue
            if asks_person and not _names_person(key):
                continue
            candidates.append((rank, s, p.n, sentence, key, context_key))
    chosen: list[tuple[int, str]] = []
    covered: set[str] = set()
    while len(chosen) < max_sentences:
        best = None
        for rank, s, n, sentence, key, context_key in candidates:
            if (n, sentence) in chosen:
                continue
            new = [w for w in words if w not in covered]
            gain = _coverage(new, key, context_key) * len("".join(new)) / max(len("".join(words)), 1)
            total = _coverage(words, key, context_key)
            score = (gain, total, -rank, -s)
            if best is None or score > best[0]:
                best = (score, n, sentence, key)
        if best is None:
            break
        (gain, total, _, _), n, sentence, key = best
        if (not chosen and total < MIN_COVERAGE) or (chosen and gain < 0.2):
            break
        chosen.append((n, sentence))
        covered.update(w for w in words if w in key)
    return Draft(sentences=tuple((s, (n,)) for n, s in chosen), quotes=tuple((n, s) for n, s in chosen))
