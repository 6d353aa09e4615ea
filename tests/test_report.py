"""The eval report and the CLI summary speak to the staff who run evaluations: a verdict first,
Chinese labels, times with units; metrics.json keeps the keys scripts read."""

from __future__ import annotations

import json
import re
from pathlib import Path

from rag.evaluate import metrics, score
from rag.models import Answer
from rag.report import summary_lines, verdict, write_report


def _run() -> list:
    """A small scored run: 3 answerable (2 right, 1 refused), 2 traps (refused, and one answered)."""
    def answer(text: str, refused: bool = False, ms: float = 40.0) -> Answer:
        return Answer(question="q", answer=text, refused=refused, mode="extractive", latency_ms=ms)

    def item(i: int, answerable: bool, fact: str = "") -> dict:
        return {"id": f"q{i}", "question": f"问题{i}", "answerable": answerable, "facts": [[fact]] if fact else []}

    pairs = [(item(1, True, "8850件"), answer("共化解纠纷8850件。")),
             (item(2, True, "2020年8月"), answer("2020年8月被评为示范市。", ms=1500.0)),
             (item(3, True, "120件"), answer("未找到依据", refused=True)),
             (item(4, False), answer("未找到依据", refused=True)),
             (item(5, False), answer("编造的回答。", ms=30.0))]
    return [score(i, a, lambda _: None) for i, a in pairs]


def test_verdict_counts_right_wrong_and_traps_in_chinese() -> None:
    m = metrics(_run())
    assert verdict(m) == "答对 2/3（67%），错误回答 1，陷阱题拒答或纠正 1/2，每题耗时中位数 40 毫秒"
    all_refused = {**m, "wrong_answers": 0, "traps_handled": 1.0, "latency_ms_p50": 1234.0}
    assert "陷阱题全部拒答或纠正" in verdict(all_refused) and "1.2 秒" in verdict(all_refused)
    span = {"questions": 4, "containment": 0.75, "refusal_rate": 0.25, "latency_ms_p50": 33.0}
    assert verdict(span) == "含标准答案 3/4（75%），拒答 1，每题耗时中位数 33 毫秒"


def test_report_and_summary_have_labels_units_and_the_verdict_first(tmp_path: Path) -> None:
    scored = _run()
    m = metrics(scored)
    write_report(tmp_path, scored, m, "PolicyQA 评测")
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert page.index(verdict(m)) < page.index("<svg")  # the verdict before any figure
    visible = re.sub(r"<pre>.*?</pre>", "", page, flags=re.S)
    assert "quotes_verbatim_share" not in visible and "fact_accuracy" not in visible  # no raw keys shown
    assert "引用与入库原文逐字一致的比例" in page and "可答题答对比例" in page
    assert "毫秒" in page and "1.5 秒" in page  # per-question times with their unit
    assert "横轴：每题耗时（秒" in page  # the histogram's axis says its unit
    assert "陷阱题却给出回答" in page and ">答对<" in page  # outcomes in words
    assert json.loads((tmp_path / "metrics.json").read_text())["quotes_verbatim_share"] == m["quotes_verbatim_share"]
    lines = summary_lines({**m, "mode": "extractive"})
    assert lines[0] == verdict(m)
    assert "  可答题答对比例：66.7%" in lines and "  每题耗时（中位数）：40 毫秒" in lines
    assert "  回答模式：摘录原文" in lines and not any("_" in ln for ln in lines)
