"""NCP held-out questions answered end to end: PolicyQA's answers beside a plain top-1 passage, in one run.

    python eval/bench_ncp_answers.py [--index DIR [--reuse]] [--offset N] [--limit N] [--out FILE]

Held out: the last 150 questions of ``../shared/bench/ncp/dev.jsonl`` by file order (``--offset``
moves the start, ``--limit`` caps the count). The first 200 were used by eval/bench_scale.py and
eval/bench_retrieval.py runs; do not move ``--offset`` below 200 and call the result held out.

The 599 NCP documents are indexed into ``--index`` (default: a temporary folder) with the packaged
embedder, as ``policyqa index --jsonl`` does; ``--reuse`` keeps what the folder already holds and
only brings it up to date (an unchanged corpus costs seconds, not the minutes of embedding).

Systems, both over the same index:
  policyqa   ``PolicyQA.ask`` in extractive mode (the default; Settings as the environment sets
             them), its citations scored
  top-1      the retriever's first passage (``Retriever.search``, opened as PolicyQA's own) "quoted"
             whole as the answer: what a plain RAG chain without verification shows; it never refuses

Scores per system (a duplicate document's text counts as the gold document; gold spans and quotes
are compared with whitespace removed and widths/scripts folded, as eval/bench_retrieval.py does):
  gold quoted       a citation from the gold document whose quote overlaps a gold span: the quote lies
                    inside the span, the span inside the quote, or they share a sentence of >= 10 chars
  other docs only   not refused, and no citation is from the gold document (every citation is from
                    another document: the answer points the reader elsewhere); in brackets, those
                    whose quote overlaps a gold span all the same (the gold words from another
                    document: a republished copy that is not an exact duplicate, a news item)
  refused           the answer is a refusal
  gold doc cited    some citation is from the gold document, whatever it quotes
  latency p50/p95   wall time of the call (the whole ask; the search alone for top-1)
Every answer is written to ``--out`` with its scores, so failures can be read one by one.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "eval"))

from bench_answers import _cpu, _load
from bench_retrieval import RUNS, SHARED, _fold, duplicate_groups, load_dataset

from rag.evaluate import percentile

HELD_OUT = 150
#: Asked first by each system, not scored: first-call costs are not the steady state.
WARM_UP = "疫情期间企业可以申请哪些补贴？"
#: Sentence ends inside a gold span or a quote (NCP's paragraphs are flattened into one line).
SENTENCE_END = re.compile(r"[。！？；!?;]")
#: The same after folding (。 folds to "."): a quote is cut before its sentence's end mark, a gold
#: span often ends with one; neither end mark is text to match.
FOLDED_END = ".!?;"
MIN_SHARED_SENTENCE = 10
log = logging.getLogger("bench_ncp_answers")


@dataclass(frozen=True)
class Reply:
    """What one system answered: its quotes, whether it refused (and which check refused), its text."""

    quotes: list[Quote]
    refused: bool
    text: str
    refused_by: str | None = None


@dataclass(frozen=True)
class Quote:
    """One citation as scored: the document it is from and the text it shows."""

    docid: str
    text: str


def sentences(text: str) -> list[str]:
    """Folded sentences of ``text``, without their end marks, with at least MIN_SHARED_SENTENCE
    characters (split before folding: folding turns 。 into ".", which decimals use too)."""
    return [f for s in SENTENCE_END.split(text) if len(f := _fold(s)) >= MIN_SHARED_SENTENCE]


def overlaps(quote: str, span: str) -> bool:
    """The quote lies inside the gold span, the span inside the quote, or they share a sentence."""
    q, g = _fold(quote).strip(FOLDED_END), _fold(span).strip(FOLDED_END)
    if not q or not g:
        return False
    if q in g or g in q:
        return True
    return any(s in g for s in sentences(quote)) or any(s in q for s in sentences(span))


def score_answer(quotes: Iterable[Quote], refused: bool, gold_docid: str, gold_spans: Iterable[str],
                 canon: dict[str, str]) -> dict[str, bool]:
    """The four yes/no scores of one answer (see the module docstring); ``canon`` maps a docid
    to the docid standing for its text (duplicates share one)."""
    gold = canon.get(gold_docid, gold_docid)
    spans = [s for s in gold_spans if s.strip()]
    from_gold = [q for q in quotes if canon.get(q.docid, q.docid) == gold]
    return {
        "gold_quoted": any(overlaps(q.text, s) for q in from_gold for s in spans),
        "other_docs_only": not refused and not from_gold,
        # of those, the ones quoting the gold words from another document: a republished copy of
        # the gold notice that is not an exact duplicate, or a news item quoting it
        "other_docs_gold_words": not refused and not from_gold and any(
            overlaps(q.text, s) for q in quotes for s in spans),
        "refused": refused,
        "gold_doc_cited": bool(from_gold),
    }


def held_out(questions: list[dict], offset: int | None, limit: int | None) -> list[dict]:
    start = len(questions) - HELD_OUT if offset is None else offset
    chosen = questions[start:]
    return chosen[:limit] if limit else chosen


def build_index(corpus_file: Path, folder: Path, reuse: bool):
    """Index the corpus into ``folder`` as ``policyqa index --jsonl`` does; the opened PolicyQA."""
    from rag.config import Settings
    from rag.embed import embedder_for
    from rag.index.build import update_index
    from rag.service import PolicyQA

    if not reuse and folder.exists() and any(folder.iterdir()):
        sys.exit(f"index folder {folder} is not empty: pass --reuse to keep and update what it holds, "
                 "or name an empty or new folder")
    settings = Settings().model_copy(update={"index_dir": folder})
    embedder = embedder_for(settings)
    last = [0.0]

    def progress(kind: str, done: int, total: int) -> None:
        now = time.monotonic()
        if kind == "chunks" and (now - last[0] > 15 or done == total):
            last[0] = now
            log.info("%d/%s chunks embedded", done, total or "?")

    stats = update_index(settings, [corpus_file], embedder, progress=progress)
    log.info("index %s: %d documents, %d chunks (%d embedded in this run, %.0f s)", folder,
             stats.totals.get("documents", 0), stats.totals.get("chunks", 0), stats.chunks_embedded, stats.seconds)
    return PolicyQA.open(settings=settings)


def run_system(name: str, questions: list[dict], answer: Callable[[str], Reply],
               canon: dict[str, str]) -> dict:
    """Answer every question with ``answer`` (quotes, refused, answer text) and score it."""
    rows, ms = [], []
    for i, q in enumerate(questions, 1):
        started = time.perf_counter()
        reply = answer(q["question"])
        ms.append((time.perf_counter() - started) * 1000)
        scores = score_answer(reply.quotes, reply.refused, q["docid"], q["answers"], canon)
        rows.append({"qid": q["qid"], "question": q["question"], "gold_docid": q["docid"],
                     "gold_start": _fold(q["answers"][0])[:60] if q["answers"] else "", **scores,
                     "answer": reply.text, "refused_by": reply.refused_by,
                     "citations": [{"docid": c.docid, "quote": c.text} for c in reply.quotes],
                     "ms": round(ms[-1], 1)})
        if i % 25 == 0 or i == len(questions):
            log.info("%s: %d/%d answered", name, i, len(questions))
    n = len(rows)
    ms.sort()
    summary = {key: sum(r[key] for r in rows) / n if n else 0.0
               for key in ("gold_quoted", "other_docs_only", "other_docs_gold_words", "refused", "gold_doc_cited")}
    return {"system": name, "n": n, **summary, "p50_ms": percentile(ms, 0.5), "p95_ms": percentile(ms, 0.95),
            "answers": rows}


def policyqa_answer(qa) -> Callable[[str], Reply]:
    def answer(question: str) -> Reply:
        a = qa.ask(question, mode="extractive")
        return Reply([Quote(c.docid, c.quote) for c in a.citations], a.refused, a.answer, a.refused_by)
    return answer


def top1_answer(qa) -> Callable[[str], Reply]:
    """The first passage of a retriever opened as PolicyQA's own (same settings, index and embedder)
    but with its own query-vector cache: searching PolicyQA's retriever after ``ask`` would find
    each question's vector cached and report a latency without the question's embedding."""
    from rag.retrieve import Retriever

    retriever = Retriever.open(qa.settings, qa.retriever.embedder)
    retriever.search(WARM_UP, k=1)

    def answer(question: str) -> Reply:
        hits = retriever.search(question, k=1)
        quotes = [Quote(h.chunk.docid, h.chunk.text) for h in hits]
        return Reply(quotes, False, quotes[0].text if quotes else "")
    return answer


def print_table(results: list[dict]) -> None:
    print("| system | gold quoted | other docs only (quoting the gold words) | refused | gold doc cited | p50 ms "
          "| p95 ms | n |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['system']} | {r['gold_quoted']:.3f} | {r['other_docs_only']:.3f} ({r['other_docs_gold_words']:.3f}) | {r['refused']:.3f} | "
              f"{r['gold_doc_cited']:.3f} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {r['n']} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=SHARED / "ncp", help="folder with corpus.jsonl and dev.jsonl")
    parser.add_argument("--index", type=Path, help="index folder (default: a temporary one, removed at the end)")
    parser.add_argument("--reuse", action="store_true", help="keep what --index holds; embed only what changed")
    parser.add_argument("--offset", type=int, help=f"first question (default: the last {HELD_OUT} of dev.jsonl)")
    parser.add_argument("--limit", type=int, help="at most N questions")
    parser.add_argument("--out", type=Path, default=RUNS / "bench-ncp-answers.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S")
    log.setLevel(logging.INFO)  # this benchmark's progress lines; the libraries' chatter stays out
    if not (args.data / "corpus.jsonl").exists():
        sys.exit(f"NCP data not found at {args.data}: pass --data <shared>/bench/ncp (see ../shared/README.md)")
    corpus, questions = load_dataset(str(args.data.resolve()), None)  # an absolute name: read in place
    questions = held_out(questions, args.offset, args.limit)
    canon = duplicate_groups(corpus)
    print(f"# NCP answers end to end · {len(questions)} questions · CPU {_cpu()} · load at start {_load()}",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-ncp-") as tmp:
        qa = build_index(args.data / "corpus.jsonl", args.index or Path(tmp) / "index", args.reuse)
        try:
            qa.ask(WARM_UP, mode="extractive")
            results = [run_system("policyqa (extractive)", questions, policyqa_answer(qa), canon),
                       run_system("top-1 passage", questions, top1_answer(qa), canon)]
        finally:
            qa.close()
    load_end = _load()
    print(f"load at end {load_end}")
    print_table(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"cpu": _cpu(), "load_end": load_end, "questions": len(questions),
                                    "results": results}, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
