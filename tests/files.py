"""Real files of every supported format, written by the tests themselves."""

from __future__ import annotations

import io
from pathlib import Path

from rag.config import Settings

#: The default limits on reading one file (tests run with no POLICYQA_* variables: see conftest).
LIMITS = Settings().ingest_limits()

PARA = "天长市2020年8月被评为首批全国法治政府建设示范市（县、区），省委书记为天长市颁发了奖牌。"


def pdf_with_lines(path: Path, lines: list[str], *, password: str | None = None) -> Path:
    from pypdf import PdfReader, PdfWriter
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    c.setFont("STSong-Light", 11)
    y = 780
    for line in lines:
        c.drawString(60, y, line)
        y -= 18
    c.save()
    data = buf.getvalue()
    if password:
        writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
        writer.encrypt(user_password=password, owner_password=password, algorithm="AES-128")
        out = io.BytesIO()
        writer.write(out)
        data = out.getvalue()
    path.write_bytes(data)
    return path


def image_only_pdf(path: Path) -> Path:
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path))
    for i in range(2):
        c.setFillGray(0.3)
        c.rect(60, 600 - i * 40, 400, 20, fill=1)  # ink, but no text layer (like a scan)
        c.showPage()
    c.save()
    return path


def docx_file(path: Path, paragraphs: list[str], table: list[list[str]]) -> Path:
    import docx

    d = docx.Document()
    d.core_properties.title = "测试通知"
    d.add_paragraph(paragraphs[0])
    t = d.add_table(rows=len(table), cols=len(table[0]))
    for r, row in enumerate(table):
        for c, value in enumerate(row):
            t.cell(r, c).text = value
    for p in paragraphs[1:]:
        d.add_paragraph(p)
    d.save(str(path))
    return path


def rezip(source: Path, target: Path, replace: dict[str, bytes]) -> Path:
    """A copy of the zip ``source`` with some members' bytes replaced (added if missing)."""
    import zipfile

    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            zout.writestr(item.filename, replace.get(item.filename, zin.read(item.filename)))
        for name, data in replace.items():
            if name not in zin.namelist():
                zout.writestr(name, data)
    return target


def malformed_docx(path: Path) -> Path:
    """A docx whose [Content_Types].xml has no namespace, as some non-Word tools write it
    (python-docx raised AttributeError: 'lxml.etree._Element' object has no attribute 'overrides')."""
    real = docx_file(path.with_suffix(".src.docx"), [PARA], [["a", "b"]])
    rezip(real, path, {"[Content_Types].xml": b"<Types/>"})
    real.unlink()
    return path


def docx_bomb(path: Path, inflated_mb: int = 200) -> Path:
    """A small docx whose word/document.xml inflates to ``inflated_mb`` MB."""
    real = docx_file(path.with_suffix(".src.docx"), [PARA], [["a", "b"]])
    body = (b'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/'
            b'wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>' + b" " * (inflated_mb << 20)
            + b"</w:t></w:r></w:p></w:body></w:document>")
    rezip(real, path, {"word/document.xml": body})
    real.unlink()
    return path


def pdf_bomb(path: Path, inflated_mb: int = 200) -> Path:
    """A one-page PDF whose content stream inflates to ``inflated_mb`` MB (pypdf stops at its own
    75 MB per-stream limit; the reader process's memory limit bounds the rest)."""
    import zlib

    from pypdf import PdfWriter
    from pypdf.generic import EncodedStreamObject, NameObject

    writer = PdfWriter()
    page = writer.add_blank_page(200, 200)
    stream = EncodedStreamObject()
    stream._data = zlib.compress(b" " * (inflated_mb << 20), 9)
    stream[NameObject("/Filter")] = NameObject("/FlateDecode")
    page[NameObject("/Contents")] = writer._add_object(stream)
    writer.write(path)
    return path


def messy_folder(folder: Path) -> dict[str, str | None]:
    """A folder of the files users really drop in: name -> a word its error must contain, or None
    for the good files that must be read. Every bad file must be named with an error and no
    traceback; the good ones must still be indexed."""
    import gzip
    import os

    folder.mkdir(parents=True, exist_ok=True)
    good_docx = docx_file(folder / "good.docx", [PARA, PARA], [["项目", "数量"], ["调解", "8850件"]])
    data = good_docx.read_bytes()
    pdf_with_lines(folder / "good.pdf", [PARA])
    (folder / "gbk.txt").write_bytes((PARA * 3).encode("gbk"))
    (folder / "big5.txt").write_bytes("如皋市司法局堅持以習近平新時代中國特色社會主義思想為指導。".encode("big5") * 3)
    (folder / "one-line-1mb.txt").write_text(PARA * (1_000_000 // len(PARA.encode("utf-8")) + 1), encoding="utf-8")
    malformed_docx(folder / "malformed.docx")
    docx_bomb(folder / "bomb.docx")
    (folder / "not-a-zip.docx").write_bytes(PARA.encode("utf-8"))
    (folder / "truncated.docx").write_bytes(data[: len(data) // 2])
    rezip(good_docx, folder / "empty-body.docx", {"word/document.xml": b""})
    rezip(good_docx, folder / "broken-xml.docx", {"word/document.xml": b"<w:document><w:body><w:p>"})
    (folder / "really-a-pdf.docx").write_bytes((folder / "good.pdf").read_bytes())
    pdf_with_lines(folder / "encrypted.pdf", [PARA], password="secret")
    pdf = (folder / "good.pdf").read_bytes()
    (folder / "truncated.pdf").write_bytes(pdf[: len(pdf) // 3])
    (folder / "garbage.pdf").write_bytes(b"%PDF-1.7\n" + os.urandom(4000))
    image_only_pdf(folder / "scanned.pdf")
    (folder / "binary.txt").write_bytes(os.urandom(3000))
    (folder / "nul-bytes.txt").write_bytes(("正文" * 50).encode("utf-8").replace(b"\xe6", b"\x00"))
    (folder / "empty.txt").write_bytes(b"")
    (folder / "blank.md").write_text("\n\n   \n", encoding="utf-8")
    (folder / "binary.html").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(2000))
    (folder / "deep.html").write_text("<div>" * 50_000 + PARA + "</div>" * 50_000, encoding="utf-8")
    (folder / "notes.xyz").write_bytes(b"whatever")
    (folder / "sheet.xlsx").write_bytes(data)
    (folder / "bad-lines.jsonl").write_text('{"docid": "../../../etc/passwd", "text": "x"}\nnot json\n'
                                            '{"docid": "a\\u0000b", "text": "正文"}\n', encoding="utf-8")
    (folder / "not-gzip.jsonl.gz").write_bytes(b"plain text, not gzip")
    (folder / "png-named.pdf").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(500))
    from pypdf import PdfWriter

    PdfWriter().write(folder / "no-pages.pdf")
    (folder / "only-nav.html").write_text("<html><body><nav>首页 | 新闻</nav><script>var a=1;</script></body></html>",
                                          encoding="utf-8")
    rezip(good_docx, folder / "many-members.docx", {f"customXml/item{i}.xml": b"<a/>" for i in range(10_001)})
    (folder / "control-chars.txt").write_bytes(bytes(range(1, 9)) * 300)
    pdf_bomb(folder / "pdf-bomb.pdf")
    (folder / "cut.jsonl.gz").write_bytes(gzip.compress(('{"docid": "n1", "text": "' + PARA + '"}\n').encode() * 50)[:200])
    from tests.ofd_files import bad_ofds

    ofds = bad_ofds(folder, [[PARA], ["其他事项另行通知，请各单位认真贯彻落实。"]])  # missing-page.ofd: read, warned
    return {**ofds,
        "good.docx": None, "good.pdf": None, "gbk.txt": None, "big5.txt": None, "one-line-1mb.txt": None,
        "deep.html": None,
        "malformed.docx": "docx", "bomb.docx": "bomb", "not-a-zip.docx": "zip", "truncated.docx": "zip",
        "empty-body.docx": "docx", "broken-xml.docx": "docx", "really-a-pdf.docx": "zip",
        "encrypted.pdf": "encrypted", "truncated.pdf": "PDF", "garbage.pdf": "PDF", "scanned.pdf": "OCR",
        "binary.txt": "not a text file", "nul-bytes.txt": "not a text file", "empty.txt": "empty",
        "blank.md": "no text", "binary.html": "not a text file", "notes.xyz": "unsupported",
        "sheet.xlsx": "unsupported", "bad-lines.jsonl": "docid", "not-gzip.jsonl.gz": "parsed",
        "cut.jsonl.gz": "parsed", "png-named.pdf": "not a PDF", "no-pages.pdf": "no pages",
        "only-nav.html": "no text", "many-members.docx": "members", "control-chars.txt": "not a text file",
        "pdf-bomb.pdf": "page",
    }


def indexed(corpus: Path, index: Path, embedder, **settings):
    """``(settings, PolicyQA)`` over ``corpus`` indexed into ``index`` with ``embedder`` (every file
    read, or the test fails); the caller closes the PolicyQA."""
    from rag.index.build import update_index
    from rag.service import PolicyQA

    built = Settings(index_dir=index, **settings)
    stats = update_index(built, [corpus], embedder)
    assert stats.files_failed == 0, stats.errors
    return built, PolicyQA(built)


def fold_for_eye(text: str) -> str:
    """What a person compares by eye: widths, script, composed accents, zero-width marks and
    whitespace aside."""
    import unicodedata

    from rag.text.normalize import search_key

    visible = "".join(c for c in text if unicodedata.category(c) != "Cf")
    return "".join(search_key(unicodedata.normalize("NFC", visible)).split())


def check_in_original(citations: list[dict], folder: Path, limits=LIMITS) -> int:
    """Each citation's ``orig_start:orig_end`` in the text its file's loader extracts (read again
    here, not taken from the index) is its ``original``, and holds the quote: every character of it
    in order, starting and ending where the quote does. Returns how many citations were checked."""
    from rag.ingest import loader_for

    extracted: dict[str, str] = {}
    for c in citations:
        if c["docid"] not in extracted:
            path = folder / c["docid"]
            raw = next(iter(loader_for(path).load(path, c["docid"], limits)))
            extracted[c["docid"]] = raw.text
        original = extracted[c["docid"]]
        assert c["orig_start"] is not None and c["orig_end"] is not None, c
        span = original[c["orig_start"]:c["orig_end"]]
        assert span == c["original"], (c["quote"], span, c["original"])
        quote, held = fold_for_eye(c["quote"]), fold_for_eye(span)
        chars = iter(held)
        assert all(ch in chars for ch in quote) and held[:1] == quote[:1] and held[-1:] == quote[-1:], (c["quote"], span)
    return len(citations)


def pdf_with_table(path: Path, intro: str, rows: list[list[str]]) -> Path:
    """A text-layer PDF of a sentence and a ruled table (each cell its own text object, as office
    software writes them)."""
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Table, TableStyle

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    style = getSampleStyleSheet()["Normal"]
    style.fontName = "STSong-Light"
    table = Table(rows)
    table.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), "STSong-Light", 10), ("GRID", (0, 0), (-1, -1), 0.5, "black")]))
    SimpleDocTemplate(str(path)).build([Paragraph(intro, style), table])
    return path
