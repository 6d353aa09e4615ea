"""OFD files (GB/T 33190-2016): text in reading order with its pages, scans through OCR, the page
view with the quote highlighted, and every kind of bad OFD named with nothing else lost."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rag.config import Settings
from rag.ingest import ingest_file
from rag.ingest.ofd_layout import reading_glyphs, steps, text_of
from rag.ingest.ofd_package import IDENTITY, PagePart, parse_xml
from rag.ingest.view import PageRequest, page_png
from tests.files import LIMITS, PARA, check_in_original, indexed
from tests.ofd_files import HEADER, NS, Scan, bad_ofds, ofd_file, ofd_parts, write_zip
from tests.test_ocr import highlighted

PAGE1 = [PARA, ["项目", "数量"], ["调解", "8850件"]]
FACT2 = "天长市2021年共办理行政复议案件312件，其中纠错率为百分之十二，较上年下降三个百分点。"
PAGE2 = [FACT2, "其他事项另行通知，请各单位认真贯彻落实。"]
FACT3 = "天长市2022年组织开展法治宣传活动共计186场次。"
SCAN3 = Scan(("各乡镇、各部门要加强普法宣传工作。", FACT3))


def _page(*objects: str, width: float = 210) -> PagePart:
    layer = parse_xml(Path("t.ofd"), "Content.xml", f'<ofd:Layer {NS}>{"".join(objects)}</ofd:Layer>'.encode())
    return PagePart(1, width, 297, ((layer, IDENTITY),), ())


def _obj(x: float, y: float, text: str, size: float = 4.0, delta: str | None = None, ctm: str = "") -> str:
    delta = delta if delta is not None else (f"g {len(text) - 1} {size}" if len(text) > 1 else "")
    return (f'<ofd:TextObject ID="1" Boundary="{x} {y} 200 {size * 2}" Size="{size}"'
            + (f' CTM="{ctm}"' if ctm else "") + f'><ofd:TextCode X="0" Y="{size}" DeltaX="{delta}">{text}'
            "</ofd:TextCode></ofd:TextObject>")


def test_steps_expand_the_standards_compressed_form() -> None:
    assert steps("g 3 4.2 1 2.5") == [4.2, 4.2, 4.2, 1.0, 2.5]
    assert steps(None) == [] and steps("1 x 2") == [1.0]


def test_reading_order_from_where_characters_stand() -> None:
    left = ["左栏第一行的文字内容写在这里共十九个字", "左栏第二行的文字内容写在这里共十九个字", "左栏第三行的文字内容写在这里共十九个字"]
    right = ["右栏第一行的文字内容写在这里共十九个字", "右栏第二行的文字内容写在这里共十九个字", "右栏第三行的文字内容写在这里共十九个字"]
    objects = [_obj(110, 60 + 8 * i, t) for i, t in enumerate(right)][::-1] + \
              [_obj(20, 60 + 8 * i, t) for i, t in enumerate(left)]
    objects += [_obj(60 + 4 * i, 30, ch) for i, ch in reversed(list(enumerate("关于印发通知的说明")))]  # a glyph each
    objects.append(_obj(20, 95, "全宽" * 21))  # a full-width line closes the columns' band
    objects.append(_obj(20, 103, "项目数量", delta="4 40 4"))  # a table row in one TextCode: a jump to the cell
    objects.append(_obj(20, 111, "字号八的缩放文字", size=8, ctm="0.5 0 0 0.5 0 0"))  # drawn at size 4
    objects += [_obj(20, 119, "PolicyQA", delta="g 7 2"), _obj(37.5, 119, "OFD", delta="g 2 2")]  # a word gap
    text = text_of(_page(*objects))
    lines = [ln for ln in text.split("\n") if ln]
    assert lines[0] == "关于印发通知的说明"
    assert lines[1:7] == left + right  # the left column before the right, each top to bottom
    assert lines[7:] == ["全宽" * 21, "项目 数量", "字号八的缩放文字", "PolicyQA OFD"]
    glyphs = reading_glyphs(_page(*objects))
    assert "".join(g.char for g in glyphs) == "".join(text.split())  # the page view's order is the text's
    scaled = next(g for g in glyphs if g.char == "缩")  # 4 steps of 8 in the object, halved by its CTM
    assert scaled.size == pytest.approx(4.0) and scaled.x0 == pytest.approx(20 + 4 * 8 * 0.5)


def _unit_page(parts: dict[str, bytes], page: int, unit: bytes, drawn: str) -> dict[str, bytes]:
    """``parts`` with graphic unit 77 (of ``unit``'s content) declared and page ``page`` drawing it by
    ``drawn`` (and no template)."""
    res = parts["Doc_0/DocumentRes.xml"].replace(
        b"</ofd:MultiMedias>", b'</ofd:MultiMedias><ofd:CompositeGraphicUnits><ofd:CompositeGraphicUnit ID="77" '
        b'Width="210" Height="297"><ofd:Content>' + unit + b"</ofd:Content></ofd:CompositeGraphicUnit>"
        b"</ofd:CompositeGraphicUnits>")
    member = f"Doc_0/Pages/Page_{page - 1}/Content.xml"
    head = parts[member].partition(b"<ofd:Content>")[0].replace(b'<ofd:Template TemplateID="2" ZOrder="Background"/>', b"")
    return {**parts, "Doc_0/DocumentRes.xml": res,
            member: head + b'<ofd:Content><ofd:Layer ID="9">' + drawn.encode() + b"</ofd:Layer></ofd:Content></ofd:Page>"}


def test_what_converters_seals_and_windows_tools_write(tmp_path: Path) -> None:
    """Text inside a graphic unit drawn by a CompositeObject (PDF converters), a diagonal
    watermark across the rows, a template named in another case, a unit that draws itself."""
    from rag.ingest.ofd_package import open_ofd

    parts = ofd_parts([PAGE1, PAGE2])
    layer = parts["Doc_0/Pages/Page_1/Content.xml"].split(b'Type="Body">')[1].split(b"</ofd:Layer>")[0]
    half = write_zip(tmp_path / "unit.ofd", _unit_page(parts, 2, layer, '<ofd:CompositeObject ID="78" '
                                                       'Boundary="0 0 105 148.5" CTM="0.5 0 0 0.5 0 0" ResourceID="77"/>'))
    with open_ofd(half, LIMITS) as package:
        placed = reading_glyphs(package.page(2))
    original = reading_glyphs(_page(layer.decode()))  # the same objects straight on the page
    assert "".join(g.char for g in placed) == "".join(g.char for g in original)
    assert placed[0].x0 == pytest.approx(original[0].x0 / 2) and placed[0].y1 == pytest.approx(original[0].y1 / 2)
    (doc,) = ingest_file(half, half.name, LIMITS).documents
    assert FACT2 in doc.text and doc.text.index(FACT2) > doc.text.index("8850件")

    mark = ('<ofd:TextObject ID="99" Boundary="30 200 200 200" CTM="0.7071 -0.7071 0.7071 0.7071 0 0" Size="12">'
            '<ofd:TextCode X="0" Y="12" DeltaX="g 7 12">仅供内部参考使用</ofd:TextCode></ofd:TextObject>')
    page1 = parts["Doc_0/Pages/Page_0/Content.xml"].replace(b"</ofd:Layer>", mark.encode() + b"</ofd:Layer>")
    document = parts["Doc_0/Document.xml"].replace(b"Tpls/Tpl_0/Content.xml", b"TPLS/TPL_0/CONTENT.XML")
    marked = write_zip(tmp_path / "mark.ofd", {**parts, "Doc_0/Pages/Page_0/Content.xml": page1,
                                               "Doc_0/Document.xml": document})
    with open_ofd(marked, LIMITS) as package:
        page = package.page(1)
        text = text_of(page)
        assert not package.warnings
    assert PARA in "".join(text.split("\n")) and text.endswith("\n\n仅供内部参考使用") and text.startswith(HEADER)
    assert "".join(g.char for g in reading_glyphs(page)) == "".join(text.split())  # the view reads it so too

    drawn = '<ofd:CompositeObject ID="79" Boundary="0 0 10 10" ResourceID="77"/>'
    loop = write_zip(tmp_path / "loop.ofd", _unit_page(parts, 2, drawn.encode() * 200, drawn))
    (doc,) = ingest_file(loop, loop.name, LIMITS).documents
    assert "8850件" in doc.text and any("draw more than 20,000 graphic units" in w for w in doc.warnings)


def test_text_pages_are_read_with_their_pages_title_and_no_running_lines(tmp_path: Path) -> None:
    path = ofd_file(tmp_path / "通知.ofd", [PAGE1, PAGE2], title="关于法治政府建设的通知")
    (doc,) = ingest_file(path, path.name, LIMITS).documents
    assert doc.title == "关于法治政府建设的通知" and doc.metadata["pages"] == "2" and "ocr" not in doc.metadata
    starts = [int(s) for s in doc.metadata["page_starts"].split(",")]
    assert len(starts) == 2 and doc.text.index("312件") > starts[1] > doc.text.index("8850件")
    assert FACT2 in doc.text and "调解 8850件" in doc.text
    assert HEADER not in doc.text and "- 1 -" not in doc.text  # the template's header and page numbers go


def test_page_view_draws_an_ofd_page_and_boxes_the_quote(tmp_path: Path) -> None:
    path = ofd_file(tmp_path / "a.ofd", [PAGE1, PAGE2])
    png = page_png(PageRequest(str(path), 2, "共办理行政复议案件312件", False, 200, None), LIMITS)
    assert png.startswith(b"\x89PNG") and _marked(png, path, 2) > 300
    assert _marked(page_png(PageRequest(str(path), 1, "共办理行政复议案件312件", False, 200, None), LIMITS), path, 1) == 0
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(png))
    assert image.width <= 1100 and image.height <= 3300
    capped = Settings(render_max_pixels=1_000_000).ingest_limits()
    small = Image.open(io.BytesIO(page_png(PageRequest(str(path), 2, "", False, 200, None), capped)))
    assert small.width * small.height <= 1_000_000 * 1.01 < image.width * image.height


def _marked(png: bytes, path: Path, page: int) -> int:
    """Highlight pixels beyond the page's own red ones (the template's red 文件 header)."""
    return highlighted(png) - highlighted(page_png(PageRequest(str(path), page, "", False, 200, None), LIMITS))


def test_a_huge_page_and_a_huge_image_box_are_drawn_within_the_cap(tmp_path: Path) -> None:
    import io

    from PIL import Image

    parts = ofd_parts([PAGE1, SCAN3])
    huge = parts["Doc_0/Pages/Page_0/Content.xml"].replace(b"0 0 210 297", b"0 0 250000 250000")  # 250 m square
    scan = parts["Doc_0/Pages/Page_1/Content.xml"].replace(b'Boundary="0 0 210 297"', b'Boundary="-5e6 -5e6 1e7 1e7"')
    path = write_zip(tmp_path / "huge.ofd", {**parts, "Doc_0/Pages/Page_0/Content.xml": huge,
                                             "Doc_0/Pages/Page_1/Content.xml": scan})
    for page in (1, 2):
        started = time.process_time()
        image = Image.open(io.BytesIO(page_png(PageRequest(str(path), page, "", False, 200, None), LIMITS)))
        assert image.width <= 1100 and image.height <= 3300 and time.process_time() - started < 10


def test_bad_ofds_are_named_and_a_missing_page_costs_only_that_page(tmp_path: Path) -> None:
    expected = bad_ofds(tmp_path, [PAGE1, PAGE2])
    results = {name: ingest_file(tmp_path / name, name, LIMITS) for name in expected}  # (isolated: the mess folder)
    for name, word in expected.items():
        result = results[name]
        if word is None:
            assert result.ok, (name, result.errors)
        else:
            (err,) = result.errors
            assert not result.documents and name in str(err) and word.lower() in str(err).lower(), (name, err)
            assert any("\u4e00" <= ch <= "\u9fff" for ch in err.problem), err  # said in Chinese too
    (doc,) = results["missing-page.ofd"].documents
    assert "8850件" in doc.text and "312件" not in doc.text
    assert any("page 2 of 2 cannot be read" in w and "Page_1/Content.xml" in w for w in doc.warnings), doc.warnings


def test_a_page_that_cannot_be_read_is_no_page_view_and_an_oversized_scan_is_that_pages_warning(tmp_path: Path) -> None:
    from rag.ingest.view import PageNotAvailable

    bad_ofds(tmp_path, [PAGE1, PAGE2])
    with pytest.raises(PageNotAvailable, match="page 2 cannot be drawn.*missing"):
        page_png(PageRequest(str(tmp_path / "missing-page.ofd"), 2, "", False, 200, None), LIMITS)
    with pytest.raises(PageNotAvailable, match="has 2 pages, not 3"):
        page_png(PageRequest(str(tmp_path / "good.ofd"), 3, "", False, 200, None), LIMITS)
    path = ofd_file(tmp_path / "scan.ofd", [PAGE1, SCAN3])
    (doc,) = ingest_file(path, path.name, Settings(ingest_image_max_pixels=1_000_000).ingest_limits()).documents
    assert "8850件" in doc.text and "ocr" not in doc.metadata
    assert any("page 2 of 2" in w and "1654x2339 pixels, over the limit" in w for w in doc.warnings), doc.warnings


def test_an_ofd_without_text_says_why(tmp_path: Path) -> None:
    parts = ofd_parts([PAGE1])
    drawing = parts["Doc_0/Pages/Page_0/Content.xml"].split(b"<ofd:Content>")[0] + (
        b'<ofd:Content><ofd:Layer ID="9"><ofd:PathObject ID="10" Boundary="10 10 50 50"><ofd:AbbreviatedData>'
        b"M 0 0 L 50 0 L 50 50 C</ofd:AbbreviatedData></ofd:PathObject></ofd:Layer></ofd:Content></ofd:Page>")
    outlines = write_zip(tmp_path / "outlines.ofd", {**parts, "Doc_0/Pages/Page_0/Content.xml": drawing,
                                                     "Doc_0/Tpls/Tpl_0/Content.xml": b"<ofd:Page " + NS.encode() + b"/>"})
    (err,) = ingest_file(outlines, outlines.name, LIMITS).errors
    assert "no images: only drawings, and text drawn as outlines is not read" in err.problem
    scan = ofd_file(tmp_path / "scan.ofd", [SCAN3])
    (err,) = ingest_file(scan, scan.name, Settings(ocr=False).ingest_limits()).errors
    assert "OCR is off" in err.problem and "Turn OCR on" in err.remedy


def test_an_xml_bomb_fails_fast_and_paths_stay_inside_the_document(tmp_path: Path) -> None:
    from tests.ofd_files import BOMB

    parts = ofd_parts([PAGE1])
    bomb = write_zip(tmp_path / "bomb.ofd", {**parts, "OFD.xml": BOMB.encode()})
    started = time.process_time()
    (err,) = ingest_file(bomb, bomb.name, LIMITS).errors
    assert "XML bomb" in err.problem and time.process_time() - started < 5  # not a billion laughs expanded
    escape = parts["Doc_0/Document.xml"].replace(b"Pages/Page_0/Content.xml", b"../../../etc/passwd")
    (err,) = ingest_file(write_zip(tmp_path / "escape.ofd", {**parts, "Doc_0/Document.xml": escape}), "e.ofd",
                         LIMITS).errors
    assert "outside its document's folder" in err.problem
    outside = parts["OFD.xml"].replace(b"Doc_0/Document.xml", b"../Doc_0/Document.xml")
    (err,) = ingest_file(write_zip(tmp_path / "root.ofd", {**parts, "OFD.xml": outside}), "r.ofd", LIMITS).errors
    assert "outside" in err.problem


def test_the_archive_limits_hold_for_ofd(tmp_path: Path) -> None:
    path = ofd_file(tmp_path / "a.ofd", [PAGE1])
    (err,) = ingest_file(path, path.name, Settings(ingest_archive_max_members=3).ingest_limits()).errors
    assert "members" in err.problem
    big = write_zip(tmp_path / "big.ofd", {**ofd_parts([PAGE1]), "Doc_0/Res/pad.bin": b"\0" * (4 << 20)})
    (err,) = ingest_file(big, big.name, LIMITS).errors
    assert "zip bomb" in err.problem


@pytest.mark.full
def test_an_ofd_is_indexed_and_answered_with_its_page_and_the_page_view(tmp_path: Path, use) -> None:
    """Two text pages and a scanned one, through the real pipeline (packaged model, OCR, extractive)."""
    corpus = tmp_path / "docs"
    corpus.mkdir()
    ofd_file(corpus / "天长通知.ofd", [PAGE1, PAGE2, SCAN3])
    settings, qa = indexed(corpus, tmp_path / "index", use, embedding_model="use-m3", answer_mode="extractive")
    try:
        doc = qa.document("天长通知.ofd")
        assert doc.metadata["ocr"] == "3" and doc.metadata["pages"] == "3"
        answer = qa.ask("天长市2021年办理了多少件行政复议案件？")
        assert not answer.refused and "312件" in answer.answer
        cited = answer.citations[0]
        assert (cited.docid, cited.page) == ("天长通知.ofd", 2) and doc.text[cited.start:cited.end] == cited.quote
        red = {n: highlighted(qa.page_image("天长通知.ofd", n)) for n in (1, 2)}  # the red header, unquoted
        assert highlighted(qa.page_image("天长通知.ofd", 2, cited.start, cited.end)) - red[2] > 300
        assert highlighted(qa.page_image("天长通知.ofd", 1, cited.start, cited.end)) - red[1] == 0
        scanned = qa.ask("天长市2022年开展了多少场法治宣传活动？")
        assert not scanned.refused and "186场次" in scanned.answer and scanned.citations[0].page == 3
        c = scanned.citations[0]
        assert highlighted(qa.page_image("天长通知.ofd", 3, c.start, c.end)) > 200  # OCR lines, from the cache
        # each quote where it stands in the text read from the file again (page 3 from the OCR cache)
        assert check_in_original([cited.model_dump(), c.model_dump()], corpus, settings.ingest_limits()) == 2
    finally:
        qa.close()
