"""What a document is about: derived at ingest for every bundled document, shown, set by a person,
and what keeps a city's facts with that city (a sentence naming no city speaks for its document)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from rag.config import Settings
from rag.index.store import Store
from rag.ingest import ingest_file
from rag.ingest.subject import derive_subject
from rag.models import Document
from tests.conftest import DOCS, copy_index, start_server

# who and when each bundled document is about (checked by reading each one)
BUNDLED = {
    "changshu-2020.txt": {"city": "常熟市", "year": "2020"},
    "rugao-2023.txt": {"city": "如皋市", "organisation": "如皋市司法局", "year": "2023"},
    "suzhou-2023.txt": {"city": "苏州市", "year": "2023"},
    "taicang-2020.txt": {"city": "太仓市", "year": "2020"},
    "tianchang-2021.txt": {"city": "天长市", "year": "2021"},
}


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_each_bundled_document_knows_its_subject(name: str) -> None:
    result = ingest_file(DOCS / name, name, Settings().ingest_limits())
    metadata = result.documents[0].metadata
    assert {k: metadata[k] for k in ("city", "organisation", "year") if k in metadata} == BUNDLED[name]


def test_subject_from_title_and_opening_not_from_quoted_titles() -> None:
    text = "2022年，启东市司法局坚持依法行政。《启东市法治政府建设规划》印发。启东市全年办理案件100件。"
    assert derive_subject("notice.txt", "", text) == {"city": "启东市", "organisation": "启东市司法局", "year": "2022"}
    # a city named once is no subject; a report quoting another city's title is not about it
    assert "city" not in derive_subject("x.txt", "", "《常熟市条例》施行。全市共办理100件。")


def _doc(docid: str, text: str, **metadata: str) -> Document:
    return Document(docid=docid, source=docid, title=docid, text=text, content_hash=docid + text, metadata=metadata)


def test_a_set_subject_survives_reindexing_and_clears_back_to_the_derived_one(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    store.write_documents([("f", _doc("a.txt", "全市共化解纠纷1234件。", city="苏州市", year="2023"), [])], {})
    assert store.set_subject("a.txt", {"city": "太仓市"}) == {"city": "太仓市", "year": "2023"}
    store.write_documents([("f", _doc("a.txt", "全市共化解纠纷1235件。", city="苏州市", year="2023"), [])], {})
    assert store.metadata_of(["a.txt"])["a.txt"]["city"] == "太仓市"
    assert store.document("a.txt").metadata["city"] == "太仓市"
    listed = store.documents()[0]["subject"]
    assert listed == {"city": "太仓市", "year": "2023", "set": ["city"]}
    assert store.set_subject("a.txt", {"city": ""})["city"] == "苏州市"  # back to what ingest derived
    assert store.set_subject("missing.txt", {"city": "太仓市"}) is None
    with pytest.raises(ValueError, match="not a subject field"):
        store.set_subject("a.txt", {"mayor": "x"})
    store.set_subject("a.txt", {"year": "2024"})
    store.delete_documents(["a.txt"])
    assert store.subject_set("a.txt") == {}  # gone with its document
    store.close()


def test_an_index_from_before_subjects_still_reads(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    store.write_documents([("f", _doc("a.txt", "全市。", city="苏州市"), [])], {})
    store.db.execute("DROP TABLE subjects")
    store.close()
    old = Store(tmp_path / "s.sqlite", readonly=True)
    assert old.metadata_of(["a.txt"]) == {"a.txt": {"city": "苏州市"}}
    assert len(old.chunk_ids_where(city="苏州市")) == 0 and old.documents()[0]["subject"]["set"] == []
    old.close()


NOTICE = ("关于调解工作的通报\n\n今年以来，全市人民调解组织共化解矛盾纠纷4321件，调解成功率98.7%。\n\n"
          "全市建成规范化调解室56个，调解工作平稳有序。\n")


def test_a_city_set_by_a_person_decides_which_city_a_sentence_speaks_for(docs_index, e5, tmp_path: Path) -> None:
    from rag.service import PolicyQA

    folder = tmp_path / "more"
    folder.mkdir()
    (folder / "notice.txt").write_text(NOTICE, encoding="utf-8")
    qa = PolicyQA(copy_index(docs_index, tmp_path))
    try:
        qa.add([folder])
        question = "启东市人民调解组织共化解矛盾纠纷多少件？"
        assert qa.ask(question).refused  # the notice names no city: it speaks for none
        assert qa.set_subject("notice.txt", city="启东市") == {"city": "启东市", "set": ["city"]}
        answer = qa.ask(question)
        assert not answer.refused and "4321" in answer.answer
        assert answer.citations[0].docid == "notice.txt"
        assert qa.ask("南通市人民调解组织共化解矛盾纠纷多少件？").refused  # never another city's figure
        assert qa.set_subject("notice.txt", city="") == {"set": []}
        assert qa.ask(question).refused
        assert qa.set_subject("nothing.txt", city="启东市") is None
    finally:
        qa.close()


def test_subject_from_the_cli_and_over_http(docs_index, e5, tmp_path: Path) -> None:
    settings = copy_index(docs_index, tmp_path, api_keys="write-key", read_keys="read-key")
    env = {"POLICYQA_INDEX_DIR": str(settings.index_dir), "HF_HUB_OFFLINE": "1", "PATH": ""}
    run = [sys.executable, "-m", "rag.cli"]
    shown = subprocess.run([*run, "docs"], capture_output=True, text=True, env=env, check=True).stdout
    assert "rugao-2023.txt" in shown and "如皋市司法局" in shown
    out = subprocess.run([*run, "subject", "taicang-2020.txt", "--organisation", "太仓市人民政府"],
                         capture_output=True, text=True, env=env, check=True).stdout
    assert json.loads(out)["subject"] == {"city": "太仓市", "organisation": "太仓市人民政府", "year": "2020",
                                          "set": ["organisation"]}
    missing = subprocess.run([*run, "subject", "nothing.txt", "--city", "x"], capture_output=True, text=True, env=env)
    assert missing.returncode == 2 and "policyqa docs" in missing.stderr

    base, stop = start_server(settings)
    try:
        url = f"{base}/v1/documents/tianchang-2021.txt/subject"
        assert httpx.put(url, json={"year": "2020"}, headers={"Authorization": "Bearer read-key"}).status_code == 403
        r = httpx.put(url, json={"year": "2020"}, headers={"Authorization": "Bearer write-key"}, timeout=60)
        assert r.status_code == 200 and r.json()["subject"] == {"city": "天长市", "year": "2020", "set": ["year"]}
        assert httpx.put(url, json={"mayor": "x"}, headers={"Authorization": "Bearer write-key"}).status_code == 422
        gone = httpx.put(f"{base}/v1/documents/uploads/none.txt/subject", json={"city": "x"},
                         headers={"Authorization": "Bearer write-key"}, timeout=60)
        assert gone.status_code == 404
        listed = httpx.get(f"{base}/v1/documents", headers={"Authorization": "Bearer read-key"}, timeout=60).json()
        taicang = next(d for d in listed["documents"] if d["docid"] == "taicang-2020.txt")
        assert taicang["subject"]["organisation"] == "太仓市人民政府"  # what the CLI set, seen by the server
    finally:
        stop()
