"""A page of the original file as an image, with a quote's place on it highlighted.

Staff who check an answer want to see it where it stands in the file they know. For a page with a
text layer the quote is found among the layer's characters (their boxes come from PDFium); for a
scanned page or an image, among the OCR lines of that page (read from the OCR cache: the page is
rendered at the resolution it was read at, so its pixels hash the same). An OFD page is drawn
from its own images and text objects, and the quote found among the characters those place.
Whitespace, widths and
scripts are folded on both sides, so a quote of the normalised text finds the original's glyphs.

A file's page may be of any size (a 625-byte PDF can hold a 100x100-inch page), so pages are drawn
by :class:`PageViewer` in a child process with a memory and a time limit, never above
``render_max_pixels``, and sent at most ``_WIDTH`` x ``_HEIGHT``; drawn pages are kept, bounded.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.ingest.limits import IngestLimits
from rag.isolation import Worker, WorkerCrashed, WorkerTimeout
from rag.text.normalize import search_key

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels of the rendered page

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
_FRAGMENT = 6  # characters a partly quoted OCR line must share with the quote to be highlighted
_WIDTH, _HEIGHT = 1100, 3300  # the largest page image sent (a tall page is shrunk to this height)


class PageNotAvailable(ValueError):
    """The document has no such page, or its original file is no longer where it was indexed."""


class PageRenderFailed(RuntimeError):
    """Drawing the page overran the page-view process's memory or time limit (a damaged or hostile file)."""


@dataclass(frozen=True)
class PageRequest:
    """What the page-view process is asked to draw (picklable: it crosses the process boundary)."""

    source: str
    page: int
    quote: str
    scanned: bool  # read by OCR at ingest: its lines come from the OCR cache
    dpi: int
    cache_dir: str | None


def _renderer(limits: IngestLimits):
    """Handler of the page-view process (see :class:`PageViewer`)."""
    return lambda request: iter([page_png(request, limits)])


class PageViewer:
    """Draws pages in a child process with its own memory and time limits, and keeps the last
    drawn pages (bounded in bytes): a page of a hostile file costs that process, never the server."""

    def __init__(self, limits: IngestLimits, memory_mb: int, timeout_s: float, cache_bytes: int) -> None:
        self._worker = Worker("page view", "rag.ingest.view:_renderer", (limits,), memory_mb=memory_mb)
        self._timeout_s = timeout_s
        self._cache = _BytesLRU(cache_bytes)

    @property
    def pid(self) -> int | None:
        return self._worker.pid

    def png(self, request: PageRequest, version: str) -> bytes:
        """The PNG for ``request`` of the file at content hash ``version`` (a new upload draws anew)."""
        key = (request, version)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        try:
            (png,) = self._worker.call(request, timeout_s=self._timeout_s)
        except WorkerTimeout:
            raise PageRenderFailed(f"drawing page {request.page} took over {self._timeout_s:g} s and was stopped; "
                                   "open the original file instead, or raise POLICYQA_PAGE_VIEW_TIMEOUT_S") from None
        except (WorkerCrashed, MemoryError) as exc:
            raise PageRenderFailed(f"drawing page {request.page} failed ({exc or 'out of memory'}): it needs more "
                                   "memory than POLICYQA_PAGE_VIEW_MAX_MEMORY_MB; open the original file instead") from None
        self._cache.put(key, png)
        return png

    def close(self) -> None:
        self._worker.close()


class _BytesLRU:
    """Values kept while their total size is under ``max_bytes``; the least recently used go first."""

    def __init__(self, max_bytes: int) -> None:
        self._max = max_bytes
        self._items: OrderedDict[object, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: object) -> bytes | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: object, value: bytes) -> None:
        if len(value) > self._max:
            return
        with self._lock:
            old = self._items.pop(key, None)
            self._size += len(value) - (len(old) if old is not None else 0)
            self._items[key] = value
            while self._size > self._max:
                _, gone = self._items.popitem(last=False)
                self._size -= len(gone)


def page_png(request: PageRequest, limits: IngestLimits) -> bytes:
    """PNG of page ``request.page`` (1-based) of the PDF, OFD or image at ``request.source``, the quote
    highlighted, at most ``_WIDTH`` x ``_HEIGHT`` pixels whatever the page's size."""
    source = Path(request.source)
    if not source.is_file():
        raise PageNotAvailable(f"the original file {source.name} is no longer on the server")
    cache_dir = Path(request.cache_dir) if request.cache_dir else None
    if source.suffix.lower() == ".pdf":
        image, boxes = _pdf_page(source, request, limits, cache_dir)
    elif source.suffix.lower() in _IMAGE_SUFFIXES:
        image, boxes = _image_page(source, request, limits, cache_dir)
    elif source.suffix.lower() == ".ofd":
        image, boxes = _ofd_page(source, request, limits, cache_dir)
    else:
        raise PageNotAvailable(f"{source.name} has no pages")
    return _draw(image, boxes)


def _pdf_page(path: Path, request: PageRequest, limits: IngestLimits, cache_dir: Path | None):
    import pypdfium2

    from rag.ingest.ocr import fitted_scale, ocr_lines, render_pdf_page

    page = request.page
    pdf = pypdfium2.PdfDocument(str(path))
    try:
        if not 1 <= page <= len(pdf):
            raise PageNotAvailable(f"{path.name} has {len(pdf)} pages, not {page}")
        if request.scanned:  # as ingest rendered it, so its pixels find their OCR lines in the cache
            image = render_pdf_page(pdf, page - 1, request.dpi, limits.render_max_pixels)
            return image, ocr_boxes(ocr_lines(image, cache_dir), request.quote)
        pdf_page = pdf[page - 1]
        try:
            width, height = pdf_page.get_size()
            # drawn at the size it is shown at (never above 150 dpi), not drawn big and shrunk
            scale = min(fitted_scale((width, height), 150 / 72, limits.render_max_pixels),
                        _WIDTH / max(width, 1e-6), _HEIGHT / max(height, 1e-6))
            textpage = pdf_page.get_textpage()
            try:
                boxes = [(x0 * scale, (height - y1) * scale, x1 * scale, (height - y0) * scale)
                         for x0, y0, x1, y1 in _text_layer_boxes(textpage, request.quote)]
            finally:
                textpage.close()
        finally:
            pdf_page.close()
        return render_pdf_page(pdf, page - 1, scale * 72, limits.render_max_pixels), boxes
    finally:
        pdf.close()


def _text_layer_boxes(textpage, quote: str) -> list[Box]:
    """Boxes (PDF points) of the text-layer characters that spell the quote."""
    count = textpage.count_chars()
    raw = textpage.get_text_range(0, count)
    kept = [(i, ch) for i, ch in enumerate(raw[:count]) if not ch.isspace()]
    return [textpage.get_charbox(kept[i][0]) for i in quote_indexes("".join(ch for _, ch in kept), quote)]


def quote_indexes(chars: str, quote: str) -> list[int]:
    """Indexes of the characters of ``chars`` (a page's non-space characters in reading order)
    that spell the quote: where it stands whole, else where pieces of it do."""
    key = search_key(chars)
    wanted = search_key("".join(quote.split()))
    at = key.find(wanted) if wanted else -1
    spans = [(at, at + len(wanted))] if at >= 0 else _fragment_spans(key, wanted)
    return [i for s, e in spans for i in range(s, e)]


def _fragment_spans(key: str, wanted: str) -> list[tuple[int, int]]:
    """Where pieces of the quote stand when it is not found whole (a quote across a page break):
    runs of at least two pieces that follow each other on the page as in the quote, so one piece
    a page shares by chance with the quote ("天长市202" of another year) is not marked."""
    spans: list[tuple[int, int]] = []
    run: list[tuple[int, int]] = []
    for i in range(0, len(wanted) - _FRAGMENT + 1, _FRAGMENT):
        piece = wanted[i:i + _FRAGMENT]
        if run and key.startswith(piece, run[-1][1]):
            run.append((run[-1][1], run[-1][1] + _FRAGMENT))
            continue
        if len(run) >= 2:
            spans.extend(run)
        at = key.find(piece)
        run = [(at, at + _FRAGMENT)] if at >= 0 else []
    return spans + (run if len(run) >= 2 else [])


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


def _ofd_page(path: Path, request: PageRequest, limits: IngestLimits, cache_dir: Path | None):
    """An OFD page drawn from its images and text objects (rag.ingest.ofd_render); the quote's
    characters boxed where its text objects place them, or, on a scanned page, its OCR lines."""
    from rag.ingest.base import IngestError
    from rag.ingest.ocr import fitted_scale, ocr_lines
    from rag.ingest.ofd_layout import reading_glyphs
    from rag.ingest.ofd_package import PageUnreadable, open_ofd
    from rag.ingest.ofd_render import render_page

    try:
        with open_ofd(path, limits) as package:
            if not 1 <= request.page <= len(package.pages):
                raise PageNotAvailable(f"{path.name} has {len(package.pages)} pages, not {request.page}")
            part = package.page(request.page)
            if request.scanned:  # as ingest drew it, so its pixels find their OCR lines in the cache
                image, _ = render_page(package, part, request.dpi / 25.4, limits)
                return image, ocr_boxes(ocr_lines(image, cache_dir), request.quote)
            fit = min(fitted_scale((part.width, part.height), 150 / 25.4, limits.render_max_pixels),
                      _WIDTH / part.width, _HEIGHT / part.height)
            image, scale = render_page(package, part, fit, limits)
    except (IngestError, PageUnreadable) as exc:
        raise PageNotAvailable(f"{path.name}: page {request.page} cannot be drawn "
                               f"({exc.problem if isinstance(exc, IngestError) else exc})") from None
    chars = reading_glyphs(part)
    return image, [(g.x0 * scale, g.y0 * scale, g.x1 * scale, g.y1 * scale)
                   for g in (chars[i] for i in quote_indexes("".join(g.char for g in chars), request.quote))]


def _image_page(path: Path, request: PageRequest, limits: IngestLimits, cache_dir: Path | None):
    from rag.ingest.base import IngestError
    from rag.ingest.image import frame_count, read_frame
    from rag.ingest.ocr import ocr_lines

    try:
        frames = frame_count(path, limits)
        if not 1 <= request.page <= frames:
            raise PageNotAvailable(f"{path.name} has {frames} pages, not {request.page}")
        pixels = read_frame(path, request.page, limits)  # as ingest read it: same pixels, same cache entry
    except IngestError as exc:
        raise PageNotAvailable(f"{path.name}: {exc.problem}") from None
    return pixels, ocr_boxes(ocr_lines(pixels, cache_dir), request.quote)


def _draw(pixels: np.ndarray, boxes: list[Box]) -> bytes:
    """The page shrunk to fit ``_WIDTH`` x ``_HEIGHT`` first, then the boxes drawn on it (drawing on
    a full-size scan would hold several copies of it)."""
    from PIL import Image, ImageDraw

    image = Image.fromarray(pixels)
    ratio = min(1.0, _WIDTH / image.width, _HEIGHT / image.height)
    if ratio < 1.0:
        image = image.resize((max(1, round(image.width * ratio)), max(1, round(image.height * ratio))))
    image = image.convert("RGBA")
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for x0, y0, x1, y1 in boxes:
        x0, y0, x1, y1 = (v * ratio for v in (x0, y0, x1, y1))
        draw.rectangle((x0 - 2, y0 - 2, x1 + 2, y1 + 2), fill=(255, 214, 0, 90), outline=(220, 30, 30, 255), width=3)
    image = Image.alpha_composite(image, overlay).convert("RGB")
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()
