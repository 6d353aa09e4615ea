"""Library-scale benchmark: NCP questions over NCP + the news distractors, embedded store vs Milvus.

    python eval/bench_scale.py [--news-limit N] [--limit Q] [--stores sqlite milvus]

For each store, in one run on one machine, through the real CLI (each step its own process, so
its peak RSS is its own):
  1. ``policyqa index --jsonl ncp`` — NCP indexed and embedded (the measured embedding rate)
  2. NCP questions over NCP alone (dense complete): the quality to stay within 2 points of
  3. ``policyqa index --keyword-only --jsonl news`` — all news keyword-searchable: the time
     until a library of that size can be asked, RSS, disk
  4. NCP questions over NCP + news with NCP embedded and news keyword-only (the state during the
     background embedding stage), and keyword-only throughout (dense weight 0)
  5. the time until the news is embedded too, projected from step 1's measured rate (embedding
     all news with e5-small on 2 cores takes hours; say so rather than guess)
Also: the FAISS path's dense search cost at the full size, with random unit vectors standing in
for the news vectors (the search cost depends on the count, not on the values).

Metrics as eval/bench_retrieval.py: doc@1/@5 (duplicates count as hits), answer@5, MRR@10,
query p50/p95 (search only, including the question's embedding), the serving process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "eval"))

from bench_retrieval import SHARED, duplicate_groups, evaluate, load_dataset, policyqa_search  # noqa: E402

RUNS = ROOT / "eval" / "runs" / "scale"


def _env(store: str, folder: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "POLICYQA_INDEX_DIR": str(folder), "POLICYQA_STORE": store}
    if store == "milvus":
        env["POLICYQA_MILVUS_URI"] = str(folder / "milvus.db")
    return {**env, **extra}


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run a step; its wall seconds, its peak RSS in MB, and its output."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out_lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        out_lines.append(line)
        print(f"    {line.rstrip()}", file=sys.stderr, flush=True)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"step failed ({proc.returncode}): {' '.join(cmd)}")
    return time.perf_counter() - started, usage.ru_maxrss / 1024, "".join(out_lines)


def _du_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def _status(env: dict[str, str]) -> dict:
    out = subprocess.run([sys.executable, "-m", "rag.cli", "status", "--json"], env=env, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout)


def _evaluate(env: dict[str, str], label: str, limit: int | None) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--evaluate", label] + (["--limit", str(limit)] if limit else [])
    _, rss, out = _run(cmd, env)
    row = json.loads(out.strip().splitlines()[-1])
    row["serving RSS MB"] = rss
    return row


def evaluate_here(label: str, limit: int | None) -> None:
    """(In a child process.) Open the index the environment names and score the NCP questions."""
    from rag.config import Settings
    from rag.retrieve import Retriever

    corpus, questions = load_dataset("ncp", limit)
    retriever = Retriever.open(Settings())
    retriever.search(questions[0]["question"])  # warm: first-query costs are not the steady state
    row = evaluate(label, questions, policyqa_search(retriever), duplicate_groups(corpus)).row()
    print(json.dumps({"system": label, **row}))


def faiss_at_size(n: int, dim: int = 384, queries: int = 200) -> dict:
    """Dense search cost of the embedded path at ``n`` vectors (flat inner product below
    ann_threshold, as the product builds it)."""
    from rag.config import Settings
    from rag.index.vectors import FaissIndex

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = FaissIndex.build(np.arange(n, dtype=np.int64), vectors, dim, Settings().ann_threshold)
    times = []
    for q in vectors[rng.integers(0, n, queries)]:
        started = time.perf_counter()
        index.search(q, 50)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"vectors": n, "kind": index.kind, "p50 ms": times[len(times) // 2], "p95 ms": times[int(len(times) * 0.95)]}


def news_subset(n: int | None) -> Path:
    src = SHARED / "news" / "corpus.jsonl.gz"
    if not n:
        return src
    import gzip

    path = RUNS / f"news-{n}.jsonl.gz"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(src, "rt", encoding="utf-8") as fin, gzip.open(path, "wt", encoding="utf-8") as fout:
            for _, line in zip(range(n), fin):
                fout.write(line)
    return path


def bench_store(store: str, news: Path, limit: int | None) -> dict:
    folder = RUNS / f"index-{store}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    env = _env(store, folder)
    cli = [sys.executable, "-m", "rag.cli"]
    print(f"\n[{store}] 1. NCP indexed and embedded", file=sys.stderr, flush=True)
    ncp_s, ncp_rss, out = _run([*cli, "index", "--jsonl", str(SHARED / "ncp" / "corpus.jsonl")], env)
    rate = float(re.search(r"embedder ([\d.]+) chunks/s", out).group(1))
    ncp_chunks = _status(env)["chunks"]
    print(f"[{store}] 2. NCP alone", file=sys.stderr, flush=True)
    alone = _evaluate(env, f"{store}: NCP alone, dense complete", limit)
    print(f"[{store}] 3. news keyword-only", file=sys.stderr, flush=True)
    news_s, news_rss, _ = _run([*cli, "index", "--keyword-only", "--jsonl", str(news)], env)
    status = _status(env)
    print(f"[{store}] 4. NCP + news", file=sys.stderr, flush=True)
    partial = _evaluate(env, f"{store}: NCP+news, NCP dense, news keyword-only", limit)
    keyword = _evaluate(_env(store, folder, POLICYQA_DENSE_WEIGHT="0"), f"{store}: NCP+news, keyword-only", limit)
    waiting = status["chunks"] - status["embedded_chunks"]
    return {
        "store": store, "ncp_chunks": ncp_chunks, "ncp_index_s": ncp_s, "ncp_index_rss_mb": ncp_rss,
        "embed_rate": rate, "news_chunks": status["chunks"] - ncp_chunks, "total_chunks": status["chunks"],
        "keyword_searchable_s": news_s, "keyword_index_rss_mb": news_rss, "disk_mb": _du_mb(folder),
        "waiting_for_vectors": waiting, "projected_embed_h": waiting / rate / 3600 if rate else None,
        "rows": [alone, partial, keyword],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", nargs="+", default=["sqlite", "milvus"], choices=["sqlite", "milvus"])
    parser.add_argument("--news-limit", type=int, help="only the first N news articles (default: all 63,668)")
    parser.add_argument("--limit", type=int, help="only the first N NCP questions")
    parser.add_argument("--evaluate", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.evaluate:
        evaluate_here(args.evaluate, args.limit)
        return
    if not (SHARED / "news" / "corpus.jsonl.gz").exists():
        raise SystemExit(f"{SHARED} not found: this benchmark reads ../shared/bench (see its README)")
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"# Scale benchmark — {os.cpu_count()} CPUs, {cpu}\n")
    news = news_subset(args.news_limit)
    results = [bench_store(store, news, args.limit) for store in args.stores]
    print("| store | chunks (NCP + news) | keyword-searchable (news step) | its peak RSS | disk | "
          "NCP embed rate | vectors still to compute | projected time to embed them |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['store']} | {r['total_chunks']} ({r['ncp_chunks']} + {r['news_chunks']}) | "
              f"{r['keyword_searchable_s']:.0f} s ({r['news_chunks'] / r['keyword_searchable_s']:.0f} chunks/s) | "
              f"{r['keyword_index_rss_mb']:.0f} MB | {r['disk_mb']:.0f} MB | {r['embed_rate']:.1f} chunks/s | "
              f"{r['waiting_for_vectors']} | {r['projected_embed_h']:.1f} h (projected) |")
    cols = ["doc@1", "doc@5", "answer@5", "MRR@10", "p50 ms", "p95 ms", "serving RSS MB", "n"]
    print("\n| system | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for r in results:
        for row in r["rows"]:
            cells = [f"{row[c]:.3f}" if c.startswith(("doc", "ans", "MRR")) else f"{row[c]:.0f}" for c in cols]
            print(f"| {row['system']} | " + " | ".join(cells) + " |")
    total = max(r["total_chunks"] for r in results)
    f = faiss_at_size(total)
    print(f"\nFAISS dense search at {f['vectors']} vectors ({f['kind']}, random unit vectors): "
          f"p50 {f['p50 ms']:.1f} ms, p95 {f['p95 ms']:.1f} ms")
    print(f"(bench process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")
    RUNS.mkdir(parents=True, exist_ok=True)
    (RUNS / "results.json").write_text(json.dumps({"results": results, "faiss": f}, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
