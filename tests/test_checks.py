"""Every named check of what a supporting sentence must give, from its own examples in the table
(rag.answer.verify.KIND_CHECKS): the check applies to its question, passes its answering sentence
and is the check that refuses its other sentence (with its reason, in Chinese)."""

from __future__ import annotations

import pytest

from rag.answer.verify import KIND_CHECKS, failed_check
from rag.text import analyze_question, search_key

def _asked(check, question: str):
    """The question, or the last of its parts the check applies to (a check of one part's item)."""
    whole = analyze_question(question)
    return next((q for q in (whole, *reversed(whole.parts)) if check.applies(q)), whole)


CASES = [pytest.param(check, *example, id=f"{check.name}-{i}")
         for check in KIND_CHECKS for i, example in enumerate(check.examples)]


def test_every_check_has_examples() -> None:
    assert [c.name for c in KIND_CHECKS if not c.examples] == []
    assert len({c.name for c in KIND_CHECKS}) == len(KIND_CHECKS)


@pytest.mark.parametrize("check, question, answers, refused", CASES)
def test_a_check_passes_what_answers_and_names_itself_refusing_what_does_not(check, question, answers, refused) -> None:
    q = _asked(check, question)
    assert check.applies(q), f"{check.name} does not apply to {question}"
    assert failed_check(q, search_key(answers)) is None, failed_check(q, search_key(answers)).name
    failed = failed_check(q, search_key(refused))
    assert failed is not None and failed.name == check.name, (failed.name if failed else None)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in check.reason)


@pytest.mark.parametrize("check, question, answers, refused", [c for c in CASES if c.values[0].wording])
def test_the_reader_judges_what_checks_of_wording_judge(check, question, answers, refused) -> None:
    """By meaning (the reader), a check of wording stands aside: only checks of form remain."""
    failed = failed_check(_asked(check, question), search_key(refused), by_meaning=True)
    assert failed is None or not failed.wording
