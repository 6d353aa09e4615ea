"""Scanned pages made for tests: text drawn with Debian's CJK font at 200 dpi, slightly rotated,
blurred and noised, as a photocopier or a phone leaves them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
A4_200DPI = (1654, 2339)


class Continued(str):
    """The rest of a paragraph that a page break split (:func:`paginate`): drawn without the
    first-line indent, as a typeset page goes on."""


def scanned_page(blocks: list[str | list[str]], *, header: str = "", footer: str = "", columns: int = 1,
                 rotate: float = 0.5, seed: int = 0, size: int = 34, spacing: float = 1.6):
    """A page image: each block a paragraph (wrapped to the text width) or a table row (a list of
    cells); ``columns=2`` sets the blocks in two columns; ``spacing`` is line pitch over font size
    (公文 are set near 1.75)."""
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    width, height = A4_200DPI
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(FONT), size)
    small = ImageFont.truetype(str(FONT), 26)
    margin, line_h = 160, int(size * spacing)
    if header:
        draw.text((margin, 90), header, font=small, fill=0)
    if footer:
        draw.text((width // 2 - 40, height - 120), footer, font=small, fill=0)
    col_w = (width - 2 * margin - (80 if columns == 2 else 0)) // columns
    bottom = height - 200  # clear of the footer
    per_line = col_w // size
    x0, y = margin, 200
    col = 0
    for block in blocks:
        if isinstance(block, list):  # a table row
            cell_w = (width - 2 * margin) // len(block)
            for i, cell in enumerate(block):
                draw.text((margin + i * cell_w + 10, y), cell, font=font, fill=0)
            draw.line((margin, y + line_h - 8, width - margin, y + line_h - 8), fill=0, width=2)
            y += line_h
            continue
        text = block if isinstance(block, Continued) else "\u3000\u3000" + block
        for i in range(0, len(text), per_line):
            if y + line_h > bottom:  # the column is full: go on at the top of the next one
                if columns == 2 and col == 0:
                    col, x0, y = 1, margin + col_w + 80, 200
                else:
                    raise ValueError("the blocks do not fit on one page: paginate() them first")
            draw.text((x0, y), text[i:i + per_line], font=font, fill=0)
            y += line_h
        y += line_h // 2
    image = image.rotate(rotate, expand=False, fillcolor=255, resample=Image.BICUBIC)
    image = image.filter(ImageFilter.GaussianBlur(0.6))
    rng = np.random.default_rng(seed)
    pixels = np.asarray(image, dtype=np.int16) + rng.normal(0, 12, (height, width)).astype(np.int16)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).convert("RGB")


def image_pdf(pages, path: Path) -> Path:
    """An image-only PDF (no text layer), one page image per page, at 200 dpi."""
    pages[0].save(path, "PDF", resolution=200.0, save_all=True, append_images=pages[1:])
    return path


def paginate(paragraphs: list[str], *, columns: int = 1, size: int = 34, lines_per_page: int | None = None,
             spacing: float = 1.6) -> list[list[str]]:
    """Paragraphs grouped into pages that :func:`scanned_page` can draw (long ones split, as a
    page break would split them: the rest is :class:`Continued` on the next page)."""
    width = A4_200DPI[0] - 2 * 160 - (80 if columns == 2 else 0)
    per_line = width // columns // size
    budget = (lines_per_page or int(32 * 1.6 / spacing)) * columns
    pages: list[list[str]] = [[]]
    used = 0
    for para in paragraphs:
        while para:
            room = budget - used
            need = -(-(len(para) + 2) // per_line) + 1  # its lines and the gap after it
            if need <= room:
                pages[-1].append(para)
                used += need
                break
            if room >= 3:  # fill the page, continue on the next
                indent = 0 if isinstance(para, Continued) else 2
                cut = (room - 1) * per_line - indent
                pages[-1].append(type(para)(para[:cut]))
                para = Continued(para[cut:])
            pages.append([])
            used = 0
    return [p for p in pages if p]
