"""Real files of every supported format, written by the tests themselves."""

from __future__ import annotations

import io
from pathlib import Path

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
