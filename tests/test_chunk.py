"""Chunking of the bundled seeds, and the offset invariant over every corpus we have."""

from __future__ import annotations

import pytest

from rag.chunk import chunk_document
from rag.ingest import ingest_paths
from rag.models import Document
from tests.files import LIMITS
from tests.conftest import DOCS, shared_path


def _docs(*paths) -> list[Document]:
    return [d for r in ingest_paths(paths, LIMITS) for d in r.documents]


@pytest.fixture(scope="module")
def seeds() -> dict[str, Document]:
    return {d.docid: d for d in _docs(DOCS)}


def test_seed_documents_are_bundled(seeds: dict[str, Document]) -> None:
    assert sorted(seeds) == ["changshu-2020.txt", "rugao-2023.txt", "suzhou-2023.txt", "taicang-2020.txt",
                             "tianchang-2021.txt"]


def test_rugao_artefacts_gone_traditional_kept(seeds: dict[str, Document]) -> None:
    text = seeds["rugao-2023.txt"].text
    assert "南通爭優勝" in text
    assert "(sh" not in text and "(f" not in text and "設" in text
    assert seeds["rugao-2023.txt"].metadata["city"] == "如皋市"


def test_changshu_navigation_gone(seeds: dict[str, Document]) -> None:
    text = seeds["changshu-2020.txt"].text
    for junk in ("常熟新闻网首页", "手机新闻网", "新闻客户端", "[责任编辑", "标签", "声明"):
        assert junk not in text
    assert text.startswith("新闻发布厅第六十七期")


def test_tianchang_heading_becomes_section_path(seeds: dict[str, Document]) -> None:
    chunks = chunk_document(seeds["tianchang-2021.txt"])
    award = next(c for c in chunks if "2020年8月被评为首批" in c.text)
    assert award.section == ("【任务措施】", "（一）大力推进全面依法治市工作")
    assert seeds["tianchang-2021.txt"].metadata == {"format": "txt", "encoding": "utf-8", "city": "天长市", "year": "2021"}


def test_heading_with_body_on_same_line_gets_lead_as_title(seeds: dict[str, Document]) -> None:
    chunks = chunk_document(seeds["suzhou-2023.txt"])
    first = next(c for c in chunks if c.text.startswith("（一）坚持党的全面领导"))
    assert first.section == ("二、法治政府建设主要举措和成效", "（一）坚持党的全面领导，准确把握法治政府建设方向")


def test_policy_structure_levels_nest() -> None:
    text = "第一章 总则\n第一条 为了规范行政执法，制定本办法。\n第二条 本办法适用于本市。\n第二章 执法程序\n（一）立案\n1.受理\n执法机关应当在七日内作出决定，并告知当事人。"
    doc = Document(docid="d", source="d", title="t", text=text, content_hash="h")
    sections = [c.section for c in chunk_document(doc, min_chars=0)]
    assert sections == [
        ("第一章 总则", "第一条 为了规范行政执法，制定本办法"),
        ("第一章 总则", "第二条 本办法适用于本市"),
        ("第二章 执法程序", "（一）立案", "1.受理"),
    ]


def test_long_one_line_document_splits_at_sentences() -> None:
    sentence = "各地要落实防控责任，做好物资保障工作。"
    text = " ".join([sentence * 8] * 6)  # NCP style: paragraphs flattened into one line with spaces
    doc = Document(docid="ncp", source="ncp", title="t", text=text, content_hash="h")
    chunks = chunk_document(doc, max_chars=200, min_chars=40)
    assert len(chunks) >= len(text) // 200
    for c in chunks:
        assert len(c.text) <= 200
        assert c.text.endswith("。")


def _check_invariant(docs: list[Document], max_chars: int = 360) -> int:
    n = 0
    for doc in docs:
        prev_end = 0
        for i, c in enumerate(chunk_document(doc, max_chars=max_chars)):
            assert c.ordinal == i
            assert doc.text[c.start:c.end] == c.text, (doc.docid, i)
            assert c.start >= prev_end, f"{doc.docid}#{i} overlaps the previous chunk"
            assert 0 < len(c.text) <= max_chars
            assert c.text == c.text.strip()
            prev_end = c.end
            n += 1
    return n


def test_offset_invariant_bundled_docs(seeds: dict[str, Document]) -> None:
    assert _check_invariant(list(seeds.values())) > 50


@pytest.mark.full  # the whole of two shared corpora: ~18 s, not the fast tier
@pytest.mark.parametrize("corpus", ["ncp", "drcd"])
def test_offset_invariant_shared_corpora(corpus: str) -> None:
    docs = _docs(shared_path("bench", corpus, "corpus.jsonl"))
    assert len(docs) >= 599
    assert _check_invariant(docs) > len(docs)


@pytest.mark.full  # a sample of 63,668 news articles: ~25 s
def test_offset_invariant_news_sample() -> None:
    import gzip
    import json

    path = shared_path("bench", "news", "corpus.jsonl.gz")
    from rag.ingest import build_document
    from rag.ingest.base import RawDocument

    docs = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for _, line in zip(range(2000), fh):
            rec = json.loads(line)
            docs.append(build_document(RawDocument(docid=str(rec["docid"]), source="news", text=rec["text"], content_hash="")))
    assert _check_invariant(docs) > 2000
