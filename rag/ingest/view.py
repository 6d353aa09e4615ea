"""A page of the original file as an image, with a quote's place on it highlighted.

Staff who check an answer want to see it where it stands in the file they know. For a page with a
text layer the quote is found among the layer's characters (their boxes come from PDFium); for a
scanned page or an image, among the OCR lines of that page (read from the OCR cache: the page is
rendered at the resolution it was read at, so its pixels hash the same). Whitespace, widths and
scripts are folded on both sides, so a quote of the normalised text finds the original's glyphs.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from rag.text.normalize import search_key

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels of the rendered page

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
_FRAGMENT = 6  # characters a partly quoted OCR line must share with the quote to be highlighted


class PageNotAvailable(ValueError):
    """The document has no such page, or its original file is no longer where it was indexed."""


def page_png(source: Path, page: int, quote: str, *, ocr_pages: set[int], dpi: int, cache_dir: Path | None,
             max_width: int = 1100) -> bytes:
    """PNG of page ``page`` (1-based) of the PDF or image at ``source``, ``quote`` highlighted."""
    if not source.is_file():
        raise PageNotAvailable(f"the original file {source.name} is no longer on the server")
    if source.suffix.lower() == ".pdf":
        image, boxes = _pdf_page(source, page, quote, page in ocr_pages, dpi, cache_dir)
    elif source.suffix.lower() in _IMAGE_SUFFIXES:
        image, boxes = _image_page(source, page, quote, cache_dir)
    else:
        raise PageNotAvailable(f"{source.name} has no pages")
    return _draw(image, boxes, max_width)


def _pdf_page(path: Path, page: int, quote: str, scanned: bool, dpi: int, cache_dir: Path | None):
    import pypdfium2

    from rag.ingest.ocr import ocr_lines, render_pdf_page

    pdf = pypdfium2.PdfDocument(str(path))
    try:
        if not 1 <= page <= len(pdf):
            raise PageNotAvailable(f"{path.name} has {len(pdf)} pages, not {page}")
        if scanned:
            image = render_pdf_page(pdf, page - 1, dpi)
            return image, ocr_boxes(ocr_lines(image, cache_dir), quote)
        scale = 150 / 72
        image = render_pdf_page(pdf, page - 1, 150)
        pdf_page = pdf[page - 1]
        try:
            height = pdf_page.get_height()
            textpage = pdf_page.get_textpage()
            try:
                boxes = [(x0 * scale, (height - y1) * scale, x1 * scale, (height - y0) * scale)
                         for x0, y0, x1, y1 in _text_layer_boxes(textpage, quote)]
            finally:
                textpage.close()
        finally:
            pdf_page.close()
        return image, boxes
    finally:
        pdf.close()


def _text_layer_boxes(textpage, quote: str) -> list[Box]:
    """Boxes (PDF points) of the text-layer characters that spell the quote."""
    count = textpage.count_chars()
    raw = textpage.get_text_range(0, count)
    kept = [(i, ch) for i, ch in enumerate(raw[:count]) if not ch.isspace()]
    key = search_key("".join(ch for _, ch in kept))
    wanted = search_key("".join(quote.split()))
    boxes: list[Box] = []
    at = key.find(wanted)
    spans = [(at, at + len(wanted))] if at >= 0 else _fragment_spans(key, wanted)
    for s, e in spans:
        for i in range(s, e):
            boxes.append(textpage.get_charbox(kept[i][0]))
    return boxes


def _fragment_spans(key: str, wanted: str) -> list[tuple[int, int]]:
    """Where pieces of the quote stand when it is not found whole (a quote across a page break)."""
    spans = []
    for i in range(0, max(len(wanted) - _FRAGMENT + 1, 1), _FRAGMENT):
        piece = wanted[i:i + _FRAGMENT]
        at = key.find(piece)
        if len(piece) == _FRAGMENT and at >= 0:
            spans.append((at, at + len(piece)))
    return spans


def ocr_boxes(lines, quote: str) -> list[Box]:
    """Boxes of the OCR lines that the quote covers, whole or in part."""
    wanted = search_key("".join(quote.split()))
    out = []
    for line in lines:
        key = search_key("".join(line.text.split()))
        if len(key) < 2:
            continue
        partly = any(key[i:i + _FRAGMENT] in wanted for i in range(0, max(len(key) - _FRAGMENT + 1, 1)))
        if key in wanted or wanted in key or (len(key) >= _FRAGMENT and partly):
            out.append((line.x0, line.y0, line.x1, line.y1))
    return out


def _image_page(path: Path, page: int, quote: str, cache_dir: Path | None):
    from PIL import Image

    from rag.ingest.ocr import ocr_lines

    with Image.open(path) as image:
        frames = getattr(image, "n_frames", 1)
        if not 1 <= page <= frames:
            raise PageNotAvailable(f"{path.name} has {frames} pages, not {page}")
        image.seek(page - 1)
        pixels = np.asarray(image.convert("RGB"))
    return pixels, ocr_boxes(ocr_lines(pixels, cache_dir), quote)


def _draw(pixels: np.ndarray, boxes: list[Box], max_width: int) -> bytes:
    from PIL import Image, ImageDraw

    image = Image.fromarray(pixels).convert("RGBA")
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for x0, y0, x1, y1 in boxes:
        draw.rectangle((x0 - 2, y0 - 2, x1 + 2, y1 + 2), fill=(255, 214, 0, 90), outline=(220, 30, 30, 255), width=3)
    image = Image.alpha_composite(image, overlay).convert("RGB")
    if image.width > max_width:
        image = image.resize((max_width, round(image.height * max_width / image.width)))
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()
