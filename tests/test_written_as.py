"""The wording lexicon (rag/text/written_as.py), tested from its own examples: each group's question is
covered by its sentence through that group's entries, and not without them."""

from __future__ import annotations

import pytest

from rag.answer.verify import MIN_COVERAGE
from rag.text import analyze_question, coverage, search_key
from rag.text import match
from rag.text.written_as import GROUPS, WRITTEN_AS

CASES = [pytest.param(group, *example, id=f"{group.name}-{n}")
         for group in GROUPS for n, example in enumerate(group.examples)]


def _covers(question: str, sentence: str) -> float:
    return coverage(analyze_question(question).content_words, search_key(sentence), "")


@pytest.mark.parametrize("group, question, covering, other", CASES)
def test_group_covers_its_example(group, question, covering, other, monkeypatch) -> None:
    assert _covers(question, covering) >= MIN_COVERAGE, (group.name, analyze_question(question).content_words)
    assert _covers(question, other) < MIN_COVERAGE
    asked = {a for entry in group.entries for a in entry.asked}
    monkeypatch.setattr(match, "WRITTEN_AS", {k: v for k, v in WRITTEN_AS.items() if k not in asked})
    assert _covers(question, covering) < MIN_COVERAGE, f"{group.name} is not what covers {question!r}"


def test_every_group_has_examples_and_every_entry_its_own_wording() -> None:
    for group in GROUPS:
        assert group.examples and group.why
        for entry in group.entries:
            assert entry.asked and entry.written
            assert all(search_key(w) == w for w in entry.asked + entry.written), entry


def test_an_asked_phrase_is_one_content_word_of_the_question() -> None:
    words = analyze_question("颍州区2022年有多少下岗失业的人重新找到了工作？").content_words
    assert "找到了工作" in words
    assert "就业" in WRITTEN_AS["找到了工作"]
