"""Reading scanned pages and document images offline: rapidocr's PP-OCR models ship in its wheel.

A page image becomes text lines with their boxes; lines are put in reading order (full-width lines
split the page into bands; inside a band, the left column before the right, each top to bottom),
and a paragraph break is kept where the gap above a line or its first-line indent says one begins.
The wrapped lines of a paragraph are then joined by the same normaliser as a text-layer PDF.
Results are cached by the hash of the page's pixels, so indexing the same scan again costs nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import statistics
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

#: OCR lines read with less confidence than this are dropped (stamps, specks, seal text).
MIN_SCORE = 0.5


@dataclass(frozen=True)
class Line:
    text: str
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def height(self) -> float:
        return self.y1 - self.y0


@lru_cache(maxsize=1)
def _engine():
    """The OCR engine, loaded once per reader process (~2 s): models come from the wheel."""
    try:
        from rapidocr import RapidOCR
    except ImportError as exc:  # the [ocr] extra is not installed
        raise RuntimeError("reading scans needs the OCR extra: pip install 'policyqa[ocr]'") from exc
    # rapidocr prints to stderr with a handler of its own; through logging, what it says becomes the
    # note of the file being read (rag.ingest.notes) instead of a stray coloured line
    ocr_log = logging.getLogger("RapidOCR")
    for handler in list(ocr_log.handlers):
        ocr_log.removeHandler(handler)
    ocr_log.propagate = True
    ocr_log.setLevel(logging.WARNING)
    return RapidOCR(params={"Global.log_level": "warning"})


def ocr_lines(image: np.ndarray, cache_dir: Path | None = None) -> list[Line]:
    """Text lines of an RGB page image, as read (not yet ordered); cached by pixel hash."""
    key = hashlib.sha256(image.tobytes() + str(image.shape).encode()).hexdigest()
    cached = cache_dir / f"{key}.json" if cache_dir else None
    if cached is not None and cached.exists():
        try:
            return [Line(*row) for row in json.loads(cached.read_text(encoding="utf-8"))]
        except (ValueError, TypeError):
            log.warning("OCR cache entry %s unreadable; reading the page again", cached)
    result = _engine()(image)
    lines = []
    if result.boxes is not None and result.txts is not None:
        for box, text, score in zip(result.boxes, result.txts, result.scores):
            if score < MIN_SCORE or not text.strip():
                continue
            xs, ys = [p[0] for p in box], [p[1] for p in box]
            lines.append(Line(text.strip(), float(min(xs)), float(min(ys)), float(max(xs)), float(max(ys))))
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp")
        tmp.write_text(json.dumps([[ln.text, ln.x0, ln.y0, ln.x1, ln.y1] for ln in lines], ensure_ascii=False),
                       encoding="utf-8")
        tmp.replace(cached)
    return lines


def reading_order(lines: list[Line], width: float) -> list[list[Line]]:
    """Lines grouped into visual rows (a table row's cells stay together, left to right) in reading
    order. Rows crossing the page's middle (titles, full-width paragraphs, most table rows) split
    the page into bands; a band whose rows are long lines in a left and a right column is read left
    column first, then right."""
    middle = width / 2
    ordered: list[list[Line]] = []
    band: list[list[Line]] = []

    def crosses(line: Line) -> bool:
        return line.x0 < middle - width * 0.03 and line.x1 > middle + width * 0.03

    def flush() -> None:
        left = [[ln for ln in row if ln.x1 <= middle] for row in band]
        right = [[ln for ln in row if ln.x1 > middle] for row in band]
        long_left = [ln for row in left for ln in row if ln.x1 - ln.x0 > width * 0.3]
        long_right = [ln for row in right for ln in row if ln.x1 - ln.x0 > width * 0.3]
        if len(long_left) >= 3 and len(long_right) >= 3:  # two columns of running text
            ordered.extend([r for r in left if r] + [r for r in right if r])
        else:
            ordered.extend(band)
        band.clear()

    for row in _rows(lines):
        if any(crosses(ln) for ln in row):
            flush()
            ordered.append(row)
        else:
            band.append(row)
    flush()
    return ordered


def _rows(lines: list[Line]) -> list[list[Line]]:
    """Lines whose vertical centre falls inside the row above form one row, sorted left to right."""
    rows: list[list[Line]] = []
    for line in sorted(lines, key=lambda ln: (ln.y0 + ln.y1) / 2):
        centre = (line.y0 + line.y1) / 2
        if rows and min(ln.y0 for ln in rows[-1]) <= centre <= max(ln.y1 for ln in rows[-1]):
            rows[-1].append(line)
        else:
            rows.append([line])
    return [sorted(r, key=lambda ln: ln.x0) for r in rows]


def page_text(lines: list[Line], width: float) -> str:
    """The text of one page: a line per row (a table row's cells joined by spaces, in order), a
    blank line where a paragraph begins (a gap above it wider than the page's usual gap between
    rows by 0.4 of a line, a first-line indent of more than 1.5 characters, or the top of the right
    column). The usual gap is the page's own: documents set at 1.5 or 2 times line spacing (公文
    are) would otherwise read as a paragraph per line."""
    rows = reading_order(lines, width)
    if not rows:
        return ""
    height = statistics.median(max(ln.height for ln in r) for r in rows)
    gaps = [min(ln.y0 for ln in b) - max(ln.y1 for ln in a) for a, b in zip(rows, rows[1:])]
    usual = max(0.0, statistics.median(g for g in gaps if g > -height)) if any(g > -height for g in gaps) else 0.0
    char = statistics.median((ln.x1 - ln.x0) / len(ln.text) for r in rows for ln in r if len(ln.text) >= 4) \
        if any(len(ln.text) >= 4 for r in rows for ln in r) else height
    out: list[str] = []
    previous: list[Line] | None = None
    for row in rows:
        x0, y0 = min(ln.x0 for ln in row), min(ln.y0 for ln in row)
        if previous is not None:
            px0, py1 = min(ln.x0 for ln in previous), max(ln.y1 for ln in previous)
            # a gap wider than line spacing, a first-line indent, or back up to the next column
            if y0 - py1 > usual + 0.4 * height or y0 < py1 - height or x0 - px0 > 1.5 * char:
                out.append("")
        out.append(" ".join(ln.text for ln in row))
        previous = row
    return "\n".join(out)


def render_pdf_page(pdf, index: int, dpi: float, max_pixels: int) -> np.ndarray:
    """One page of a pypdfium2 document as an RGB array, at ``dpi`` or, for a page so large that
    would pass ``max_pixels`` (a 100x100-inch page is 400 MP at 200 dpi, 1.6 GB of pixels), scaled
    down to fit. Ingest and the page view render alike, so a page hashes the same in the OCR cache."""
    page = pdf[index]
    try:
        bitmap = page.render(scale=fitted_scale(page.get_size(), dpi / 72, max_pixels))
        image = bitmap.to_numpy()
    finally:
        page.close()
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[..., :3])


def fitted_scale(size: tuple[float, float], scale: float, max_pixels: int) -> float:
    """``scale`` for a ``size`` (width, height) drawing, lowered so the result holds at most ``max_pixels``."""
    area = max(size[0] * size[1], 1e-6) * scale * scale
    return scale if area <= max_pixels else scale * (max_pixels / area) ** 0.5
