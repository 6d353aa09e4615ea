"""Two-stage indexing: keyword-searchable at once (``--keyword-only``), vectors filled in later
(``policyqa embed``), on a real store, real FAISS/BM25 and the packaged models."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag.config import Settings
from rag.index import STORE_FILE, index_status, open_store
from rag.index.build import embed_missing, update_index
from rag.index.store import Store
from rag.retrieve import Retriever
from rag.retrieve.fusion import rrf, score_fusion
from tests.conftest import DOCS, ROOT, TIANCHANG_Q
from tests.test_index import _check_consistent, _expected, _many_files


def test_a_candidate_without_a_vector_is_judged_on_keywords_alone() -> None:
    runs = {"bm25": [("new", 10.0), ("old", 8.0), ("weak", 2.0)], "dense": [("old", 0.9), ("weak", 0.5)]}
    weights = {"bm25": 0.7, "dense": 0.3}
    # without knowing "new" has no vector it loses to "old", which both rankers scored
    assert [i for i, _, _ in score_fusion(runs, weights)][:2] == ["old", "new"]
    fused = score_fusion(runs, weights, {"dense": {"new"}})
    assert [i for i, _, _ in fused][:2] == ["new", "old"] and fused[0][1] == pytest.approx(1.0)
    # an embedded candidate that dense search did not rank keeps its 0 there (it was scored, and low)
    assert dict((i, s) for i, s, _ in score_fusion(runs, weights, {"dense": {"new"}}))["weak"] == pytest.approx(0.7 * 0 + 0.3 * 0)
    ranked = rrf({"bm25": ["new", "old"], "dense": ["old"]}, k=60, unscored={"dense": {"new"}})
    assert ranked[0][0] == "new" and ranked[0][1] == pytest.approx(2 / 61)


def _counts(settings: Settings) -> tuple[int, int]:
    status = index_status(settings)
    return status["chunks"], status["embedded_chunks"]


@pytest.mark.full
def test_keyword_only_is_searchable_then_embedding_completes(tmp_path: Path, use) -> None:
    settings = Settings(index_dir=tmp_path / "index", embedding_model="use-m3", embed_batch_size=8)
    stats = update_index(settings, [DOCS], use, keyword_only=True)
    chunks = stats.totals["chunks"]
    assert stats.chunks_embedded == 0 and _counts(settings) == (chunks, 0)
    retriever = Retriever.open(settings, use)
    hits = retriever.search(TIANCHANG_Q, k=3)
    assert hits[0].chunk.chunk_id == "tianchang-2021.txt#1" and hits[0].ranks == {"bm25": 1}

    # part of the way (a run stopped early, as a crash would): searchers see it once published
    first = embed_missing(settings, use, limit=40, publish_every_s=0)
    assert first.embedded == 40 and _counts(settings) == (chunks, 40)
    retriever.refresh()
    assert retriever.backend._derived.vectors.size == 40 and retriever.backend._derived.partial
    hits = retriever.search(TIANCHANG_Q, k=5)
    assert hits[0].chunk.chunk_id == "tianchang-2021.txt#1"
    assert all(h.score <= 1.0 + 1e-9 for h in hits)

    rest = embed_missing(settings, use)
    assert rest.embedded == chunks - 40 and _counts(settings) == (chunks, chunks)
    assert embed_missing(settings, use).embedded == 0  # nothing left: a rerun is free
    _check_consistent(settings.index_dir, _expected([DOCS], settings))
    # the same ranking as an index built in one stage
    one_stage = Settings(index_dir=tmp_path / "one", embedding_model="use-m3")
    update_index(one_stage, [DOCS], use)
    retriever.refresh()
    for question in (TIANCHANG_Q, "苏州市2023年化解矛盾纠纷多少件", "如皋市行政复议"):
        assert ([h.chunk.chunk_id for h in retriever.search(question, k=5)]
                == [h.chunk.chunk_id for h in Retriever.open(one_stage, use).search(question, k=5)])


@pytest.mark.full
def test_indexing_goes_on_while_a_document_waits_for_its_vectors(tmp_path: Path, use) -> None:
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "a.txt").write_text("如皋市2023年办理行政复议案件215件，纠错率12%。", encoding="utf-8")
    settings = Settings(index_dir=tmp_path / "index", embedding_model="use-m3")
    update_index(settings, [corpus], use, keyword_only=True)
    (corpus / "b.txt").write_text("启东市2022年建成公共法律服务站点46个。", encoding="utf-8")
    update_index(settings, [corpus], use)  # a normal run embeds what it writes, leaves a.txt waiting
    assert _counts(settings) == (2, 1)
    (corpus / "a.txt").unlink()
    update_index(settings, [corpus], use)
    assert _counts(settings) == (1, 1)
    assert embed_missing(settings, use).embedded == 0


@pytest.mark.full
def test_a_corpus_cut_off_halfway_keeps_its_records_and_its_file_record(tmp_path: Path, use) -> None:
    corpus = tmp_path / "c"
    corpus.mkdir()
    path = corpus / "news.jsonl.gz"
    lines = "".join(json.dumps({"docid": f"n{i}", "text": f"第{i}条：某市{i}月开展普法活动{i * 3}场。"}, ensure_ascii=False) + "\n"
                    for i in range(300)).encode()
    path.write_bytes(gzip.compress(lines))
    settings = Settings(index_dir=tmp_path / "index", embedding_model="use-m3", index_flush_chunks=16)
    assert update_index(settings, [corpus], use, keyword_only=True).documents_written == 300
    path.write_bytes(gzip.compress(lines.replace("普法".encode(), "宣传".encode()))[:-60])  # changed, then cut
    stats = update_index(settings, [corpus], use, keyword_only=True)
    assert stats.files_failed == 1 and stats.documents_deleted == 0 and 0 < stats.documents_written < 300
    assert index_status(settings)["documents"] == 300  # the later records were not taken for deleted
    store = Store(settings.index_dir / STORE_FILE, readonly=True)
    assert store.file_hash(str(path.resolve())) == "incomplete"  # read again next time
    store.close()
    path.unlink()
    assert update_index(settings, [corpus], use).documents_deleted == 300
    assert index_status(settings)["documents"] == 0


def _kill_when(proc: subprocess.Popen, ready, timeout_s: float = 120) -> bool:
    deadline = time.time() + timeout_s
    while time.time() < deadline and proc.poll() is None:
        if ready():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.02)
    return False


@pytest.mark.full
@pytest.mark.parametrize("kind", ["sqlite", "milvus-server"])
def test_sigkill_in_either_stage_then_rerun_loses_and_duplicates_nothing(kind: str, tmp_path: Path, request) -> None:
    """The index (or embed) process is killed mid-write; the rerun completes with nothing lost or
    duplicated. For Milvus this is a replica or an indexing job dying while the server lives on."""
    from tests.test_stores import settings_for

    corpus = tmp_path / "corpus"
    _many_files(corpus, 8)
    server = request.getfixturevalue("milvus_server") if kind == "milvus-server" else None
    settings = settings_for(kind, tmp_path / "lib", server, embedding_model="use-m3")
    env = {**os.environ, "POLICYQA_EMBEDDING_MODEL": "use-m3", "POLICYQA_INDEX_DIR": str(settings.index_dir),
           "POLICYQA_INDEX_FLUSH_CHUNKS": "4", "POLICYQA_EMBED_BATCH_SIZE": "8", "PYTHONPATH": str(ROOT),
           "POLICYQA_STORE": settings.store, "POLICYQA_MILVUS_URI": settings.milvus_location,
           "POLICYQA_MILVUS_COLLECTION_PREFIX": settings.milvus_collection_prefix}

    def counts() -> tuple[int, int]:
        try:
            return _counts(settings)
        except Exception:  # not created yet, or the schema is being written
            return -1, -1

    keyword = [sys.executable, "-m", "rag.cli", "index", "--keyword-only", str(corpus)]
    killed = _kill_when(subprocess.Popen(keyword, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
                        lambda: counts()[0] > 12)
    assert killed, "keyword indexing finished before it could be killed: make the corpus bigger"
    assert subprocess.run(keyword, env=env, capture_output=True, timeout=300).returncode == 0
    expected = _expected([corpus], settings)
    chunks, embedded = _counts(settings)
    assert embedded == 0 and chunks == sum(expected.values())

    embed = [sys.executable, "-m", "rag.cli", "embed", "--publish-every", "1"]
    for _ in range(2):
        killed = _kill_when(subprocess.Popen(embed, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
                            lambda: counts()[1] > embedded + 20)
        assert killed, "embedding finished before it could be killed"
        embedded = _counts(settings)[1]
        assert Retriever.open(settings).search(TIANCHANG_Q, k=3)  # searchable throughout
    status = subprocess.run([sys.executable, "-m", "rag.cli", "status"], env=env, capture_output=True, text=True, timeout=60)
    assert f"{embedded} embedded" in status.stdout and "run `policyqa embed` to finish" in status.stdout
    done = subprocess.run(embed, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"{chunks} of {chunks} chunks embedded" in done.stdout
    assert _counts(settings) == (chunks, chunks)
    if kind == "sqlite":
        _check_consistent(settings.index_dir, expected)
    else:
        store = open_store(settings, readonly=True)
        rows = list(store.iter_rows())
        assert {d["docid"]: d["chunks"] for d in store.documents()} == expected
        assert len(rows) == len({r["id"] for r in rows}) == chunks and all(r["embedded"] for r in rows)
        store.close()
    assert "2020年8月" in Retriever.open(settings).search(TIANCHANG_Q, k=1)[0].chunk.text


def test_progress_log_lines_carry_an_eta_when_not_on_a_terminal(caplog) -> None:
    import io
    import logging

    from rich.console import Console

    from rag.progress import Reporter, _eta

    assert _eta(100, 400, 60.0) == " (ETA 3m00s)" and _eta(10, 10_000, 36.0) == " (ETA 9h59m)"
    assert _eta(0, 10, 5.0) == _eta(5, None, 5.0) == _eta(10, 10, 5.0) == ""
    with caplog.at_level(logging.INFO, logger="policyqa.progress"):
        with Reporter(Console(file=io.StringIO()), every_s=0.0) as progress:  # not a terminal: log lines
            task = progress.task("chunks embedded", 1000)
            time.sleep(0.05)
            progress.update(task, 250)
    assert any("chunks embedded: 250/1000 (ETA" in r.getMessage() for r in caplog.records)
