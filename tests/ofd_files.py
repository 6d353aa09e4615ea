"""OFD files (GB/T 33190-2016) built by the tests from the standard's structure: OFD.xml, the
document's Document.xml, PublicRes (a font) and DocumentRes (an image), a template, and each page's
Content.xml, with the text objects written out of reading order, as producers write them."""

from __future__ import annotations

import io
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

NS = 'xmlns:ofd="http://www.ofdspec.org/2016"'
FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
SIZE = 4.2  # mm: 三号 is 5.6, 四号 4.2 (body text of many notices)
PER_LINE = 36
HEADER = "天长市人民政府文件"


@dataclass(frozen=True)
class Scan:
    """A page that is one image: these lines drawn on it (what OCR must read back)."""

    lines: tuple[str, ...]


def _text_object(oid: int, x: float, y: float, text: str, size: float = SIZE, color: str = "0 0 0") -> str:
    steps = [size if unicodedata.east_asian_width(c) in "WF" else size / 2 for c in text[:-1]]
    if len(set(steps)) == 1:  # one step for all: the standard's compressed form
        delta = f' DeltaX="g {len(steps)} {steps[0]}"'
    else:
        delta = f' DeltaX="{" ".join(map(str, steps))}"' if steps else ""
    return (f'<ofd:TextObject ID="{oid}" Boundary="{x} {y} {sum(steps) + size + 1} {size * 1.4}" Font="3" Size="{size}">'
            f'<ofd:FillColor Value="{color}"/><ofd:TextCode X="0" Y="{size}"{delta}>{escape(text)}</ofd:TextCode>'
            "</ofd:TextObject>")


def _page_objects(blocks: list, first_id: int, number: int) -> list[str]:
    """Each paragraph wrapped to PER_LINE characters, its first line indented by two; a list is a
    table row (a text object per cell); the objects come last line first, and the page number."""
    objects, oid, y = [], first_id, 40.0
    for block in blocks:
        if isinstance(block, list):
            for i, cell in enumerate(block):
                objects.append(_text_object(oid, 25 + i * 50, y, cell))
                oid += 1
            y += SIZE * 1.8
            continue
        text = "\u3000\u3000" + block
        for i in range(0, len(text), PER_LINE):
            piece = text[i:i + PER_LINE]
            lead = len(piece) - len(piece.lstrip("\u3000"))
            objects.append(_text_object(oid, 25 + lead * SIZE, y, piece.lstrip("\u3000")))
            oid += 1
            y += SIZE * 1.8
    objects.append(_text_object(oid, 100, 280, f"- {number} -"))
    return objects[::-1]  # out of reading order


def scan_png(lines: tuple[str, ...]) -> bytes:
    """An A4 page at 200 dpi with ``lines`` in the CJK font, as a clean grey scan."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("L", (1654, 2339), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(FONT), 36)
    for i, line in enumerate(lines):
        draw.text((180, 300 + i * 62), line, font=font, fill=0)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def ofd_parts(pages: list, title: str = "测试通知") -> dict[str, bytes]:
    """The members of an OFD whose pages are ``pages``: each a list of paragraphs (str) and table
    rows (list of cells), or a :class:`Scan`."""
    head = '<?xml version="1.0" encoding="UTF-8"?>'
    parts = {
        "OFD.xml": f'{head}<ofd:OFD {NS} Version="1.0" DocType="OFD"><ofd:DocBody><ofd:DocInfo>'
                   f"<ofd:DocID>6a1f0c2e</ofd:DocID><ofd:Title>{escape(title)}</ofd:Title></ofd:DocInfo>"
                   "<ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>",
        "Doc_0/PublicRes.xml": f'{head}<ofd:Res {NS} BaseLoc="Res"><ofd:Fonts><ofd:Font ID="3" FontName="宋体" '
                               'FamilyName="宋体"/></ofd:Fonts></ofd:Res>',
        "Doc_0/Tpls/Tpl_0/Content.xml": f"{head}<ofd:Page {NS}><ofd:Content><ofd:Layer ID=\"4\" Type=\"Background\">"
                                        + _text_object(5, 70, 18, HEADER, 5.6, "200 0 0")
                                        + "</ofd:Layer></ofd:Content></ofd:Page>",
    }
    media, listed = [], []
    for n, page in enumerate(pages):
        oid = 1000 * (n + 1)
        if isinstance(page, Scan):
            media.append(f'<ofd:MultiMedia ID="{oid}" Type="Image" Format="PNG"><ofd:MediaFile>scan_{n}.png'
                         "</ofd:MediaFile></ofd:MultiMedia>")
            parts[f"Doc_0/Res/scan_{n}.png"] = scan_png(page.lines)
            body = (f'<ofd:ImageObject ID="{oid + 1}" Boundary="0 0 210 297" CTM="210 0 0 297 0 0" '
                    f'ResourceID="{oid}"/>')
            template = ""
        else:
            body = "".join(_page_objects(page, oid + 1, n + 1))
            template = '<ofd:Template TemplateID="2" ZOrder="Background"/>'
        parts[f"Doc_0/Pages/Page_{n}/Content.xml"] = (
            f"{head}<ofd:Page {NS}><ofd:Area><ofd:PhysicalBox>0 0 210 297</ofd:PhysicalBox></ofd:Area>{template}"
            f'<ofd:Content><ofd:Layer ID="{oid}" Type="Body">{body}</ofd:Layer></ofd:Content></ofd:Page>')
        listed.append(f'<ofd:Page ID="{oid}" BaseLoc="Pages/Page_{n}/Content.xml"/>')
    parts["Doc_0/DocumentRes.xml"] = (f'{head}<ofd:Res {NS} BaseLoc="Res"><ofd:MultiMedias>{"".join(media)}'
                                      "</ofd:MultiMedias></ofd:Res>")
    parts["Doc_0/Document.xml"] = (
        f"{head}<ofd:Document {NS}><ofd:CommonData><ofd:MaxUnitID>{1000 * (len(pages) + 1)}</ofd:MaxUnitID>"
        "<ofd:PageArea><ofd:PhysicalBox>0 0 210 297</ofd:PhysicalBox></ofd:PageArea>"
        "<ofd:PublicRes>PublicRes.xml</ofd:PublicRes><ofd:DocumentRes>DocumentRes.xml</ofd:DocumentRes>"
        '<ofd:TemplatePage ID="2" BaseLoc="Tpls/Tpl_0/Content.xml"/></ofd:CommonData>'
        f"<ofd:Pages>{''.join(listed)}</ofd:Pages></ofd:Document>")
    return {k: v.encode("utf-8") if isinstance(v, str) else v for k, v in parts.items()}


def write_zip(path: Path, parts: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return path


def ofd_file(path: Path, pages: list, title: str = "测试通知") -> Path:
    return write_zip(path, ofd_parts(pages, title))


BOMB = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">' for i in range(1, 10))
        + f']><ofd:Page {NS}><ofd:Content><ofd:Layer ID="1"><ofd:TextObject ID="2" Boundary="0 0 100 10" Size="4">'
        '<ofd:TextCode X="0" Y="4">&lol9;</ofd:TextCode></ofd:TextObject></ofd:Layer></ofd:Content></ofd:Page>')
EXTERNAL = ('<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            f'<ofd:Page {NS}><ofd:Content><ofd:Layer ID="1"><ofd:TextObject ID="2" Boundary="0 0 100 10" Size="4">'
            '<ofd:TextCode X="0" Y="4">&x;</ofd:TextCode></ofd:TextObject></ofd:Layer></ofd:Content></ofd:Page>')


def bad_ofds(folder: Path, good_pages: list) -> dict[str, str | None]:
    """The OFDs users really drop in, beside a good one: name -> a word its error must contain, or
    None for a file that must be read (the one with a page part missing reads its other pages)."""
    parts = ofd_parts(good_pages)
    good = write_zip(folder / "good.ofd", parts).read_bytes()
    (folder / "truncated.ofd").write_bytes(good[: len(good) // 2])
    (folder / "not-a-zip.ofd").write_text("这不是 OFD 文件，只是一段文字。", encoding="utf-8")
    write_zip(folder / "missing-page.ofd", {k: v for k, v in parts.items() if k != "Doc_0/Pages/Page_1/Content.xml"})
    write_zip(folder / "xml-bomb.ofd", {**parts, "Doc_0/Pages/Page_0/Content.xml": BOMB.encode()})
    write_zip(folder / "external-entity.ofd", {**parts, "Doc_0/Document.xml": EXTERNAL.encode()})
    return {"good.ofd": None, "missing-page.ofd": None, "truncated.ofd": "truncated", "not-a-zip.ofd": "not a zip",
            "xml-bomb.ofd": "XML bomb", "external-entity.ofd": "external entity"}
