"""Scanned PDFs and document images read with the packaged OCR (no network: the offline guard is on),
pages known to every citation, running headers/footers/page numbers removed."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from rag.config import Settings
from rag.ingest import ingest_file
from rag.ingest.pages import strip_running_lines
from rag.text import contains, search_key
from rag.text.normalize import normalize_pages
from rag.text.offsets import Traced
from tests.files import LIMITS, check_in_original, indexed
from tests.scans import image_pdf, scanned_page

ROOT = Path(__file__).resolve().parent.parent
FACT = "天长市2020年8月被评为首批全国法治政府建设示范市（县、区），省委书记为天长市颁发了奖牌。"
FILLER = "各乡镇、各部门要坚持以习近平新时代中国特色社会主义思想为指导，深入推进依法行政，加快建设法治政府。"
TABLE = [["项目", "2022年", "2023年"], ["行政复议案件", "120件", "215件"], ["行政诉讼案件", "48件", "37件"]]


# -- pure logic (fast) ------------------------------------------------------------------------------
def test_document_number_brackets_match_each_other() -> None:
    forms = ["天政办〔2023〕12号", "天政办（2023）12号", "天政办[2023]12号", "天政办［2023］12号", "天政办(2023)12号"]
    keys = {search_key(f) for f in forms}
    assert len(keys) == 1
    assert all(len(search_key(f)) == len(f) for f in forms)  # offsets still line up with the text
    assert contains("根据《关于印发天政办〔2023〕12号文件的通知》", "天政办[2023]12号")


def test_running_headers_footers_and_page_numbers_go() -> None:
    bodies = ["全市共化解矛盾纠纷4321件。", "调解成功率达到98.7%。", "", "新建公共法律服务站点46个。"]
    pages = [f"天长市人民政府文件\n{bodies[i - 1]}\n第{i}段正文，内容各不相同{i * 7}。\n- {i} -" for i in range(1, 5)]
    pages[2] = "天长市人民政府文件\n" + "正文只有一行。\n第 3 页 共 4 页"
    out = _strip(pages)
    assert all("人民政府文件" not in p and not p.rstrip().endswith("-") and "共 4 页" not in p for p in out)
    assert "全市共化解矛盾纠纷4321件。" in out[0] and "正文只有一行。" in out[2]
    long_line = "各乡镇、各部门要坚持以习近平新时代中国特色社会主义思想为指导，深入推进依法行政第{}条。"
    kept = _strip([f"{long_line.format(i)}\n正文{i}。" for i in range(3)])
    assert all(long_line.format(i) in kept[i] for i in range(3))  # a long repeated line is text, not a header
    assert _strip(["只有一页的通知\n正文。\n3"]) == ["只有一页的通知\n正文。"]  # a page number, even alone


def _strip(pages: list[str]) -> list[str]:
    return [p.text for p in strip_running_lines([Traced.of(p) for p in pages])]


def test_pages_are_joined_like_wrapped_lines_and_keep_their_starts() -> None:
    sentence = "天长市推进法治政府建设，全市共化解矛盾纠纷四千三百二十一件，调解成功率达到百分之九十八点七，" \
               "行政复议案件办理质效不断提高，群众满意度持续提升。"
    lines = [sentence[i:i + 20] for i in range(0, len(sentence), 20)]  # wrapped at 20 characters
    pages = ["标题\n" + "\n".join(lines[:-1]), lines[-1] + "\n第二页正文。", "", "首页 > 新闻\n第四页正文。"]
    traced, starts = normalize_pages([Traced.of(p) for p in pages])
    text = traced.text
    assert sentence in text.split("\n")  # the sentence running over the page break is one again
    assert len(starts) == 4 and starts[0] == 0
    assert text[starts[1]:].startswith(lines[-1] + "\n第二页正文")  # page 2 starts inside it, where its text does
    assert starts[2] == starts[3] and text[starts[3]:].startswith("第四页正文")  # blank page; boilerplate dropped
    assert "\ue000" not in text


# -- real OCR ---------------------------------------------------------------------------------------
def _scan_pdf(path: Path) -> Path:
    pages = [scanned_page([FILLER, FILLER.replace("各乡镇", "各街道")], header="天长市人民政府文件", footer="- 1 -", seed=1),
             scanned_page([FACT, FILLER, *TABLE], header="天长市人民政府文件", footer="- 2 -", seed=2)]
    return image_pdf(pages, path)


@pytest.mark.full
def _rows_of(paragraphs: list[str], *, per_line: int = 39, pitch: float = 68.0, height: float = 40.0) -> list:
    """OCR lines as a page set at ``pitch``/``height`` line spacing leaves them: each paragraph
    indented two characters, wrapped at ``per_line``, a half line between paragraphs."""
    from rag.ingest.ocr import Line

    char, y, out = 34.0, 200.0, []
    for para in paragraphs:
        text = "\u3000\u3000" + para
        for i in range(0, len(text), per_line):
            piece = text[i:i + per_line]
            x0 = 160 + char * (len(piece) - len(piece.lstrip("\u3000")))
            out.append(Line(piece.lstrip("\u3000"), x0, y, 160 + char * len(piece), y + height))
            y += pitch
        y += pitch / 2
    return out


def test_wide_line_spacing_is_not_a_paragraph_per_line() -> None:
    """公文 are set near 1.75-2x line spacing: the gap between wrapped rows is the page's usual gap,
    not a paragraph break (before, every row of such a page was a paragraph of its own)."""
    from rag.ingest.ocr import page_text

    paragraphs = [FILLER * 2, FACT + FILLER, FILLER + FACT]
    for pitch in (54.0, 68.0, 80.0):
        text = page_text(_rows_of(paragraphs, pitch=pitch), 1654)
        assert text.count("\n\n") == len(paragraphs) - 1, (pitch, text)
        assert normalize_pages([Traced.of(text)])[0].text.split("\n") == paragraphs, pitch


def test_a_sentence_over_a_page_break_is_joined_under_a_running_header() -> None:
    """A scan's header stands apart from the text by a gap, which reads as a paragraph break; it
    goes with the header, so the sentence cut by the page break is one again."""
    sentence = FILLER + FACT
    lines = [sentence[i:i + 20] for i in range(0, len(sentence), 20)]
    pages = ["天长市人民政府文件\n\n第一段。\n" + "\n".join(lines[:3]) + "\n\n- 1 -",
             "天长市人民政府文件\n\n" + "\n".join(lines[3:]) + "\n\n- 2 -"]
    text = normalize_pages(strip_running_lines([Traced.of(p) for p in pages]))[0].text
    assert sentence in text.split("\n"), text


@pytest.mark.full  # the real OCR model on two drawn pages
def test_image_only_pdf_is_read_with_pages_table_rows_and_a_cache(tmp_path: Path, monkeypatch) -> None:
    import rag.ingest.ocr as ocr

    path = _scan_pdf(tmp_path / "scan.pdf")
    limits = Settings(index_dir=tmp_path / "index").ingest_limits()
    result = ingest_file(path, "scan.pdf", limits)
    assert result.ok, result.errors
    doc = result.documents[0]
    assert doc.metadata["ocr"] == "1,2" and doc.metadata["format"] == "pdf"
    assert "人民政府文件" not in doc.text and "- 2 -" not in doc.text and "-2-" not in doc.text
    assert FACT in doc.text  # every character read, the wrapped lines joined back into one sentence
    starts = [int(x) for x in doc.metadata["page_starts"].split(",")]
    assert len(starts) == 2 and doc.text.index(FACT) >= starts[1]
    assert "行政复议案件 120件 215件" in doc.text.split("\n")  # a table row stays one line, cells in order
    cached = list(Path(limits.ocr_cache_dir).glob("*.json"))
    assert len(cached) == 2

    def no_engine():
        raise AssertionError("the OCR engine ran although every page is cached")

    monkeypatch.setattr(ocr, "_engine", no_engine)
    again = ingest_file(path, "scan.pdf", limits)
    assert again.ok and again.documents[0].text == doc.text


@pytest.mark.full
@pytest.mark.parametrize("spacing", [1.6, 1.75])
def test_a_scanned_docs_file_gives_the_chunks_of_its_text(tmp_path: Path, spacing: float) -> None:
    """The first part of docs/tianchang-2021.txt drawn as scanned pages (1.75: 公文 line spacing)
    becomes about the chunks its text does, and quotes across a line wrap and a page break are
    found (before: a paragraph per row at wide spacing, a sentence cut at every page break)."""
    from rag.chunk import chunk_document
    from rag.ingest import build_document
    from rag.ingest.base import RawDocument
    from tests.scans import paginate

    text = ingest_file(ROOT / "docs" / "tianchang-2021.txt", "t.txt", LIMITS).documents[0].text
    paragraphs = text.split("\n")[:14]
    pages = paginate(paragraphs, spacing=spacing)
    assert len(pages) >= 2
    images = [scanned_page(p, header="天长市法治创建工作案例", footer=f"- {i} -", seed=i, spacing=spacing)
              for i, p in enumerate(pages, 1)]
    scan = ingest_file(image_pdf(images, tmp_path / "scan.pdf"), "scan.pdf",
                       Settings(index_dir=tmp_path / "index").ingest_limits())
    assert scan.ok, scan.errors
    scanned = scan.documents[0]
    original = build_document(RawDocument("t.txt", "t.txt", "\n".join(paragraphs), "h"))
    settings = Settings()
    n_text = len(chunk_document(original, settings.chunk_max_chars, settings.chunk_min_chars))
    n_scan = len(chunk_document(scanned, settings.chunk_max_chars, settings.chunk_min_chars))
    assert abs(n_scan - n_text) <= max(1, n_text // 10), (n_text, n_scan, scanned.text)
    paragraphs_read = scanned.text.split("\n")
    assert abs(len(paragraphs_read) - len(paragraphs)) <= 2, scanned.text
    # a sentence wrapped over rows, and the paragraph the first page break cuts, each read as one
    assert "2020年8月被评为首批“全国法治政府建设示范市（县、区）”" in scanned.text
    cut = next(p for p in pages[1] if type(p).__name__ == "Continued")
    whole = next(p for p in paragraphs if p.endswith(cut))
    line = next(ln for ln in paragraphs_read if search_key(cut[:12]) in search_key(ln))
    assert search_key(whole[-len(cut) - 12:-len(cut)]) in search_key(line), line  # joined over the break


@pytest.mark.full
def test_scanned_fact_is_answered_with_its_page(tmp_path: Path, use) -> None:
    from pypdf import PdfReader, PdfWriter
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    corpus = tmp_path / "docs"
    corpus.mkdir()
    # a mixed PDF: page 1 has a text layer, pages 2-3 are scans
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    c.setFont("STSong-Light", 11)
    c.drawString(60, 800, "天长市人民政府文件")
    c.drawString(60, 760, "关于法治政府建设情况的报告")
    c.drawString(60, 740, "全市行政执法人员持证上岗率达到100%，执法案卷合格率逐年提高。")
    c.drawString(290, 40, "- 1 -")
    c.save()
    scans = _scan_pdf(tmp_path / "scans.pdf")
    writer = PdfWriter(clone_from=PdfReader(buf))
    for page in PdfReader(scans).pages:
        writer.add_page(page)
    with open(corpus / "mixed.pdf", "wb") as fh:
        writer.write(fh)
    scanned_page([FILLER, "滁州市2023年办理法律援助案件1234件，挽回经济损失560万元。"]).save(corpus / "notice.png")

    settings, qa = indexed(corpus, tmp_path / "index", use, embedding_model="use-m3")
    try:
        doc = qa.document("mixed.pdf")
        assert doc.metadata["ocr"] == "2,3" and doc.metadata["pages"] == "3"
        assert "持证上岗率达到100%" in doc.text and FACT in doc.text and "人民政府文件" not in doc.text
        answer = qa.ask("天长市何时被评为全国法治政府建设示范市？")
        assert not answer.refused and "2020年8月" in answer.answer
        cited = answer.citations[0]
        assert (cited.docid, cited.page) == ("mixed.pdf", 3)
        assert doc.text[cited.start:cited.end] == cited.quote
        answer = qa.ask("全市行政执法人员持证上岗率是多少？")
        assert not answer.refused and answer.citations[0].page == 1
        answer = qa.ask("滁州市2023年办理了多少件法律援助案件？")
        assert not answer.refused and "1234件" in answer.answer
        assert answer.citations[0].docid == "notice.png" and answer.citations[0].page == 1
        assert qa.ask("天长市行政复议案件2023年有多少件？").citations[0].quote.count("215件") == 1
        # the original page with the quote highlighted where it stands: a scanned page (OCR line
        # boxes from the cache) and a text-layer page (PDFium character boxes)
        fact = qa.ask("天长市何时被评为全国法治政府建设示范市？").citations[0]
        assert highlighted(qa.page_image("mixed.pdf", 3, fact.start, fact.end)) > 500
        assert highlighted(qa.page_image("mixed.pdf", 2, fact.start, fact.end)) == 0  # not on that page
        text_layer = qa.ask("全市行政执法人员持证上岗率是多少？").citations[0]
        assert highlighted(qa.page_image("mixed.pdf", 1, text_layer.start, text_layer.end)) > 200
        png = qa.page_image("notice.png", 1, answer.citations[0].start, answer.citations[0].end)
        assert highlighted(png) > 200
        with pytest.raises(ValueError, match="has 3 pages"):
            qa.page_image("mixed.pdf", 4)
        # every quote found where it stands in the text read from the file (OCR read again, from its cache)
        cited = [c.model_dump() for c in (fact, text_layer, answer.citations[0])]
        assert check_in_original(cited, corpus, settings.ingest_limits()) == 3
    finally:
        qa.close()


def highlighted(png: bytes) -> int:
    """Pixels of the red outline PolicyQA draws around a highlighted quote."""
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return int(((pixels[..., 0] > 180) & (pixels[..., 1] < 80) & (pixels[..., 2] < 80)).sum())


@pytest.mark.full
def test_broken_images_are_clear_errors(tmp_path: Path) -> None:
    buf = io.BytesIO()
    scanned_page(["一段文字。"]).save(buf, "PNG")
    (tmp_path / "cut.png").write_bytes(buf.getvalue()[:5000])
    (tmp_path / "noise.jpg").write_bytes(bytes(range(256)) * 50)
    blank = np.full((400, 600, 3), 255, dtype=np.uint8)
    from PIL import Image

    Image.fromarray(blank).save(tmp_path / "blank.png")
    for name, problem in [("cut.png", "not a readable image"), ("noise.jpg", "not a readable image"),
                          ("blank.png", "no text was recognised")]:
        result = ingest_file(tmp_path / name, name, LIMITS)
        assert not result.documents and problem in str(result.errors[0]), (name, result.errors)
