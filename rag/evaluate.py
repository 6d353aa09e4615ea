"""Batch evaluation: run every question of an eval set and score it (``rag.report`` writes the run out).

Two formats are accepted, per line:
  PolicyQA facts  ``{"id", "question", "answerable": bool, "facts": [["alt1", "alt2"], ...]}``; a trap
                  (answerable false) may carry ``"corrects": [[...]]``: answering with that fact, i.e.
                  correcting the question's false premise, is as good as refusing; ``"kind"`` groups
                  items in the metrics (paraphrase, other-city, …)
  NCP/DRCD spans  ``{"qid", "question", "answers": [...]}`` (scored by containment and ROUGE-L)
  Conversations   ``{"id", "turns": [{"question", "answerable", "facts"}, ...]}``: each turn is asked
                  after the earlier ones (its ``history``) and scored like a facts item (``c01.2``)
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from rag.models import Answer
from rag.text.normalize import search_key


def fold(text: str) -> str:
    return "".join(search_key(text).split())


def has_fact(answer: str, alternatives: Iterable[str]) -> bool:
    folded = fold(answer)
    return any(fold(alt) in folded for alt in alternatives)


def rouge_l(candidate: str, reference: str) -> float:
    """Character-level ROUGE-L F1 (LCS), as the NCP task scored it."""
    a, b = fold(candidate), fold(reference)
    if not a or not b:
        return 0.0
    prev = [0] * (len(b) + 1)
    for ch in a:
        cur = [0]
        for j, bj in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if ch == bj else max(prev[j], cur[j - 1]))
        prev = cur
    lcs = prev[-1]
    if not lcs:
        return 0.0
    p, r = lcs / len(a), lcs / len(b)
    return 2 * p * r / (p + r)


@dataclass
class Scored:
    item: dict
    answer: Answer
    outcome: str  # correct | wrong | refused-ok | corrected (a trap's premise) | missed (refused an answerable one) | fabricated
    quotes_ok: int
    quotes: int
    detail: str


def score(item: dict, answer: Answer, doc_text: Callable[[str], str | None]) -> Scored:
    quotes_ok = sum(1 for c in answer.citations if (t := doc_text(c.docid)) is not None and t[c.start:c.end] == c.quote)
    if "answers" in item:  # span format: gold strings, all questions answerable
        gold = [g for g in item["answers"] if g.strip()]
        text = answer.answer + "\n" + "\n".join(c.quote for c in answer.citations)
        contained = any(fold(g) in fold(text) for g in gold)
        rl = max((rouge_l(answer.answer, g) for g in gold), default=0.0)
        outcome = "refused" if answer.refused else "correct" if contained else "partial"
        return Scored(item, answer, outcome, quotes_ok, len(answer.citations), f"ROUGE-L {rl:.2f}")
    # what the user is shown: the answer and the verified quotes it cites
    shown = answer.answer + "\n" + "\n".join(c.quote for c in answer.citations)
    if not item["answerable"]:
        corrects = item.get("corrects")
        outcome = ("refused-ok" if answer.refused else
                   "corrected" if corrects and all(has_fact(shown, f) for f in corrects) else "fabricated")
        return Scored(item, answer, outcome, quotes_ok, len(answer.citations), "")
    if answer.refused:
        return Scored(item, answer, "missed", quotes_ok, len(answer.citations), "")
    missing = [f[0] for f in item["facts"] if not has_fact(shown, f)]
    return Scored(item, answer, "wrong" if missing else "correct", quotes_ok, len(answer.citations),
                  ("missing: " + ", ".join(missing)) if missing else "")


def metrics(scored: list[Scored]) -> dict:
    lat = sorted(s.answer.latency_ms for s in scored)
    quotes = sum(s.quotes for s in scored)
    out: dict = {
        "questions": len(scored),
        "latency_ms_p50": percentile(lat, 0.5),
        "latency_ms_p95": percentile(lat, 0.95),
        "quotes_shown": quotes,
        "quotes_verbatim_share": (sum(s.quotes_ok for s in scored) / quotes) if quotes else 1.0,
        # quotes that also carry their place and wording in the file as extracted (indexes built
        # before edits were kept have none), and how many of those read differently there
        "quotes_located_in_original_share": (sum(c.orig_start is not None for s in scored for c in s.answer.citations)
                                             / quotes) if quotes else 1.0,
        "quotes_worded_differently_in_original": sum(c.original is not None and c.original != c.quote
                                                     for s in scored for c in s.answer.citations),
    }
    answered = [s for s in scored if not s.answer.refused]
    out["citation_coverage"] = (sum(1 for s in answered if s.answer.citations) / len(answered)) if answered else 1.0
    if scored and "answers" in scored[0].item:
        n = len(scored)
        out.update({
            "answered": len(answered),
            "containment": sum(s.outcome == "correct" for s in scored) / n,
            "rouge_l": statistics.fmean(float(s.detail.split()[-1]) for s in scored),
            "refusal_rate": sum(s.answer.refused for s in scored) / n,
        })
        return out
    answerable = [s for s in scored if s.item["answerable"]]
    unanswerable = [s for s in scored if not s.item["answerable"]]
    refused = [s for s in scored if s.answer.refused]
    wrong = [s for s in scored if s.outcome in ("wrong", "fabricated")]
    out.update({
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "fact_accuracy": sum(s.outcome == "correct" for s in answerable) / max(len(answerable), 1),
        "wrong_answers": len(wrong),
        "wrong_answer_rate": len(wrong) / max(len(answered), 1),
        "refusal_precision": sum(not s.item["answerable"] for s in refused) / max(len(refused), 1),
        "refusal_recall": sum(s.answer.refused for s in unanswerable) / max(len(unanswerable), 1),
        "traps_handled": sum(s.outcome in ("refused-ok", "corrected") for s in unanswerable) / max(len(unanswerable), 1),
    })
    follow_ups = [s for s in scored if s.item.get("turn", 1) > 1]
    if follow_ups:  # conversations: how many later turns were answered as a rewritten question
        out["follow_up_turns"] = len(follow_ups)
        out["follow_ups_rewritten"] = sum(s.answer.understood_as is not None for s in follow_ups)
    kinds = sorted({s.item["kind"] for s in scored if "kind" in s.item})
    if kinds:
        out["by_kind"] = {}
        for kind in kinds:
            group = [s for s in scored if s.item.get("kind") == kind]
            answerable_group = [s for s in group if s.item["answerable"]]
            traps = [s for s in group if not s.item["answerable"]]
            out["by_kind"][kind] = {
                "questions": len(group),
                "fact_accuracy": (sum(s.outcome == "correct" for s in answerable_group) / len(answerable_group)
                                  if answerable_group else None),
                "traps_handled": (sum(s.outcome in ("refused-ok", "corrected") for s in traps) / len(traps)
                                  if traps else None),
                "wrong_answers": sum(s.outcome in ("wrong", "fabricated") for s in group),
            }
    return out


def percentile(values: list[float], q: float) -> float:
    """The q-quantile of already sorted values (nearest rank), rounded to 0.1."""
    return round(values[min(len(values) - 1, int(len(values) * q))], 1) if values else 0.0


def load_eval_set(path: Path, limit: int | None = None) -> list[dict]:
    """Items to ask one by one; a conversation becomes its turns, each with the questions before it
    as ``history`` (``limit`` counts lines, so a conversation is never cut in half)."""
    with open(path, encoding="utf-8") as fh:
        lines = [json.loads(line) for line in fh if line.strip()]
    items = []
    for line in lines[:limit] if limit else lines:
        turns = line.get("turns")
        for i, item in enumerate(turns if isinstance(turns, list) else [line]):
            if "question" not in item or not ("facts" in item or "answers" in item):
                raise ValueError(f"{path}: each line (or turn) needs 'question' and 'facts' (+'answerable') or "
                                 "'answers'")
            if turns is not None:
                item = {"kind": "conversation", **item, "id": f"{line.get('id')}.{i + 1}", "turn": i + 1,
                        "history": [t["question"] for t in turns[:i]]}
            items.append(item)
    return items
