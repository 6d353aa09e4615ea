"""One contract, every store: the embedded SQLite + FAISS store and Milvus (milvus-lite as a local
file, and as a server reached over gRPC exactly as a cluster is) pass the same retrieval, answer,
update and two-stage tests. Two ``policyqa serve`` replicas share one Milvus server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from rag.config import Settings
from rag.index import IndexMismatchError, index_status, open_store
from rag.index.build import embed_missing, remove_documents, set_subject, update_index
from rag.retrieve import Filters, Retriever
from rag.service import PolicyQA
from rag.text.offsets import encode_edits, original_text
from tests.conftest import DOCS, ROOT, TIANCHANG_Q, TIANCHANG_Q_TRAD, free_port, start_milvus_lite, start_server

pytestmark = pytest.mark.full
KINDS = ["sqlite", "milvus-file", "milvus-server"]


_prefixes = iter(range(10_000))


def settings_for(kind: str, folder: Path, server: str | None, **extra) -> Settings:
    """Settings for a fresh, empty library of this kind (its own folder, file or collection prefix)."""
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "sqlite":
        return Settings(index_dir=folder / "index", **extra)
    uri = str(folder / "milvus.db") if kind == "milvus-file" else server
    return Settings(index_dir=folder / "index", store="milvus", milvus_uri=uri,
                    milvus_collection_prefix=f"t{next(_prefixes)}_{os.getpid()}", **extra)


@pytest.fixture(scope="module", params=KINDS)
def library(request, tmp_path_factory, e5) -> Settings:
    """The bundled docs/ indexed once into each kind of store with the default packaged model."""
    server = request.getfixturevalue("milvus_server") if request.param == "milvus-server" else None
    settings = settings_for(request.param, tmp_path_factory.mktemp(request.param), server)
    stats = update_index(settings, [DOCS], e5)
    assert stats.files_failed == 0 and stats.documents_written == 5
    return settings


@pytest.fixture(params=KINDS)
def fresh(request, tmp_path: Path):
    """A factory of empty libraries of one kind (extra settings as keyword arguments)."""
    server = request.getfixturevalue("milvus_server") if request.param == "milvus-server" else None
    return lambda **extra: settings_for(request.param, tmp_path / "lib", server, embedding_model="use-m3", **extra)


# -- reading ---------------------------------------------------------------------------------------
def test_found_first_in_both_scripts(library: Settings, e5) -> None:
    retriever = Retriever.open(library, e5)
    simp = retriever.search(TIANCHANG_Q, k=3)
    trad = retriever.search(TIANCHANG_Q_TRAD, k=3)
    assert "2020年8月被评为首批" in simp[0].chunk.text
    assert [h.chunk.chunk_id for h in simp] == [h.chunk.chunk_id for h in trad]
    assert simp[0].chunk.section == ("【任务措施】", "（一）大力推进全面依法治市工作")
    hits = retriever.search("如皋市2024年要实现什么目标？", k=3)
    assert any("南通爭優勝" in h.chunk.text for h in hits)


def test_filters_restrict_documents(library: Settings, e5) -> None:
    retriever = Retriever.open(library, e5)
    hits = retriever.search("法治政府建设示范", k=5, filters=Filters(city="苏州市"))
    assert hits and {h.chunk.docid for h in hits} == {"suzhou-2023.txt"}
    hits = retriever.search("法治政府建设示范", k=5, filters=Filters(year="2020"))
    assert hits and {h.chunk.docid for h in hits} <= {"taicang-2020.txt", "changshu-2020.txt"}
    hits = retriever.search("法治政府建设示范", k=5, filters=Filters(docids=("rugao-2023.txt",)))
    assert hits and {h.chunk.docid for h in hits} == {"rugao-2023.txt"}
    assert retriever.search("法治", filters=Filters(docids=("nope",))) == []


def test_documents_status_and_answer(library: Settings, e5) -> None:
    status = index_status(library)
    assert (status["documents"], status["embedded_chunks"]) == (5, status["chunks"]) and status["chunks"] > 90
    store = open_store(library, readonly=True)
    try:
        listed = {d["docid"]: d for d in store.documents()}
        assert listed["tianchang-2021.txt"]["subject"]["city"] == "天长市" and listed["tianchang-2021.txt"]["chunks"] > 5
        doc = store.document("rugao-2023.txt")
        assert doc is not None and len(doc.text) > 3000 and doc.metadata["city"] == "如皋市"
        # the file as extracted comes back from the stored text and its edits (pinyin glosses, ",")
        assert doc.edits and original_text(doc.text, doc.edits) == (DOCS / "rugao-2023.txt").read_text(encoding="utf-8")
    finally:
        store.close()
    qa = PolicyQA(library)
    try:
        answer = qa.ask(TIANCHANG_Q)
        assert not answer.refused and "2020年8月" in answer.answer
        cited = answer.citations[0]
        assert cited.docid == "tianchang-2021.txt"
        assert qa.document(cited.docid).text[cited.start:cited.end] == cited.quote  # verbatim in the stored text
    finally:
        qa.close()


def test_same_ranking_as_the_embedded_store(library: Settings, e5, docs_index: Settings) -> None:
    """Scores are not comparable across engines (Milvus computes BM25 itself, with jieba terms);
    the best passage for each question is."""
    here, there = Retriever.open(library, e5), Retriever.open(docs_index, e5)
    questions = [TIANCHANG_Q, "苏州市2023年化解矛盾纠纷多少件", "太仓市行政复议", "常熟市法律顾问", "如皋市2023年行政诉讼败诉率"]
    same = sum(here.search(q, k=1)[0].chunk.chunk_id == there.search(q, k=1)[0].chunk.chunk_id for q in questions)
    assert same >= len(questions) - 1


# -- writing ---------------------------------------------------------------------------------------
def _chunk_rows(settings: Settings) -> list[tuple[str, int]]:
    store = open_store(settings, readonly=True)
    try:
        return sorted((d["docid"], d["chunks"]) for d in store.documents())
    finally:
        store.close()


def test_add_update_delete_round_trip(fresh, tmp_path: Path, use) -> None:
    settings = fresh()
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(DOCS / "tianchang-2021.txt", corpus)
    (corpus / "new.md").write_text("# 新增通知\n\n滁州市2024年开展行政执法监督专项行动，检查案卷300份。\n", encoding="utf-8")
    first = update_index(settings, [corpus], use)
    assert first.documents_written == 2
    again = update_index(settings, [corpus], use)
    assert (again.files_unchanged, again.documents_written, again.chunks_embedded) == (2, 0, 0)

    path = corpus / "tianchang-2021.txt"
    path.write_text(path.read_text(encoding="utf-8").replace("2020年8月被评为首批", "2020年9月被评为首批"), encoding="utf-8")
    changed = update_index(settings, [corpus], use)
    assert changed.documents_written == 1 and changed.chunks_embedded == 1  # only the edited paragraph
    retriever = Retriever.open(settings, use)
    assert "2020年9月" in retriever.search(TIANCHANG_Q, k=1)[0].chunk.text
    assert not any("2020年8月被评为" in h.chunk.text for h in retriever.search(TIANCHANG_Q, k=10))  # old version gone
    assert retriever.search("滁州市行政执法监督检查案卷", k=1)[0].chunk.docid == "new.md"

    (corpus / "new.md").unlink()
    assert update_index(settings, [corpus], use).documents_deleted == 1
    retriever.refresh()
    assert all(h.chunk.docid != "new.md" for h in retriever.search("滁州市 案卷", k=20))
    rows = _chunk_rows(settings)
    assert [d for d, _ in rows] == ["tianchang-2021.txt"]
    assert rows[0][1] == index_status(settings)["chunks"]  # no chunk of an old version or a deleted file left
    assert remove_documents(settings, ["tianchang-2021.txt"], use) == 1
    assert index_status(settings)["chunks"] == 0


def test_long_documents_keep_their_text_and_edits_whole(fresh, tmp_path: Path, use) -> None:
    """Text and edits longer than one Milvus row holds (16k characters a part) come back whole."""
    settings = fresh()
    folder = tmp_path / "long"
    folder.mkdir()
    raw = "".join(f"第{i}项,天长市推进依法行政(xíng)工作,完成{i}件。\r\n" for i in range(3000))
    (folder / "long.txt").write_text(raw, encoding="utf-8")
    update_index(settings, [folder], use, keyword_only=True)
    store = open_store(settings, readonly=True)
    try:
        doc = store.document("long.txt")
        assert doc is not None and len(doc.text) > 60_000 and "依法行政工作，完成2999件。" in doc.text
        assert len(encode_edits(doc.edits)) > 100_000 and original_text(doc.text, doc.edits) == raw
    finally:
        store.close()


def test_a_milvus_library_of_an_older_term_scheme_is_to_be_rebuilt(tmp_path: Path, use) -> None:
    """Milvus fixes a collection's analyser when it is created: older terms cannot be upgraded in
    place (the SQLite store's can), and the error says to rebuild."""
    settings = settings_for("milvus-file", tmp_path / "lib", None, embedding_model="use-m3")
    folder = tmp_path / "one"
    folder.mkdir()
    (folder / "a.txt").write_text("天长市2020年8月被评为首批全国法治政府建设示范市。", encoding="utf-8")
    update_index(settings, [folder], use, keyword_only=True)
    store = open_store(settings)
    try:
        store.set_meta({"keyword_terms": "milvus-bm25-jieba-1"})
    finally:
        store.close()
    with pytest.raises(IndexMismatchError, match="rebuild it with"):
        update_index(settings, [folder], use, keyword_only=True)


def test_keyword_only_then_embedded(fresh, use) -> None:
    settings = fresh(embed_batch_size=8)
    stats = update_index(settings, [DOCS], use, keyword_only=True)
    chunks = stats.totals["chunks"]
    assert index_status(settings)["embedded_chunks"] == 0
    retriever = Retriever.open(settings, use)
    hits = retriever.search(TIANCHANG_Q, k=3)
    assert hits[0].chunk.chunk_id == "tianchang-2021.txt#1" and hits[0].ranks == {"bm25": 1}
    assert embed_missing(settings, use, limit=24, publish_every_s=0).embedded == 24
    retriever.refresh()
    assert retriever.search(TIANCHANG_Q, k=1)[0].chunk.chunk_id == "tianchang-2021.txt#1"
    embed_missing(settings, use)
    assert index_status(settings)["embedded_chunks"] == chunks
    retriever.refresh()
    top = retriever.search(TIANCHANG_Q, k=1)[0]
    assert top.chunk.chunk_id == "tianchang-2021.txt#1" and set(top.ranks) == {"bm25", "dense"}


def test_subject_set_by_a_person_filters(fresh, tmp_path: Path, use) -> None:
    settings = fresh()
    notice = tmp_path / "c" / "notice.txt"
    notice.parent.mkdir()
    notice.write_text("关于调解工作的通报\n\n今年以来，全市人民调解组织共化解矛盾纠纷4321件，调解成功率98.7%。\n", encoding="utf-8")
    update_index(settings, [notice.parent], use)
    retriever = Retriever.open(settings, use)
    assert retriever.search("化解矛盾纠纷", filters=Filters(city="启东市")) == []
    assert set_subject(settings, "notice.txt", {"city": "启东市", "year": "2023"}, use)["city"] == "启东市"
    retriever.refresh()
    assert retriever.search("化解矛盾纠纷", filters=Filters(city="启东市", year="2023"))[0].chunk.docid == "notice.txt"
    update_index(settings, [notice.parent], use, rebuild=False)  # survives re-indexing
    store = open_store(settings, readonly=True)
    assert store.metadata_of(["notice.txt"])["notice.txt"]["city"] == "启东市"
    listed = store.documents()[0]
    assert listed["subject"]["set"] == ["city", "year"] and listed["chunks"] == 1  # setting it kept the count
    store.close()


def test_a_milvus_write_cut_off_halfway_is_never_seen_and_the_rerun_finishes_it(tmp_path: Path, use,
                                                                                monkeypatch) -> None:
    from rag.index.milvus import MilvusStore

    settings = settings_for("milvus-file", tmp_path / "lib", None, embedding_model="use-m3")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(DOCS / "tianchang-2021.txt", corpus)
    update_index(settings, [corpus], use)
    before = _chunk_rows(settings)
    path = corpus / "tianchang-2021.txt"
    path.write_text(path.read_text(encoding="utf-8").replace("2020年8月被评为首批", "2020年9月被评为首批"), encoding="utf-8")

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("power cut after the new chunks, before the documents row")

    with monkeypatch.context() as patch:
        patch.setattr(MilvusStore, "_put_documents", crash)
        with pytest.raises(KeyboardInterrupt):
            update_index(settings, [corpus], use)
    # the new chunks and text are in Milvus, but readers still see exactly the old version, once
    hits = Retriever.open(settings, use).search(TIANCHANG_Q, k=10)
    store = open_store(settings, readonly=True)
    assert "2020年8月被评为" in store.document("tianchang-2021.txt").text
    store.close()
    assert "2020年8月被评为" in hits[0].chunk.text and not any("2020年9月" in h.chunk.text for h in hits)
    assert len({h.chunk.chunk_id for h in hits}) == len(hits)
    assert _chunk_rows(settings) == before
    rerun = update_index(settings, [corpus], use)
    assert rerun.documents_written == 1
    assert "2020年9月" in Retriever.open(settings, use).search(TIANCHANG_Q, k=1)[0].chunk.text
    assert _chunk_rows(settings) == before and index_status(settings)["chunks"] == before[0][1]


# -- replicas ----------------------------------------------------------------------------------------
def _serve(settings: Settings, folder: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "POLICYQA_STORE": "milvus", "POLICYQA_MILVUS_URI": settings.milvus_uri,
           "POLICYQA_MILVUS_COLLECTION_PREFIX": settings.milvus_collection_prefix, "POLICYQA_EMBEDDING_MODEL": "use-m3",
           "POLICYQA_INDEX_DIR": str(folder)}
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--no-ui", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return proc, f"http://127.0.0.1:{port}"


def _wait_ready(proc: subprocess.Popen, url: str) -> None:
    deadline = time.time() + 600  # a readiness wait: slow on a loaded machine is not a failure
    while time.time() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else "server exited"
        try:
            if httpx.get(f"{url}/healthz", timeout=30).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail("replica did not start")


def test_a_milvus_server_that_goes_away_is_a_clear_error_not_a_traceback(tmp_path: Path, use) -> None:
    """The CLI says what failed and what to do (exit 2); the API answers 503 with the same, and
    /healthz reports it, so a load balancer takes the replica out."""
    url, proc = start_milvus_lite(tmp_path / "data")
    settings = settings_for("milvus-server", tmp_path / "lib", url, embedding_model="use-m3")
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("天长市2020年8月被评为首批全国法治政府建设示范市。", encoding="utf-8")
    update_index(settings, [folder], use)
    base, stop = start_server(settings)
    try:
        assert httpx.get(f"{base}/healthz", timeout=30).status_code == 200
        proc.kill()
        proc.wait(timeout=30)
        reply = httpx.post(f"{base}/v1/search", json={"question": "天长市何时被评为示范市？"}, timeout=120)
        assert reply.status_code == 503 and reply.json()["error"]["code"] == "store_unavailable"
        assert url in reply.json()["error"]["message"] and "POLICYQA_MILVUS_URI" in reply.json()["error"]["message"]
        assert httpx.get(f"{base}/healthz", timeout=120).status_code == 503
    finally:
        stop()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "POLICYQA_INDEX_DIR": str(settings.index_dir), "POLICYQA_STORE": "milvus",
           "POLICYQA_MILVUS_URI": url, "POLICYQA_MILVUS_COLLECTION_PREFIX": settings.milvus_collection_prefix}
    run = subprocess.run([sys.executable, "-m", "rag.cli", "index", str(folder)], env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 2 and "Milvus" in run.stderr and "Traceback" not in run.stderr, run.stderr[-2000:]


def test_two_replicas_share_one_milvus_server(milvus_server: str, tmp_path: Path, use) -> None:
    settings = settings_for("milvus-server", tmp_path / "lib", milvus_server, embedding_model="use-m3")
    update_index(settings, [DOCS / "tianchang-2021.txt"], use)
    replicas = [_serve(settings, tmp_path / f"replica{i}") for i in range(2)]
    try:
        for proc, url in replicas:
            _wait_ready(proc, url)
        (_, a), (_, b) = replicas
        assert httpx.get(f"{b}/healthz").json()["documents"] == 1
        notice = "关于调解工作的通报\n\n今年以来，启东市人民调解组织共化解矛盾纠纷4321件，调解成功率98.7%。\n"
        up = httpx.post(f"{a}/v1/documents", files={"file": ("启东通报.txt", notice.encode())}, timeout=120)
        assert up.status_code == 201, up.text
        answer = httpx.post(f"{b}/v1/answer", json={"question": "启东市人民调解组织化解了多少件矛盾纠纷？"}, timeout=120).json()
        assert "4321" in answer["answer"] and answer["citations"][0]["docid"] == "uploads/启东通报.txt"
        assert {d["docid"] for d in httpx.get(f"{b}/v1/documents").json()["documents"]} == {
            "tianchang-2021.txt", "uploads/启东通报.txt"}
        assert httpx.delete(f"{b}/v1/documents/uploads/启东通报.txt").status_code == 200
        for url in (a, b):
            found = httpx.post(f"{url}/v1/search", json={"question": "启东市化解矛盾纠纷4321件", "k": 5}).json()
            assert all(h["docid"] != "uploads/启东通报.txt" for h in found["hits"])
            assert httpx.get(f"{url}/healthz").json()["documents"] == 1
    finally:
        for proc, _ in replicas:
            proc.terminate()
            proc.wait(timeout=30)


# -- permissions (rag.index.acl): the same suite for every store -----------------------------------
SECRET_Q = "江心市2024年行政复议纠错率是多少？"
SECRET = "江心市司法局内部通报\n\n2024年，江心市行政复议纠错率为17.3%，较上年下降2.1个百分点。\n"


def _restricted_library(settings: Settings, tmp_path: Path, use) -> None:
    """docs/'s Tianchang report in the default knowledge base; one internal notice of 法制科's,
    for the 法制科 group only, whose one fact answers SECRET_Q."""
    from rag.index.build import access_store

    public, internal = tmp_path / "pub", tmp_path / "internal"
    public.mkdir()
    internal.mkdir()
    shutil.copy(DOCS / "tianchang-2021.txt", public)
    (internal / "jiangxin-notice.txt").write_text(SECRET, encoding="utf-8")
    (internal / ".policyqa.toml").write_text('classification = "内部"\naudience = ["法制科"]\n', encoding="utf-8")
    update_index(settings, [public], use)
    with access_store(settings) as store:
        store.update_catalogue(lambda c: c.create("法制科").grant("法制科", "group", "法制科", "viewer")
                               .grant("法制科", "group", "*", "viewer"))
    stats = update_index(settings, [internal], use, kb="法制科")
    assert stats.documents_written == 1 and stats.files_failed == 0


def _docids(retriever: Retriever, principal, k: int = 50, kbs: tuple[str, ...] = ()) -> set[str]:
    from rag.index.acl import read_filter

    access = read_filter(principal, retriever.store.catalogue(), kbs)
    return {h.chunk.docid for h in retriever.search(SECRET_Q, k=k, filters=Filters(access=access))}


def test_permissions_filter_inside_retrieval(fresh, tmp_path: Path, use) -> None:
    from rag.index.acl import AccessError
    from rag.index.build import access_store
    from rag.models import LOCAL, Principal

    settings = fresh()
    _restricted_library(settings, tmp_path, use)
    retriever = Retriever.open(settings, use)
    member = Principal(name="oidc:li", role="read", groups=frozenset({"法制科"}))
    outsider = Principal(name="oidc:wang", role="read", groups=frozenset({"服务大厅"}))
    kiosk = Principal(name="key:00000000", role="read")
    assert "jiangxin-notice.txt" in _docids(retriever, LOCAL)
    assert "jiangxin-notice.txt" in _docids(retriever, member)
    assert _docids(retriever, member, kbs=("法制科",)) == {"jiangxin-notice.txt"}
    for stranger in (outsider, kiosk):  # even with every passage of the library asked for
        assert _docids(retriever, stranger) == {"tianchang-2021.txt"}
        assert _docids(retriever, stranger, kbs=("法制科",)) == set()
    with pytest.raises(AccessError):
        _docids(retriever, Principal(name="x", role="read"), kbs=("无此库",))
    store = open_store(settings, readonly=True)
    try:
        meta = store.metadata_of(["jiangxin-notice.txt"])["jiangxin-notice.txt"]
        assert (meta["kb"], meta["classification"], meta["audience"]) == ("法制科", "内部", "法制科")
    finally:
        store.close()
    # an editor opens it to everyone, then makes it internal again: the next search follows each change
    with access_store(settings) as store:
        store.set_access("jiangxin-notice.txt", {"audience": "", "classification": "公开"})
    assert "jiangxin-notice.txt" in _docids(retriever, kiosk)
    with access_store(settings) as store:
        store.set_access("jiangxin-notice.txt", {"classification": "内部"})
    assert "jiangxin-notice.txt" not in _docids(retriever, kiosk)
    assert "jiangxin-notice.txt" in _docids(retriever, member)
    # re-indexing the unchanged folder keeps what the editor set
    update_index(settings, [tmp_path / "internal"], use, kb="法制科")
    assert "jiangxin-notice.txt" not in _docids(retriever, kiosk)
