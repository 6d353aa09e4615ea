"""jieba words of a search key: what a question's content words are and which of them a sentence covers.

Retrieval indexes character bigrams (rag/index/keyword.py); words are for judging answers, where a
word like 调解员 is one unit of meaning that a sentence either states or does not.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

#: A token that is only punctuation or symbols, e.g. "，" or "——".
_SKIP = re.compile(r"^[\W_]+$")
_STOPWORDS = frozenset("的 了 是 在 和 与 及 等 对 为 有 也 都 而 并 或 被 把 将 以 于 之 其 这 那 哪 个 啊 吗 呢 吧 么 "
                       "什么 怎么 如何 哪些 多少 哪个 是否 请问 什么样 关于 还是".split())


@lru_cache(maxsize=1)
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


@lru_cache(maxsize=1)
def _pseg():
    import jieba.posseg

    _jieba()
    return jieba.posseg


def tokenize(key: str) -> list[str]:
    """Search-mode jieba words of an already simplified key, minus punctuation and stopwords."""
    return [t for t in _jieba().cut_for_search(key) if t.strip() and not _SKIP.match(t) and t not in _STOPWORDS]


def posseg(text: str) -> list[tuple[str, str]]:
    """jieba words with their part-of-speech tags (ns place, nr person, nt organisation…)."""
    return [(w.word, w.flag) for w in _pseg().cut(text)]


def dictionary_tag(word: str) -> str | None:
    """jieba's dictionary part of speech for ``word`` (ns for a place name), None if unknown."""
    return _pseg().dt.word_tag_tab.get(word)


def dictionary_frequency(word: str) -> int:
    """How often jieba's dictionary saw ``word`` (0 if never): how common a word it is."""
    return _jieba().dt.FREQ.get(word) or 0
