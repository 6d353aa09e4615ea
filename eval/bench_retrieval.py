"""Retrieval benchmark: PolicyQA against the plain recipes, side by side in one run.

    python eval/bench_retrieval.py --dataset ncp --dataset drcd [--news 10000] [--limit N]

Systems, all searching the whole corpus for every question:
  policyqa   the product: structure-aware chunks, character-bigram BM25 + dense (e5-small),
             fused by normalised scores (and the same index fused with RRF, as an ablation)
  plain      fixed 300-char windows, 50 overlap, same embedding model, FAISS (the LangChain tutorial)
  bm25       BM25 alone over the same windows (jieba on OpenCC-simplified text)
  plain+rrf  naive RRF of the two baselines above

Metrics: doc hit@1/@5 (a duplicate document's text counts as a hit), answer-in-passage hit@5
(the gold span, whitespace removed, inside a returned passage), MRR@10 over documents, and query
latency p50/p95. Also index throughput against the raw embedder on the same texts, the cost of
re-indexing an unchanged corpus, and (``--news N``) the same questions with N news distractors added.
Vectors of the baselines are cached under eval/runs/cache so reruns only pay for what changed.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.config import Settings  # noqa: E402
from rag.embed import Embedder, load_embedder  # noqa: E402
from rag.index import embed_text  # noqa: E402
from rag.index.build import update_index  # noqa: E402
from rag.index.keyword import KeywordIndex  # noqa: E402
from rag.text.words import tokenize  # noqa: E402
from rag.index.vectors import FaissIndex  # noqa: E402
from rag.text.normalize import search_key, to_simplified  # noqa: E402
from rag.retrieve import Retriever  # noqa: E402
from rag.retrieve.fusion import rrf  # noqa: E402

SHARED = ROOT.parent / "shared" / "bench"
RUNS = ROOT / "eval" / "runs"
log = logging.getLogger("bench")


@dataclass
class Passage:
    docid: str
    text: str


@dataclass
class Result:
    name: str
    doc1: list[float] = field(default_factory=list)
    doc5: list[float] = field(default_factory=list)
    ans5: list[float] = field(default_factory=list)
    mrr: list[float] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)

    def row(self) -> dict[str, float]:
        ms = sorted(self.ms)
        return {"doc@1": _mean(self.doc1), "doc@5": _mean(self.doc5), "answer@5": _mean(self.ans5),
                "MRR@10": _mean(self.mrr), "p50 ms": ms[len(ms) // 2] if ms else 0.0,
                "p95 ms": ms[int(len(ms) * 0.95)] if ms else 0.0, "n": len(self.doc1)}


def _mean(xs: list[float]) -> float:
    return float(np.mean(xs)) if xs else 0.0


def _fold(text: str) -> str:
    return search_key("".join(text.split()))


def load_dataset(name: str, limit: int | None) -> tuple[dict[str, str], list[dict]]:
    folder = SHARED / name
    corpus = {}
    with open(folder / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            corpus[str(rec["docid"])] = rec["text"]
    with open(folder / "dev.jsonl", encoding="utf-8") as fh:
        questions = [json.loads(line) for line in fh if line.strip()]
    return corpus, questions[:limit] if limit else questions


def duplicate_groups(corpus: dict[str, str]) -> dict[str, str]:
    """docid -> canonical docid of its text (NCP has duplicate documents under other ids)."""
    first: dict[str, str] = {}
    return {d: first.setdefault(hashlib.sha1(_fold(t).encode()).hexdigest(), d) for d, t in corpus.items()}


def windows(corpus: dict[str, str], size: int = 300, overlap: int = 50) -> list[Passage]:
    out = []
    for docid, text in corpus.items():
        step = size - overlap
        for start in range(0, max(len(text) - overlap, 1), step):
            out.append(Passage(docid, text[start:start + size]))
    return out


def cached_vectors(embedder: Embedder, texts: list[str], tag: str) -> tuple[np.ndarray, float]:
    """Embed texts (or load them from cache); returns vectors and the seconds the embedding took."""
    key = hashlib.sha1((embedder.name + "\x00" + "\x01".join(texts)).encode()).hexdigest()[:16]
    path = RUNS / "cache" / f"{tag}-{key}.npy"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        return np.load(path), json.loads(meta.read_text())["seconds"]
    started = time.perf_counter()
    parts = [embedder.embed_passages(texts[i:i + 32]) for i in range(0, len(texts), 32)]
    seconds = time.perf_counter() - started
    vectors = np.vstack(parts) if parts else np.zeros((0, embedder.dim), np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    meta.write_text(json.dumps({"seconds": seconds, "n": len(texts)}))
    return vectors, seconds


class Baselines:
    """The plain recipes over fixed windows: dense (FAISS), BM25, and their naive RRF."""

    def __init__(self, corpus: dict[str, str], embedder: Embedder, tag: str) -> None:
        self.passages = windows(corpus)
        self.embedder = embedder
        vectors, self.embed_seconds = cached_vectors(embedder, [p.text for p in self.passages], f"{tag}-plain")
        ids = np.arange(len(self.passages), dtype=np.int64)
        self.dense = FaissIndex.build(ids, vectors, embedder.dim, ann_threshold=10**9)
        self.bm25 = KeywordIndex.build([(i, " ".join(tokenize(to_simplified(p.text)))) for i, p in enumerate(self.passages)],
                                        k1=1.5, b=0.75)  # bm25s's defaults: the plain recipe

    def search_dense(self, q: str, k: int) -> list[int]:
        return [i for i, _ in self.dense.search(self.embedder.embed_queries([q])[0], k)]

    def search_bm25(self, q: str, k: int) -> list[int]:
        return [i for i, _ in self.bm25.search(tokenize(to_simplified(q)), k)]

    def search_rrf(self, q: str, k: int) -> list[int]:
        fused = rrf({"bm25": self.search_bm25(q, 50), "dense": self.search_dense(q, 50)})
        return [i for i, _, _ in fused[:k]]


def evaluate(name: str, questions: list[dict], search: Callable[[str], list[Passage]], canon: dict[str, str],
             question_key: Callable[[str], str] = lambda q: q) -> Result:
    result = Result(name)
    for q in questions:
        question = question_key(q["question"])
        started = time.perf_counter()
        passages = search(question)
        result.ms.append((time.perf_counter() - started) * 1000)
        gold = canon.get(q["docid"], q["docid"])
        docs = []
        for p in passages:
            c = canon.get(p.docid, p.docid)
            if c not in docs:
                docs.append(c)
        rank = docs.index(gold) + 1 if gold in docs[:10] else 0
        result.doc1.append(float(rank == 1))
        result.doc5.append(float(0 < rank <= 5))
        result.mrr.append(1.0 / rank if rank else 0.0)
        answers = [_fold(a) for a in q.get("answers", []) if a.strip()]
        result.ans5.append(float(any(a in _fold(p.text) for p in passages[:5] for a in answers)))
    return result


def policyqa_search(retriever: Retriever, k: int = 10) -> Callable[[str], list[Passage]]:
    return lambda q: [Passage(h.chunk.docid, h.chunk.text) for h in retriever.search(q, k=k)]


def baseline_search(b: Baselines, method: str, k: int = 10) -> Callable[[str], list[Passage]]:
    fn = {"plain": b.search_dense, "bm25": b.search_bm25, "plain+rrf": b.search_rrf}[method]
    return lambda q: [b.passages[i] for i in fn(q, k)]


def seed_vectors(folder: Path, model: str) -> int:
    """Copy vectors of the same model from the other benchmark indexes into ``folder``'s store.

    Vectors are keyed by a hash of model + embedded text, so this is a cache, not a shortcut in the
    product: chunks whose text is new are still embedded. It keeps reruns with other chunk sizes
    or news counts from re-embedding thousands of unchanged texts. Not used with ``--fresh``.
    """
    import sqlite3

    folder.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(folder / "store.sqlite")
    db.execute("CREATE TABLE IF NOT EXISTS vectors(embed_hash TEXT PRIMARY KEY, vector BLOB NOT NULL)")
    before = db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
    for other in sorted(RUNS.glob("index-*/store.sqlite")):
        if other.parent == folder:
            continue
        db.execute("ATTACH DATABASE ? AS other", (str(other),))
        same = db.execute("SELECT value FROM other.meta WHERE key='embedding_model'").fetchone()
        if same and same[0] == model:
            db.execute("INSERT OR IGNORE INTO vectors SELECT embed_hash, vector FROM other.vectors")
        db.commit()
        db.execute("DETACH DATABASE other")
    seeded = db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0] - before
    db.close()
    return seeded


def build_policyqa(corpus_file: Path, tag: str, settings: Settings, embedder: Embedder,
                   extra: list[Path] = (), fresh: bool = False) -> dict:
    folder = RUNS / f"index-{tag}-c{settings.chunk_max_chars}"
    if fresh:
        shutil.rmtree(folder, ignore_errors=True)
    elif seeded := seed_vectors(folder, embedder.name):
        print(f"  [{tag}] {seeded} cached vectors reused from other benchmark indexes", file=sys.stderr)
    s = settings.model_copy(update={"index_dir": folder})
    def progress(kind: str, done: int, total: int) -> None:
        if kind == "chunks" and done % 512 < 32:
            print(f"  [{tag}] {done} chunks embedded", file=sys.stderr, flush=True)

    full = update_index(s, [corpus_file, *extra], embedder, progress=progress)
    again = update_index(s, [corpus_file, *extra], embedder)
    return {"settings": s, "chunks": full.totals.get("chunks", 0), "build_s": full.seconds,
            "embedded": full.chunks_embedded, "embed_s": full.embed_seconds, "reindex_s": again.seconds}


def news_file(n: int, max_chars: int) -> Path:
    """The first ``n`` news articles (each cut to ``max_chars``) as a JSONL corpus of distractors."""
    path = RUNS / "cache" / f"news-{n}-{max_chars}.jsonl"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(SHARED / "news" / "corpus.jsonl.gz", "rt", encoding="utf-8") as src, open(path, "w", encoding="utf-8") as out:
            for i, line in zip(range(n), src):
                rec = json.loads(line)
                out.write(json.dumps({"docid": f"news-{i}", "text": rec["text"][:max_chars]}, ensure_ascii=False) + "\n")
    return path


def raw_embedder_rate(retriever: Retriever, embedder: Embedder, n: int = 256) -> float:
    """Chunks/s of the bare embedder on an evenly spaced sample of exactly the texts the index
    embedded (title + section + text), in batches of 32 like the build. Evenly spaced, not the
    first n: a corpus's first chunks can be shorter than its average (DRCD: 323 vs 349 chars)."""
    ids = [r[0] for r in retriever.store.db.execute("SELECT id FROM chunks ORDER BY id")]
    stored = retriever.store.chunks_by_id(ids[:: max(1, len(ids) // n)][:n])
    sample = [embed_text(c.title, c.chunk.section, c.chunk.text) for c in stored.values()]
    started = time.perf_counter()
    for i in range(0, len(sample), 32):
        embedder.embed_passages(sample[i:i + 32])
    return len(sample) / (time.perf_counter() - started)


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n## {title}\n")
    cols = ["system", "doc@1", "doc@5", "answer@5", "MRR@10", "p50 ms", "p95 ms", "n"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        cells = [r["system"]] + [f"{r[c]:.3f}" if c.startswith(("doc", "ans", "MRR")) else f"{r[c]:.0f}" for c in cols[1:]]
        print("| " + " | ".join(cells) + " |")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", action="append", choices=["ncp", "drcd"], help="default: both")
    parser.add_argument("--limit", type=int, help="only the first N questions of each set")
    parser.add_argument("--news", type=int, default=0, help="also run with N news distractor documents added")
    parser.add_argument("--news-chars", type=int, default=360, help="characters kept of each news article")
    parser.add_argument("--no-baselines", action="store_true")
    parser.add_argument("--rerank", type=int, default=0, metavar="N",
                        help="also measure LLM-judge reranking on the first N questions of each set")
    parser.add_argument("--fresh", action="append", default=[], choices=["ncp", "drcd"],
                        help="rebuild this dataset's PolicyQA index from nothing (for the throughput figures); "
                        "by default vectors cached by earlier runs are reused")
    parser.add_argument("--out", type=Path, default=RUNS / "bench-retrieval.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not SHARED.exists():
        sys.exit(f"benchmark data not found at {SHARED} (../shared beside the checkout)")
    settings = Settings()
    embedder = load_embedder(settings.embedding_model, settings.embed_threads)
    report: dict = {"machine": {"cpus": os.cpu_count(), "load": os.getloadavg()}, "datasets": {}}
    print(f"# Retrieval benchmark ({embedder.name}; load average at start {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs)")
    for name in args.dataset or ["ncp", "drcd"]:
        corpus, questions = load_dataset(name, args.limit)
        canon = duplicate_groups(corpus)
        built = build_policyqa(SHARED / name / "corpus.jsonl", name, settings, embedder, fresh=name in args.fresh)
        retriever = Retriever.open(built["settings"], embedder)
        rrf_retriever = Retriever.open(built["settings"].model_copy(update={"fusion": "rrf"}), embedder)
        variants = [("", lambda q: q)]
        if name == "drcd":
            variants = [(" (questions in simplified)", to_simplified), (" (questions as written, traditional)", lambda q: q)]
        rows = []
        baselines = None if args.no_baselines else Baselines(corpus, embedder, name)
        for label, key in variants:
            results = [evaluate("policyqa", questions, policyqa_search(retriever), canon, key),
                       evaluate("policyqa, RRF fusion", questions, policyqa_search(rrf_retriever), canon, key)]
            if baselines:
                results += [evaluate(m, questions, baseline_search(baselines, m), canon, key) for m in ("plain", "bm25", "plain+rrf")]
            table = [{"system": r.name, **r.row()} for r in results]
            print_table(f"{name}{label}: {len(corpus)} documents, {len(questions)} questions", table)
            rows.append({"variant": label.strip(" ()") or "as written", "table": table})
        if args.rerank:
            # the LLM judge on the first N questions only: ~1 s per candidate on 2 cores
            reranking = Retriever.open(built["settings"].model_copy(update={"rerank": True}), embedder)
            subset, key = questions[:args.rerank], variants[0][1]
            results = [evaluate("policyqa", subset, policyqa_search(retriever), canon, key),
                       evaluate(f"policyqa + LLM judge (top {settings.rerank_candidates})", subset,
                                policyqa_search(reranking), canon, key)]
            table = [{"system": r.name, **r.row()} for r in results]
            print_table(f"{name}{variants[0][0]}: reranking, first {len(subset)} questions", table)
            rows.append({"variant": "rerank", "table": table})
        raw_rate = raw_embedder_rate(retriever, embedder)
        throughput = {
            "fresh_build": name in args.fresh,  # without --fresh, cached vectors make the build times meaningless
            "chunks": built["chunks"], "full_build_s": round(built["build_s"], 1),
            "index_chunks_per_s": round(built["embedded"] / built["build_s"], 2) if built["embedded"] else None,
            "embedder_chunks_per_s_in_build": round(built["embedded"] / built["embed_s"], 2) if built["embedded"] else None,
            "raw_embedder_chunks_per_s": round(raw_rate, 2),
            "reindex_unchanged_s": round(built["reindex_s"], 2),
            "reindex_share_of_full": round(built["reindex_s"] / built["build_s"], 4),
        }
        print(f"\nindexing {name}: {json.dumps(throughput)}")
        if baselines:
            print(f"plain windows: {len(baselines.passages)} embedded in {baselines.embed_seconds:.0f}s "
                  f"({len(baselines.passages) / max(baselines.embed_seconds, 1e-9):.1f}/s)")
        report["datasets"][name] = {"results": rows, "indexing": throughput}
        if args.news:
            news = news_file(args.news, args.news_chars)
            scaled = build_policyqa(SHARED / name / "corpus.jsonl", f"{name}-news{args.news}", settings, embedder, [news])
            r2 = Retriever.open(scaled["settings"], embedder)
            key = variants[0][1]
            res = evaluate("policyqa", questions, policyqa_search(r2), canon, key)
            table = [{"system": f"policyqa (+{args.news} news docs, {scaled['chunks']} chunks)", **res.row()},
                     {"system": f"policyqa ({built['chunks']} chunks)", **rows[0]["table"][0]}]
            table[1].pop("system", None)
            table[1]["system"] = f"policyqa ({built['chunks']} chunks)"
            print_table(f"{name}{variants[0][0]} with news distractors", table)
            report["datasets"][name]["news"] = {"table": table, "build_s": scaled["build_s"]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=2))
    print(f"\nwritten {args.out}")


if __name__ == "__main__":
    main()
