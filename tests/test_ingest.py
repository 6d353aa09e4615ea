"""Every format and every kind of bad input, on real files written here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.ingest import find_files, ingest_file, ingest_paths
from tests.files import LIMITS, PARA, docx_file, image_only_pdf, pdf_with_lines, pdf_with_table

TRAD = "如皋市司法局堅持以習近平新時代中國特色社會主義思想為指導，全面推進依法治市和司法行政工作高質量發展。"


def _one(path: Path):
    result = ingest_file(path, path.name, LIMITS)
    assert result.ok, result.errors
    assert len(result.documents) == 1
    return result.documents[0]


@pytest.mark.parametrize(
    "encoding, text",
    [
        ("utf-8", PARA),
        ("utf-8-sig", PARA),
        ("utf-16", PARA),
        ("utf-16-le", PARA),
        ("gbk", PARA),
        ("gb18030", PARA),
        ("big5", TRAD),
    ],
)
def test_text_encodings_detected_from_content(tmp_path: Path, encoding: str, text: str) -> None:
    path = tmp_path / "doc.txt"
    path.write_bytes((text + "\n" + text).encode(encoding))
    doc = _one(path)
    assert doc.text == text + "\n" + text
    assert doc.metadata["format"] == "txt"


def test_big5_and_gbk_are_not_confused_on_short_text(tmp_path: Path) -> None:
    (tmp_path / "b.txt").write_bytes("行政復議應訴工作規範化".encode("big5"))
    (tmp_path / "g.txt").write_bytes("行政复议应诉工作规范化".encode("gbk"))
    assert _one(tmp_path / "b.txt").metadata["encoding"] == "big5"
    assert _one(tmp_path / "g.txt").metadata["encoding"] == "gb18030"


def test_markdown_markup_dropped(tmp_path: Path) -> None:
    path = tmp_path / "notice.md"
    path.write_text("# 关于法治政府建设的通知\n\n## 一、总体要求\n\n- **坚持**依法行政。\n", encoding="utf-8")
    doc = _one(path)
    assert doc.text == "关于法治政府建设的通知\n一、总体要求\n坚持依法行政。"
    assert doc.title == "关于法治政府建设的通知"


def test_html_keeps_main_text_only(tmp_path: Path) -> None:
    html = f"""<html><head><title>天长市法治创建 - 司法局网站</title><script>var x="脚本内容";</script>
    <style>.a{{color:red}}</style></head><body>
    <div class="nav"><a href="/">网站首页</a><a>机构设置</a><a>政务公开</a></div>
    <div class="breadcrumb">首页 &gt; 新闻 &gt; 正文</div>
    <div id="content"><h1>天长市法治创建工作案例</h1><p>{PARA}</p><p>第二段内容，依法行政。</p>
    <table><tr><td>指标</td><td>数值</td></tr></table></div>
    <div class="footer">版权所有 天长市司法局 备案号</div></body></html>"""
    path = tmp_path / "page.html"
    path.write_text(html, encoding="utf-8")
    doc = _one(path)
    assert doc.title == "天长市法治创建工作案例"
    assert PARA in doc.text and "第二段内容，依法行政。" in doc.text
    for junk in ("脚本内容", "机构设置", "版权所有", "color:red", "正文"):
        assert junk not in doc.text


def test_html_in_gbk_with_meta_charset(tmp_path: Path) -> None:
    html = f'<html><head><meta charset="gbk"></head><body><p>{PARA}</p></body></html>'
    path = tmp_path / "gbk.htm"
    path.write_bytes(html.encode("gbk"))
    assert PARA in _one(path).text


def test_docx_paragraphs_and_tables_in_order(tmp_path: Path) -> None:
    path = docx_file(tmp_path / "n.docx", ["第一段：总体要求。", "第三段：工作安排。"],
                     [["项目", "完成数"], ["行政复议", "120件"]])
    doc = _one(path)
    assert doc.text.split("\n") == ["第一段：总体要求。", "项目 | 完成数", "行政复议 | 120件", "第三段：工作安排。"]
    assert doc.title == "测试通知"


#: A report page: a paragraph wrapped over several lines, then a table of results.
TABLE_INTRO = ("天长市2023年坚持以习近平新时代中国特色社会主义思想为指导，深入贯彻落实习近平法治思想，全面推进依法行政，"
               "加快建设法治政府，各项工作取得积极成效，群众满意度持续提升。") * 3 + "全年主要指标完成情况如下表。"
TABLE = [["项目", "2023年完成情况"], ["行政复议", "办理行政复议案件215件"], ["法律援助", "办理法律援助案件1234件"],
         ["人民调解", "调解成功率达到98.7%"]]


def test_pdf_table_rows_keep_their_cells_together_in_order(tmp_path: Path) -> None:
    doc = _one(pdf_with_table(tmp_path / "report.pdf", TABLE_INTRO, TABLE))
    lines = doc.text.split("\n")
    assert [" ".join(row) for row in TABLE] == lines[-4:]  # a row a line, never joined to the next row


@pytest.mark.full
def test_a_figure_in_a_table_cell_is_found_and_quoted(tmp_path: Path, use) -> None:
    from rag.config import Settings
    from rag.index.build import update_index
    from rag.service import PolicyQA

    folder = tmp_path / "docs"
    folder.mkdir()
    pdf_with_table(folder / "tianchang-2023.pdf", TABLE_INTRO, TABLE)
    docx_file(folder / "taicang-2023.docx", ["太仓市2023年法治政府建设情况如下。", "以上为主要指标。"],
              [["项目", "完成情况"], ["行政复议", "太仓市办理行政复议案件356件"]])
    settings = Settings(index_dir=tmp_path / "index", embedding_model="use-m3")
    assert update_index(settings, [folder], use).files_failed == 0
    qa = PolicyQA(settings)
    try:
        answer = qa.ask("天长市2023年办理了多少件法律援助案件？")
        assert not answer.refused and "1234件" in answer.answer
        assert answer.citations[0].quote == "法律援助 办理法律援助案件1234件" and answer.citations[0].page == 1
        answer = qa.ask("太仓市办理行政复议案件多少件？")
        assert not answer.refused and "356件" in answer.answer and answer.citations[0].docid == "taicang-2023.docx"
        assert qa.ask("天长市人民调解成功率是多少？").citations[0].quote.endswith("98.7%")
    finally:
        qa.close()


def test_pdf_line_wrap_inside_sentence_is_rejoined(tmp_path: Path) -> None:
    wrapped = [PARA[i:i + 20] for i in range(0, len(PARA), 20)]
    lines = ["一、基本情况", *wrapped, "二、主要做法", "建立健全依法决策机制，全年审查规范性文件32件。"]
    doc = _one(pdf_with_lines(tmp_path / "report.pdf", lines))
    assert doc.text.split("\n") == ["一、基本情况", PARA, "二、主要做法", "建立健全依法决策机制，全年审查规范性文件32件。"]
    assert doc.metadata["format"] == "pdf"


def test_encrypted_pdf_is_a_clear_error(tmp_path: Path) -> None:
    path = pdf_with_lines(tmp_path / "secret.pdf", [PARA], password="s3cret")
    result = ingest_file(path, path.name, LIMITS)
    assert not result.documents
    assert "encrypted" in str(result.errors[0]) and "secret.pdf" in str(result.errors[0])


def test_corrupt_pdf_is_a_clear_error(tmp_path: Path) -> None:
    good = pdf_with_lines(tmp_path / "good.pdf", [PARA]).read_bytes()
    path = tmp_path / "broken.pdf"
    path.write_bytes(good[: len(good) // 3])
    result = ingest_file(path, path.name, LIMITS)
    assert not result.documents
    assert "damaged" in str(result.errors[0]) or "no text layer" in str(result.errors[0])
    path.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 8)
    assert "damaged" in str(ingest_file(path, path.name, LIMITS).errors[0])


def test_image_only_pdf_says_ocr(tmp_path: Path) -> None:
    result = ingest_file(image_only_pdf(tmp_path / "scan.pdf"), "scan.pdf", LIMITS)
    assert not result.documents
    message = str(result.errors[0])
    assert "no text layer" in message and "OCR" in message


def test_zero_byte_binary_and_unknown_files(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "blob.txt").write_bytes(bytes(range(256)) * 40)
    (tmp_path / "sheet.xlsx").write_bytes(b"PK\x03\x04whatever")
    (tmp_path / "drawing.vsd").write_bytes(b"whatever")
    messages = {Path(r.path).name: str(r.errors[0]) for r in ingest_paths([tmp_path], LIMITS) if r.errors}
    assert "empty" in messages["empty.txt"]
    assert "not a text file" in messages["blob.txt"]
    assert "not a readable zip" in messages["sheet.xlsx"]
    assert "unsupported file type '.vsd'" in messages["drawing.vsd"] and ".docx" in messages["drawing.vsd"]


def test_one_bad_file_never_stops_the_folder(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text(PARA, encoding="utf-8")
    (tmp_path / "b.pdf").write_bytes(b"%PDF-1.4 garbage")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "c.txt").write_bytes(TRAD.encode("big5"))
    (tmp_path / ".hidden.txt").write_text("不应读取", encoding="utf-8")
    results = {r.path: r for r in ingest_paths([tmp_path], LIMITS)}
    assert [Path(p).name for p in results] == ["a.txt", "b.pdf", "c.txt"]
    assert results[str(tmp_path / "a.txt")].ok and results[str(sub / "c.txt")].ok
    assert results[str(sub / "c.txt")].documents[0].docid == "sub/c.txt"
    assert not results[str(tmp_path / "b.pdf")].ok


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file"):
        list(find_files([tmp_path / "nope"]))


def test_jsonl_bad_line_is_reported_and_the_rest_loads(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    lines = [json.dumps({"docid": "d1", "text": PARA}, ensure_ascii=False), "{not json",
             json.dumps({"docid": "d2", "text": TRAD, "title": "如皋"}, ensure_ascii=False)]
    path.write_text("\n".join(lines), encoding="utf-8")
    result = ingest_file(path, path.name, LIMITS)
    assert [d.docid for d in result.documents] == ["d1", "d2"]
    assert result.documents[1].title == "如皋"
    assert len(result.errors) == 1 and "corpus.jsonl:2" in str(result.errors[0])
