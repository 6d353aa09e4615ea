"""An OFD page drawn as pixels: its images where they stand, then its characters in one CJK font.

Used to read a scanned page by OCR and to show a page with a quote highlighted. It is a reader's
picture of the page, not a faithful one: vector paths, fonts embedded in the file, clipping and
transparency are not drawn (what a person needs to find the quote is the text where it stands).
Ingest and the page view draw a scanned page alike, so its pixels hash the same in the OCR cache.
The drawing holds at most ``render_max_pixels``; an embedded image is checked from its header
against ``image_max_pixels`` before it is decoded, and only its visible part is scaled onto the page.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import numpy as np

from rag.ingest.limits import IngestLimits
from rag.ingest.ocr import fitted_scale
from rag.ingest.ofd_layout import glyphs
from rag.ingest.ofd_package import OfdPackage, PagePart, PageUnreadable

#: CJK fonts looked for, in order (Debian's fonts-wqy-microhei first); else Pillow's own font.
FONTS = ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
         "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "/usr/share/fonts/truetype/arphic/uming.ttc")


@lru_cache(maxsize=64)
def _font(size_px: int):
    from PIL import ImageFont

    for path in FONTS:
        if Path(path).is_file():
            return ImageFont.truetype(path, size_px)
    return ImageFont.load_default(size_px)


def render_page(package: OfdPackage, part: PagePart, pixels_per_mm: float, limits: IngestLimits):
    """``(RGB array, scale)``: the page drawn at ``pixels_per_mm`` (lowered to ``render_max_pixels``)
    and the pixels per mm it was drawn at. Raises PageUnreadable for an image that is too large or
    cannot be decoded."""
    from PIL import Image, ImageDraw

    scale = fitted_scale((part.width, part.height), pixels_per_mm, limits.render_max_pixels)
    canvas = Image.new("RGB", (max(1, round(part.width * scale)), max(1, round(part.height * scale))), "white")
    for placed in part.images:
        _paste(canvas, package, placed.member, [v * scale for v in placed.box], limits)
    draw = ImageDraw.Draw(canvas)
    for g in glyphs(part):
        if not g.char.isspace() and g.x1 * scale >= 0 and g.x0 * scale <= canvas.width:
            draw.text((g.x0 * scale, g.y0 * scale), g.char, font=_font(max(1, round(g.size * scale))), fill=g.color)
    return np.asarray(canvas), scale


def _paste(canvas, package: OfdPackage, member: str, box: list[float], limits: IngestLimits) -> None:
    """The visible part of image ``member`` scaled into ``box`` (pixels) of ``canvas``."""
    from PIL import Image

    x0, y0, x1, y1 = box
    vx0, vy0, vx1, vy1 = max(0, x0), max(0, y0), min(canvas.width, x1), min(canvas.height, y1)
    if vx1 - vx0 < 1 or vy1 - vy0 < 1:
        return
    try:
        data = package.read(member)
    except KeyError:
        raise PageUnreadable(f"its image '{member}' is missing from the file") from None
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > limits.image_max_pixels:
                raise PageUnreadable(f"its image '{member}' is {width}x{height} pixels, over the limit of "
                                     f"{limits.image_max_pixels:,}")
            sx, sy = width / (x1 - x0), height / (y1 - y0)
            crop = (round((vx0 - x0) * sx), round((vy0 - y0) * sy), round((vx1 - x0) * sx), round((vy1 - y0) * sy))
            size = (max(1, round(vx1 - vx0)), max(1, round(vy1 - vy0)))
            image.draft("RGB", (max(1, round(width / sx)), max(1, round(height / sy))))  # a JPEG decodes smaller
            ratio = width / image.size[0]
            crop = tuple(round(v / ratio) for v in crop)
            piece = image.convert("RGB").crop(crop).resize(size, Image.Resampling.BILINEAR)
    except PageUnreadable:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        raise PageUnreadable(f"its image '{member}' cannot be decoded ({type(exc).__name__}: {exc})") from exc
    canvas.paste(piece, (round(vx0), round(vy0)))
