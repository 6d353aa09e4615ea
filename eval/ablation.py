"""What each named check earns: every eval set answered with all checks, then with each check off.

    python eval/ablation.py --run /tmp/idx-docs eval/policyqa_eval.jsonl eval/policyqa_hard.jsonl \
                            --run /tmp/idx-new eval/tuning_new_docs.jsonl

A check that refuses nothing wrong and answers nothing right on any set is not earning its keep. The
checks switched off are the answer-kind table (rag.answer.verify.KIND_CHECKS) and the non-answer
check (a heading that asks, the title, a bare document number). Extractive mode, in this process:
each set's questions are answered once per configuration. Prints one table (fact accuracy, wrong
answers, traps handled per set) with the change against all checks on.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import platform
import subprocess
from collections.abc import Iterator
from pathlib import Path

from rag.answer import verify
from rag.config import Settings
from rag.evaluate import load_eval_set, metrics, score
from rag.models import Answer
from rag.service import PolicyQA

log = logging.getLogger("ablation")


@contextlib.contextmanager
def without(check: str) -> Iterator[None]:
    """The verifier with one named check switched off (restored afterwards)."""
    kinds, non_answer = verify.KIND_CHECKS, verify.non_answer
    if check == "non-answer":
        verify.non_answer = lambda *a, **k: False  # type: ignore[assignment]
    else:
        verify.KIND_CHECKS = tuple(c for c in kinds if c.name != check)
    try:
        yield
    finally:
        verify.KIND_CHECKS, verify.non_answer = kinds, non_answer


def run_set(qa: PolicyQA, path: Path) -> dict:
    items = load_eval_set(path)
    store = qa.chain.retriever.store
    scored, replies = [], []
    for item in items:
        replies = replies if item.get("turn", 1) > 1 else []
        answer: Answer = qa.ask(item["question"], mode="extractive", history=item.get("history", ()),
                                history_answers=replies)
        replies = [*replies, answer.answer]
        scored.append(score(item, answer, lambda d: (doc.text if (doc := store.document(d)) else None)))
    m = metrics(scored)
    return {"facts": m["fact_accuracy"], "wrong": m["wrong_answers"], "traps": m["traps_handled"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", nargs="+", action="append", required=True, metavar="INDEX SET",
                        help="an index folder, then the eval sets to answer over it (repeatable)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    cpu = subprocess.run(["sh", "-c", "lscpu | grep 'Model name' | sed 's/.*: *//'"], capture_output=True,
                         text=True).stdout.strip() or platform.processor()
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    groups = [(Path(run[0]), [Path(p) for p in run[1:]]) for run in args.run]
    configs = ["(all checks)", "non-answer", *[c.name for c in verify.KIND_CHECKS]]
    results: dict[str, dict[str, dict]] = {c: {} for c in configs}
    for index, sets in groups:
        qa = PolicyQA.open(index, Settings(index_dir=index))
        try:
            for config in configs:
                with contextlib.nullcontext() if config == "(all checks)" else without(config):
                    for path in sets:
                        results[config][path.stem] = run_set(qa, path)
                log.warning("%s done", config)
        finally:
            qa.close()
    base = results["(all checks)"]
    names = list(base)
    print(f"# ablation (extractive) · CPU {cpu} · load {' '.join(load)}")
    print("| check off | " + " | ".join(f"{n} facts / wrong / traps" for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for config in configs:
        cells = []
        for n in names:
            r, b = results[config][n], base[n]
            delta = "" if config == "(all checks)" else f" ({r['facts'] - b['facts']:+.3f} / {r['wrong'] - b['wrong']:+d})"
            cells.append(f"{r['facts']:.3f} / {r['wrong']} / {r['traps']:.3f}{delta}")
        print(f"| {config} | " + " | ".join(cells) + " |")
    Path("eval/runs").mkdir(parents=True, exist_ok=True)
    Path("eval/runs/ablation.json").write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
