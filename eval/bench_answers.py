"""Answers and their speed, this checkout beside an earlier one ("today's rules"), in one run.

    python eval/bench_answers.py                                   # extractive, the default sets
    python eval/bench_answers.py --mode llm --sets eval/blind_new_docs.jsonl
    python eval/bench_answers.py --baseline f7fff27 --sets eval/policyqa_hard.jsonl

Each side gets its own index of docs/ and eval/corpus (an earlier version may normalise text
differently) and answers every question of every set through `policyqa eval`, on this machine, one
side after the other. Prints fact accuracy, wrong answers, traps handled and latency (p50/p95;
first token in LLM mode) per set and side, with the CPU model and the load average: numbers from a
shared or another machine are not comparable.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The answer layer before the round that added places at every level and the named checks.
BASELINE = "b839086"
SETS = ["eval/blind_new_docs.jsonl", "eval/blind3_new_docs.jsonl", "eval/blind6_new_docs.jsonl",
        "eval/blind_new_docs_conversations.jsonl", "eval/blind3_new_docs_conversations.jsonl",
        "eval/blind6_new_docs_conversations.jsonl"]
FOLDERS = ["docs", "eval/corpus/blind", "eval/corpus/tuning", "eval/corpus/dev2", "eval/corpus/blind3", "eval/corpus/dev4",
           "eval/corpus/dev5", "eval/corpus/blind6"]


def _cpu() -> str:
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    return next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")), "?")


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _run(code: Path, args: list[str], index: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(code), "POLICYQA_INDEX_DIR": str(index), "HF_HUB_OFFLINE": "1"}
    subprocess.run([sys.executable, "-m", "rag.cli", *args], cwd=code, env=env, check=True,
                   stdout=subprocess.DEVNULL)


def side(name: str, code: Path, work: Path, sets: list[str], mode: str) -> dict[str, dict]:
    """Index the corpus with ``code`` and answer every set; the metrics of each set."""
    index = work / f"index-{name}"
    _run(code, ["index", "--rebuild", *[str(ROOT / f) for f in FOLDERS]], index)  # the same documents for both
    out = {}
    for s in sets:
        run = work / f"{name}-{Path(s).stem}"
        _run(code, ["eval", str(ROOT / s), "--out", str(run), "--mode", mode], index)
        out[s] = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", default=BASELINE, help=f"commit to compare with (default {BASELINE})")
    parser.add_argument("--sets", nargs="+", default=SETS)
    parser.add_argument("--mode", default="extractive", choices=["extractive", "llm"])
    args = parser.parse_args()
    print(f"# bench_answers · mode {args.mode} · CPU {_cpu()} · load at start {_load()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-answers-") as tmp:
        work = Path(tmp)
        base = work / "baseline"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(base), args.baseline], cwd=ROOT, check=True)
        try:
            results = {"baseline " + args.baseline: side("baseline", base, work, args.sets, args.mode),
                       "this checkout": side("now", ROOT, work, args.sets, args.mode)}
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, check=False)
    print(f"load at end {_load()}")
    first = " / first token p50" if args.mode == "llm" else ""
    print(f"| set | code | facts | wrong | traps handled | latency p50 / p95 (ms){first} |")
    print("|---|---|---|---|---|---|")
    for s in args.sets:
        for name, by_set in results.items():
            m = by_set[s]
            token = f" / {m['first_token_ms_p50']:.0f}" if "first_token_ms_p50" in m else ""
            print(f"| {Path(s).stem} | {name} | {m['fact_accuracy']:.3f} | {m['wrong_answers']} | "
                  f"{m['traps_handled']:.3f} | {m['latency_ms_p50']:.0f} / {m['latency_ms_p95']:.0f}{token} |")


if __name__ == "__main__":
    main()
