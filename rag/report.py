"""An evaluation run as staff read it: a one-line verdict, Chinese labels, times with their units.

The people who run ``policyqa eval`` are the staff who answer for the assistant, not developers:
``report.html`` and the CLI summary say in Chinese how many questions were answered right, how
many wrongly and whether every trap was refused, before any figure. ``metrics.json`` keeps its
keys (scripts read them); the labels below are only how each key is shown.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag.evaluate import Scored

#: metrics.json key -> (label, how its value is shown: "share", "ms", "count" or "text")
LABELS: dict[str, tuple[str, str]] = {
    "questions": ("题数", "count"),
    "answerable": ("可答题", "count"),
    "unanswerable": ("陷阱题（文件中没有答案）", "count"),
    "answered": ("给出回答的题", "count"),
    "fact_accuracy": ("可答题答对比例", "share"),
    "containment": ("回答含标准答案的比例", "share"),
    "rouge_l": ("与标准答案的字面重合度（ROUGE-L）", "share"),
    "refusal_rate": ("拒答比例", "share"),
    "wrong_answers": ("错误回答", "count"),
    "wrong_answer_rate": ("回答中错误回答的比例", "share"),
    "traps_handled": ("陷阱题拒答或纠正前提的比例", "share"),
    "refusal_recall": ("陷阱题拒答比例", "share"),
    "refusal_precision": ("拒答中确属无答案的比例", "share"),
    "citation_coverage": ("回答带引用的比例", "share"),
    "quotes_shown": ("展示的原文引用", "count"),
    "quotes_verbatim_share": ("引用与入库原文逐字一致的比例", "share"),
    "quotes_located_in_original_share": ("引用可在原文件中定位的比例", "share"),
    "quotes_worded_differently_in_original": ("原文件中写法不同的引用（如半角标点）", "count"),
    "follow_up_turns": ("追问轮数", "count"),
    "follow_ups_rewritten": ("追问被理解为完整问题的轮数", "count"),
    "latency_ms_p50": ("每题耗时（中位数）", "ms"),
    "latency_ms_p95": ("每题耗时（95%的题不超过）", "ms"),
    "first_token_ms_p50": ("首字出现耗时（中位数）", "ms"),
    "first_token_ms_p95": ("首字出现耗时（95%的题不超过）", "ms"),
    "mode": ("回答模式", "text"),
}

#: scored outcome -> how a person says it
OUTCOMES: dict[str, str] = {
    "correct": "答对", "wrong": "答错", "fabricated": "陷阱题却给出回答", "missed": "可答却拒答",
    "refused-ok": "正确拒答", "corrected": "纠正了错误前提", "refused": "拒答", "partial": "未含标准答案",
}

MODES = {"extractive": "摘录原文", "llm": "大模型生成"}

#: an eval item's ``kind`` -> what it tests, in words (an unknown kind is shown as written)
KINDS = {"paraphrase": "换一种说法", "paraphrase-trad": "换说法（繁体）", "other-city": "问其他城市",
         "reverse": "由答案反问", "wrong-year": "年份不对", "false-premise": "前提错误", "role": "问职务",
         "date": "问日期", "person": "问人物", "person-trap": "人物陷阱", "list": "列举措施", "conversation": "多轮对话"}

_ORDER = {"fabricated": 0, "wrong": 1, "partial": 2, "missed": 3, "refused": 4, "correct": 5, "corrected": 6,
          "refused-ok": 7}
_COLOUR = {"fabricated": "#c0392b", "wrong": "#c0392b", "partial": "#e67e22", "missed": "#e67e22",
           "refused": "#e67e22", "correct": "#27ae60", "corrected": "#27ae60", "refused-ok": "#27ae60"}


def duration(ms: float) -> str:
    """A time as staff read it: 毫秒 below a second, 秒 from there."""
    return f"{ms:.0f} 毫秒" if ms < 1000 else f"{ms / 1000:.1f} 秒"


def shown(key: str, value: object) -> str:
    """A metric's value with its unit (a share as a percentage, a time in 毫秒/秒)."""
    kind = LABELS.get(key, (key, "text"))[1]
    if value is None:
        return "—"
    if kind == "share" and isinstance(value, (int, float)):
        return f"{value:.1%}"
    if kind == "ms" and isinstance(value, (int, float)):
        return duration(float(value))
    if key == "mode":
        return MODES.get(str(value), str(value))
    return str(value)


def verdict(m: dict) -> str:
    """One line saying how the run went: answered right, wrong answers, traps; then the time."""
    if "fact_accuracy" in m:  # facts format
        right = round(m["fact_accuracy"] * m["answerable"])
        parts = [f"答对 {right}/{m['answerable']}（{right / max(m['answerable'], 1):.0%}）",
                 f"错误回答 {m['wrong_answers']}"]
        traps, handled = m["unanswerable"], round(m["traps_handled"] * m["unanswerable"])
        if traps:
            parts.append("陷阱题全部拒答或纠正" if handled == traps else f"陷阱题拒答或纠正 {handled}/{traps}")
    else:  # span format (NCP/DRCD)
        right = round(m["containment"] * m["questions"])
        parts = [f"含标准答案 {right}/{m['questions']}（{m['containment']:.0%}）",
                 f"拒答 {round(m['refusal_rate'] * m['questions'])}"]
    parts.append(f"每题耗时中位数 {duration(m['latency_ms_p50'])}")
    return "，".join(parts)


def summary_lines(m: dict) -> list[str]:
    """The verdict, then every metric with its Chinese label and unit (the CLI's summary)."""
    lines = [verdict(m)]
    for key, value in m.items():
        if key == "by_kind":
            for kind, group in value.items():
                lines.append(f"  题型 {KINDS.get(kind, kind)}：{group['questions']} 题，答对比例 {shown('fact_accuracy', group['fact_accuracy'])}，"
                             f"陷阱题处理 {shown('traps_handled', group['traps_handled'])}，错误回答 {group['wrong_answers']}")
        else:
            lines.append(f"  {LABELS.get(key, (key, ''))[0]}：{shown(key, value)}")
    return lines


def write_report(out: Path, scored: list[Scored], m: dict, title: str) -> None:
    """answers.jsonl, metrics.json (keys unchanged) and report.html: the verdict, labelled bars, a
    time histogram in 毫秒/秒, the questions that went wrong first."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "answers.jsonl", "w", encoding="utf-8") as fh:
        for s in scored:
            fh.write(json.dumps({"id": s.item.get("id") or s.item.get("qid"), "outcome": s.outcome,
                                 **s.answer.model_dump()}, ensure_ascii=False) + "\n")
    (out / "metrics.json").write_text(json.dumps(m, ensure_ascii=False, indent=2))
    bars = [(k, v) for k, v in m.items() if LABELS.get(k, ("", ""))[1] == "share" and isinstance(v, float)]
    svg_bars = "".join(
        f'<text x="0" y="{22 * i + 15}">{html.escape(LABELS[k][0])}</text><rect x="250" y="{22 * i + 3}" '
        f'width="{300 * v:.0f}" height="16" fill="{"#c0392b" if "wrong" in k else "#2e86c1"}"/>'
        f'<text x="{255 + 300 * v:.0f}" y="{22 * i + 15}">{v:.1%}</text>'
        for i, (k, v) in enumerate(bars))
    rows = "".join(
        f'<tr><td>{html.escape(str(s.item.get("id") or s.item.get("qid")))}</td>'
        f'<td style="color:{_COLOUR.get(s.outcome, "#000")};font-weight:bold">{OUTCOMES.get(s.outcome, s.outcome)}</td>'
        f"<td>{html.escape(s.item['question'])}</td><td>{html.escape(s.answer.answer)}</td>"
        f"<td>{html.escape(_detail(s.detail))}</td>"
        f"<td>{'<br>'.join(html.escape(f'[{c.n}] {c.chunk_id}: {c.quote}') for c in s.answer.citations)}</td>"
        f"<td>{duration(s.answer.latency_ms)}</td></tr>"
        for s in sorted(scored, key=lambda s: (_ORDER.get(s.outcome, 9), str(s.item.get('id')))))
    figures = "".join(f"<tr><th>{html.escape(LABELS.get(k, (k, ''))[0])}</th><td>{html.escape(shown(k, v))}</td></tr>"
                      for k, v in m.items() if k != "by_kind")
    kinds = "".join(
        f"<tr><td>{html.escape(KINDS.get(kind, kind))}</td><td>{g['questions']}</td><td>{shown('fact_accuracy', g['fact_accuracy'])}</td>"
        f"<td>{shown('traps_handled', g['traps_handled'])}</td><td>{g['wrong_answers']}</td></tr>"
        for kind, g in m.get("by_kind", {}).items())
    by_kind = ("<h2>按题型</h2><table><tr><th>题型</th><th>题数</th><th>可答题答对比例</th><th>陷阱题拒答或纠正</th>"
               f"<th>错误回答</th></tr>{kinds}</table>") if kinds else ""
    page = f"""<!doctype html><html lang="zh"><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px;vertical-align:top;font-size:13px;text-align:left}}.verdict{{font-size:20px;font-weight:bold}}</style>
<h1>{html.escape(title)}</h1>
<p class="verdict">{html.escape(verdict(m))}</p>
<svg width="680" height="{22 * len(bars) + 10}" font-size="12">{svg_bars}</svg>
<h2>每题耗时分布</h2>{_histogram([s.answer.latency_ms for s in scored])}
<h2>逐题结果（有问题的在前）</h2>
<table><tr><th>编号</th><th>结果</th><th>问题</th><th>回答</th><th>说明</th><th>引用</th><th>耗时</th></tr>{rows}</table>
{by_kind}
<h2>全部指标</h2><table>{figures}</table>
<p>各指标的原始键名见同一文件夹的 metrics.json。</p></html>"""
    (out / "report.html").write_text(page, encoding="utf-8")


def _detail(detail: str) -> str:
    return detail.replace("missing: ", "缺少：")


def _histogram(values: list[float], bins: int = 12) -> str:
    """How many questions took how long: bars over time ranges, the axis in 毫秒 or 秒."""
    if not values:
        return ""
    lo, hi = min(values), max(values)
    width = (hi - lo) / bins or 1.0
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((v - lo) / width))] += 1
    top = max(counts)
    unit, scale = ("秒", 1000.0) if hi >= 1000 else ("毫秒", 1.0)
    bars = "".join(
        f'<rect x="{i * 48}" y="{120 - 100 * c / top:.0f}" width="44" height="{100 * c / top:.0f}" fill="#7d3c98"/>'
        f'<text x="{i * 48}" y="135" font-size="9">{(lo + i * width) / scale:.{1 if scale > 1 else 0}f}</text>'
        f'<text x="{i * 48 + 14}" y="{115 - 100 * c / top:.0f}" font-size="10">{c}</text>'
        for i, c in enumerate(counts))
    return (f'<svg width="{bins * 48 + 60}" height="160">{bars}<text x="0" y="155" font-size="11">'
            f'横轴：每题耗时（{unit}，各柱左端）；柱上数字：题数</text></svg>')
