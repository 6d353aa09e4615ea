"""The scoring rules of eval/bench_ncp_answers.py on made-up strings: what counts as quoting the gold
span, duplicates standing for the gold document, and "other documents only"."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "eval"))

from bench_ncp_answers import Quote, held_out, overlaps, score_answer

SPAN = "一、企业可以申请延期缴纳税款，最长不超过三个月。二、申请时须提交书面材料和资金情况说明。"
CANON = {"d1": "d1", "d1-copy": "d1", "d2": "d2"}


@pytest.mark.parametrize("quote, expected", [
    ("企业可以申请延期缴纳税款，最长不超过三个月。", True),          # inside the span
    ("企业 可以申请延期\n缴纳税款，最长不超过三个月。", True),       # whitespace is not text
    ("通知如下：" + SPAN + "特此通知。", True),                      # the span inside the quote
    ("申请时须提交书面材料和资金情况说明。另附表格一份。", True),     # one shared sentence (>= 10 chars)
    ("最长不超过三个月。另附表格一份。", False),                      # the shared sentence is too short
    ("企业可以申请减免房租，最长不超过六个月。", False),              # same topic, other words
    ("", False),
])
def test_overlap_rules(quote: str, expected: bool) -> None:
    assert overlaps(quote, SPAN) is expected


def test_end_marks_are_not_text() -> None:
    """Quotes are cut before their sentence's 。; a one-sentence gold span ends with it."""
    span = "可以暂时凭银行支付凭证扣除，并在九十日内补充提供票据。"
    assert overlaps("个人不能及时取得票据的，可以暂时凭银行支付凭证扣除，并在九十日内补充提供票据", span)
    assert overlaps("可以暂时凭银行支付凭证扣除", span)


def test_full_width_and_traditional_are_folded() -> None:
    assert overlaps("企業可以申請延期繳納稅款，最長不超過三個月。", SPAN)


def test_duplicate_counts_as_the_gold_document() -> None:
    s = score_answer([Quote("d1-copy", "企业可以申请延期缴纳税款，最长不超过三个月。")], False, "d1", [SPAN], CANON)
    assert s == {"gold_quoted": True, "other_docs_only": False, "other_docs_gold_words": False, "refused": False,
                 "gold_doc_cited": True}


def test_right_words_from_another_document_are_not_gold() -> None:
    s = score_answer([Quote("d2", SPAN)], False, "d1", [SPAN], CANON)
    assert s == {"gold_quoted": False, "other_docs_only": True, "other_docs_gold_words": True,
                 "refused": False, "gold_doc_cited": False}


def test_other_documents_with_other_words() -> None:
    s = score_answer([Quote("d2", "企业可以申请减免房租，最长不超过六个月。")], False, "d1", [SPAN], CANON)
    assert s["other_docs_only"] and not s["other_docs_gold_words"]


def test_gold_document_cited_elsewhere_in_it() -> None:
    s = score_answer([Quote("d1", "本通知自发布之日起施行。"), Quote("d2", "其他内容。")], False, "d1", [SPAN], CANON)
    assert s == {"gold_quoted": False, "other_docs_only": False, "other_docs_gold_words": False, "refused": False,
                 "gold_doc_cited": True}


def test_a_refusal_is_not_other_docs_only() -> None:
    assert score_answer([], True, "d1", [SPAN], CANON) == {
        "gold_quoted": False, "other_docs_only": False, "other_docs_gold_words": False, "refused": True,
        "gold_doc_cited": False}


def test_any_gold_span_and_blank_ones_ignored() -> None:
    s = score_answer([Quote("d1", "第二个答案在这里出现了，长度足够。")], False, "d1",
                     ["  ", SPAN, "第二个答案在这里出现了，长度足够。"], CANON)
    assert s["gold_quoted"]
    assert not score_answer([Quote("d1", "任意一句话都不匹配的内容。")], False, "d1", ["  \n"], CANON)["gold_quoted"]


def test_held_out_is_the_last_150_by_default() -> None:
    questions = [{"qid": i} for i in range(617)]
    assert [q["qid"] for q in held_out(questions, None, None)] == list(range(467, 617))
    assert [q["qid"] for q in held_out(questions, None, 3)] == [467, 468, 469]
    assert [q["qid"] for q in held_out(questions, 10, 2)] == [10, 11]
