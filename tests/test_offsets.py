"""Stored text → the text as extracted from the file: edits, original offsets and wording."""

from __future__ import annotations

import random
import unicodedata

import pytest

from rag.models import Edit
from rag.text.normalize import normalize_pages, normalize_text, normalize_traced, search_key
from rag.text.offsets import Traced, decode_edits, edits_between, encode_edits, original_span, original_text

#: Inputs that exercise every change the normaliser makes.
TRICKY = [
    "為譜寫如皋現(xiàn)代化建設(shè)新篇章,南通爭優(yōu)勝",
    "2023年,苏州(一)加强领导:完成1,200件,增长3.5%\r\n第二行\r第三行",
    "２０２０年８月\u00a0\u3000被评为\u200b示范市",
    "常熟新闻网首页\n\n白皮书的主要内容\n[责任编辑:SJX]\n标签:",
    "一、总体要求\n坚持以习近平新时代中国特色社会主义思\n想为指导，深入贯彻落实习近平法治思想，\n"
    "全面推进依法行政工作，取得积极成效。\n（一）加强领导\n组织召开会议。",
    "  缩进的段落。  \n\n\n  另一段 \t 有空格。",
    "Cafe\u0301 und e\u0301te\u0301: 文字",
    "",
    "\n\n",
]


def fold(text: str) -> str:
    """What a person compares by eye: widths, script, composed accents and whitespace aside."""
    visible = "".join(c for c in text if unicodedata.category(c) != "Cf")  # zero-width marks
    return "".join(search_key(unicodedata.normalize("NFC", visible)).split())


def is_subsequence(short: str, long: str) -> bool:
    chars = iter(long)
    return all(c in chars for c in short)


def _fuzz(n: int) -> list[str]:
    alphabet = list("天长市法治政府示范（）()，,：:；;。！!？?设(shè)１２3４\u3000\u00a0\u200b \t\r\n") + ["e\u0301", "\r\n"]
    rng = random.Random(7)
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120))) for _ in range(n)]


@pytest.mark.parametrize("raw", TRICKY + _fuzz(150))
def test_edits_give_back_the_original_and_spans_hold_what_they_came_from(raw: str) -> None:
    traced = normalize_traced(Traced.of(raw))
    assert traced.text == normalize_text(raw)
    assert list(traced.origin) == sorted(traced.origin)  # never runs backwards
    edits = edits_between(traced, raw)
    assert original_text(traced.text, edits) == raw
    assert decode_edits(encode_edits(edits)) == edits
    stored = traced.text
    for start in range(len(stored)):
        for end in range(start + 1, min(len(stored), start + 12) + 1):
            if not stored[start:end].strip():
                continue
            o_start, o_end = original_span(edits, start, end)
            span = raw[o_start:o_end]
            assert is_subsequence(fold(stored[start:end]), fold(span)), (stored[start:end], span)
            # tight: the original span starts and ends with what the quote starts and ends with
            # (a pinyin gloss removed inside the span is kept, one removed at its edge is not)
            if not stored[start].isspace():
                assert fold(span)[:1] == fold(stored[start:end])[:1], (stored[start:end], span)
            if not stored[end - 1].isspace():
                assert fold(span)[-1:] == fold(stored[start:end])[-1:], (stored[start:end], span)


def test_original_span_leaves_out_what_was_removed_around_it() -> None:
    raw = "現(xiàn)代化建設(shè)新篇章,南通"
    stored = normalize_text(raw)
    assert stored == "現代化建設新篇章，南通"
    edits = edits_between(normalize_traced(Traced.of(raw)), raw)
    start = stored.index("代化")
    o_start, o_end = original_span(edits, start, start + 2)
    assert raw[o_start:o_end] == "代化"  # the gloss right before 代 is not part of it
    start = stored.index("建設新篇章，南")
    o_start, o_end = original_span(edits, start, start + 7)
    assert raw[o_start:o_end] == "建設(shè)新篇章,南"  # inside the span it is, and the comma as written


def test_a_boundary_inside_a_changed_stretch_takes_all_of_it() -> None:
    edits = (Edit(2, 3, "  \t"),)  # stored "ab cd" came from "ab  \tcd"
    assert original_span(edits, 0, 3) == (0, 5)
    assert original_span(edits, 3, 5) == (5, 7)
    assert original_span(edits, 2, 3) == (2, 5)


def test_pages_keep_offsets_into_the_extracted_text_across_dropped_headers() -> None:
    from rag.ingest.pages import strip_running_lines

    sentence = ("天长市推进法治政府建设，全市行政执法人员持证上岗率达到百分之百，执法案卷合格率逐年"
                "提高，行政复议案件办理质效不断提高，群众满意度持续提升。")
    lines = [sentence[i:i + 20] for i in range(0, len(sentence), 20)]  # wrapped at 20 characters
    pages = ["天长市人民政府文件\n" + "\n".join(lines[:3]) + "\n- 1 -", "天长市人民政府文件\n" + "\n".join(lines[3:]) + "\n- 2 -"]
    original = "\n".join(pages)
    traced, starts = normalize_pages(strip_running_lines([Traced.of(pages[0]), Traced.of(pages[1], len(pages[0]) + 1)]))
    assert traced.text == sentence
    edits = edits_between(traced, original)
    assert original_text(traced.text, edits) == original
    quote = lines[2][-4:] + lines[3][:5]  # over the page break
    start = traced.text.index(quote)
    o_start, o_end = original_span(edits, start, start + len(quote))
    assert original[o_start:o_end] == f"{lines[2][-4:]}\n- 1 -\n天长市人民政府文件\n{lines[3][:5]}"
    assert starts == [0, 60]
