"""Retrieval with and without permission filters, and what the audit trail costs per question.

    python eval/bench_permissions.py [--limit 200] [--questions 40]

NCP's 599 documents are indexed keyword-only (BM25; vectors would take hours on a small CPU) twice:
once in the default knowledge base, once split round-robin into four knowledge bases (kb0..kb3).
The first NCP dev questions are then searched as

  one-kb/admin     one knowledge base, no filter (how the library was searched before)
  four-kb/admin    four knowledge bases, an administrator: no filter at all
  four-kb/all      a viewer of all four: the filter is applied and admits everything
  four-kb/own      a viewer of only the knowledge base holding the question's document
  four-kb/others   a viewer of the other three: the document must never be found (0)

and (``--questions``) answered in extractive mode with and without the audit trail, as an
administrator (one line written) and as a restricted viewer (one line, plus the search that
counts what was withheld).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.config import Settings  # noqa: E402
from rag.embed import embedder_for  # noqa: E402
from rag.index.acl import read_filter  # noqa: E402
from rag.index.build import access_store, update_index  # noqa: E402
from rag.models import LOCAL, Principal  # noqa: E402
from rag.retrieve import Filters, Retriever  # noqa: E402

NCP = ROOT.parent / "shared" / "bench" / "ncp"
KBS = [f"kb{i}" for i in range(4)]
log = logging.getLogger("bench")


def build(folder: Path, docs: list[dict], split: bool, embedder) -> Settings:
    settings = Settings(index_dir=folder / "index")
    parts = [[d for n, d in enumerate(docs) if n % 4 == i] for i in range(4)] if split else [docs]
    (folder / "empty").mkdir(parents=True)
    update_index(settings, [folder / "empty"], embedder, keyword_only=True)  # the store, to hold the catalogue
    if split:
        with access_store(settings) as store:
            for kb in KBS:
                store.update_catalogue(lambda c, kb=kb: c.create(kb).grant(kb, "group", kb, "viewer"))
    for i, part in enumerate(parts):
        path = folder / f"part{i}.jsonl"
        path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in part), encoding="utf-8")
        update_index(settings, [path], embedder, keyword_only=True, kb=KBS[i] if split else None)
    return settings


def metrics(retriever: Retriever, questions: list[dict], access_of_question) -> dict:
    hit1 = hit5 = rr = 0.0
    times = []
    tops = []
    for q in questions:
        access = access_of_question(q)
        started = time.perf_counter()
        hits = retriever.search(q["question"], k=10, filters=Filters(access=access) if access is not None else None)
        times.append((time.perf_counter() - started) * 1000)
        docs = list(dict.fromkeys(h.chunk.docid for h in hits))
        tops.append([h.chunk.chunk_id for h in hits])
        hit1 += docs[:1] == [q["docid"]]
        hit5 += q["docid"] in docs[:5]
        rr += 1 / (docs.index(q["docid"]) + 1) if q["docid"] in docs[:10] else 0
    n = len(questions)
    return {"doc@1": round(hit1 / n, 3), "doc@5": round(hit5 / n, 3), "mrr@10": round(rr / n, 3),
            "p50_ms": round(statistics.median(times), 1), "p95_ms": round(sorted(times)[int(0.95 * (n - 1))], 1),
            "tops": tops}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=200, help="NCP dev questions searched")
    parser.add_argument("--questions", type=int, default=40, help="questions answered for the audit cost")
    parser.add_argument("--ncp", type=Path, default=NCP, help=f"folder with NCP's corpus.jsonl and dev.jsonl ({NCP})")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    docs = [json.loads(line) for line in (args.ncp / "corpus.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    questions = [json.loads(line) for line in (args.ncp / "dev.jsonl").read_text(encoding="utf-8").splitlines()
                 if line.strip()][:args.limit]
    kb_of = {d["docid"]: KBS[n % 4] for n, d in enumerate(docs)}
    embedder = embedder_for(Settings())
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        one = build(Path(tmp) / "one", docs, False, embedder)
        four = build(Path(tmp) / "four", docs, True, embedder)
        r1, r4 = Retriever.open(one, embedder), Retriever.open(four, embedder)
        catalogue = r4.store.catalogue()

        def viewer(kbs) -> Principal:
            return Principal(name="bench", role="read", groups=frozenset(kbs))

        runs = {
            "one-kb/admin": (r1, lambda q: None),
            "four-kb/admin": (r4, lambda q: read_filter(LOCAL, catalogue)),
            "four-kb/all": (r4, lambda q: read_filter(viewer(KBS), catalogue)),
            "four-kb/own": (r4, lambda q: read_filter(viewer([kb_of[q["docid"]]]), catalogue)),
            "four-kb/others": (r4, lambda q: read_filter(viewer([k for k in KBS if k != kb_of[q["docid"]]]), catalogue)),
        }
        for name, (retriever, access) in runs.items():
            out[name] = metrics(retriever, questions, access)
        same = lambda a, b: sum(x == y for x, y in zip(out[a]["tops"], out[b]["tops"]))  # noqa: E731
        out["identical_top10"] = {"one-kb/admin vs four-kb/admin": same("one-kb/admin", "four-kb/admin"),
                                  "four-kb/admin vs four-kb/all": same("four-kb/admin", "four-kb/all"),
                                  "of": len(questions)}
        out["audit"] = audit_cost(four, embedder, questions[:args.questions], viewer(KBS[:2]))
    for name, row in out.items():
        if isinstance(row, dict):
            row.pop("tops", None)
        print(f"{name:16s} {json.dumps(row, ensure_ascii=False)}")
    return 0


def audit_cost(settings: Settings, embedder, questions: list[dict], restricted: Principal) -> dict:
    """Median ms per extractive answer through PolicyQA (audited) and through the chain alone."""
    from rag.service import PolicyQA

    qa = PolicyQA(settings.model_copy(update={"audit_path": Path(settings.index_dir) / "bench-audit.jsonl"}))
    try:
        texts = [q["question"] for q in questions]
        for t in texts[:3]:
            qa.ask(t)  # warm
        result = {}
        for name, principal in (("admin", LOCAL), ("restricted", restricted)):
            filters = qa.scoped(principal, (), None)
            plain, audited = [], []
            for t in texts:
                started = time.perf_counter()
                qa.chain.ask(t, filters=filters)
                plain.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                qa.ask(t, principal=principal)
                audited.append((time.perf_counter() - started) * 1000)
            result[name] = {"answer_p50_ms": round(statistics.median(plain), 1),
                            "audited_p50_ms": round(statistics.median(audited), 1),
                            "overhead_p50_ms": round(statistics.median(a - p for a, p in zip(audited, plain)), 1)}
        started = time.perf_counter()
        for _ in range(200):
            qa.audit.record("question", restricted, kbs=["kb0"], question="x", cited=[], withheld=0,
                            refused=True, answer_sha256="0" * 64)
        result["record_only_ms"] = round((time.perf_counter() - started) * 1000 / 200, 2)
        result["chain_intact"] = qa.audit.verify() is None
        return result
    finally:
        qa.close()


if __name__ == "__main__":
    sys.exit(main())
