"""An OFD page's text in reading order, from where its characters stand.

OFD keeps no reading order: a page is a set of text objects (``TextObject``: a ``Boundary`` box,
an optional ``CTM``, a font ``Size``), each holding ``TextCode`` runs that place their first
character at ``X``/``Y`` (the baseline, relative to the box) and each next one ``DeltaX``/``DeltaY``
further (``"g 5 4.2"`` is five steps of 4.2). Producers write a line per object, a character per
object, or a paragraph per object, in any order. So every character is placed on the page first
(a :class:`Glyph` with its box, in mm, y down), then characters are grouped into visual rows by
their height, a row split into runs where a gap wider than a character opens (table cells,
columns), and the runs put in reading order as OCR lines are (:func:`rag.ingest.ocr.reading_order`:
a left column before a right one, a paragraph break at a wide gap or an indent). Text inside a
graphic unit that a ``CompositeObject`` draws is placed through that object's map too. Rotated or
skewed text (a diagonal watermark, a seal's ring) stands in no row: each such object is read as a
paragraph of its own after the page's text. The page view takes the characters in the same order,
so a quote of the text finds its characters' boxes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from lxml import etree

from rag.ingest.ocr import Line, page_text, reading_order
from rag.ingest.ofd_package import (
    IDENTITY,
    Affine,
    PagePart,
    children,
    compose,
    descendants,
    numbers,
    placement,
)

_ASCENT, _DESCENT = 0.86, 0.14  # of the font size, above and below the baseline
_CELL_GAP = 1.0  # a gap wider than this many font sizes splits a row into runs
_MAX_STEP = 1.5  # a step to the next character wider than this many font sizes jumps over a gap
_WORD_GAP = 0.25  # a gap this wide between two Latin letters is a space no glyph spells


@dataclass(frozen=True)
class Glyph:
    """One character where it stands (mm, y down) and how it is drawn."""

    char: str
    x0: float
    y0: float
    x1: float
    y1: float
    size: float
    color: tuple[int, int, int] = (0, 0, 0)


@dataclass(frozen=True)
class Run(Line):
    """A run of characters on one row, as an OCR line is, with its glyphs (only the ones that are
    not whitespace: the page view matches the text's non-space characters one for one)."""

    glyphs: tuple[Glyph, ...] = ()


def steps(value: str | None) -> list[float]:
    """The offsets of a DeltaX/DeltaY attribute, ``g N D`` expanded to N times D."""
    tokens = (value or "").split()
    out: list[float] = []
    i = 0
    try:
        while i < len(tokens):
            if tokens[i] == "g" and i + 2 < len(tokens):
                out.extend([float(tokens[i + 2])] * min(int(tokens[i + 1]), 100_000))
                i += 3
            else:
                out.append(float(tokens[i]))
                i += 1
    except ValueError:
        pass  # the offsets read so far stand; the rest fall back to the font's advance
    return out


def _advance(char: str, size: float) -> float:
    return size if unicodedata.east_asian_width(char) in ("W", "F") else size / 2


def _color(obj: etree._Element) -> tuple[int, int, int]:
    fill = children(obj, "FillColor")
    value = [int(v) for v in numbers(fill[0].get("Value"))[:3] if 0 <= v <= 255] if fill else []
    return (value[0], value[1], value[2]) if len(value) == 3 else (0, 0, 0)


def text_glyphs(obj: etree._Element, outer: Affine = IDENTITY) -> Iterator[Glyph]:
    """The characters of one TextObject placed on the page (``outer``: from the coordinates of the
    layer it stands in to the page's, for a graphic unit's content)."""
    size = (numbers(obj.get("Size")) or [3.5])[0] or 3.5
    a, b, c, d, ox, oy = compose(outer, placement(obj))
    plain = (a, b, c, d) == (1.0, 0.0, 0.0, 1.0)
    scale = abs(a * d - b * c) ** 0.5 or 1.0
    color = _color(obj)
    x = y = 0.0
    for code in children(obj, "TextCode"):
        x = (numbers(code.get("X")) or [x])[0]
        y = (numbers(code.get("Y")) or [y])[0]
        dx, dy = steps(code.get("DeltaX")), steps(code.get("DeltaY"))
        for i, char in enumerate(code.text or ""):
            step = dx[i] if i < len(dx) else 0.0
            # the box spans the step to the next character (letter-spacing is no gap), unless the
            # step jumps (to the next table cell, in one TextCode): then the character's own width
            width = step if 0 < step <= _MAX_STEP * size else _advance(char, size)
            top, bottom = y - _ASCENT * size, y + _DESCENT * size
            if plain:  # most objects: no CTM, or one that only moves
                yield Glyph(char, x + ox, top + oy, x + width + ox, bottom + oy, size, color)
            else:
                xs = [a * px + c * py + ox for px in (x, x + width) for py in (top, bottom)]
                ys = [b * px + d * py + oy for px in (x, x + width) for py in (top, bottom)]
                yield Glyph(char, min(xs), min(ys), max(xs), max(ys), size * scale, color)
            x += step if i < len(dx) else width
            y += dy[i] if i < len(dy) else 0.0


def _turned(obj: etree._Element, outer: Affine) -> bool:
    """Whether the object's text is rotated or skewed on the page (a diagonal watermark, a seal's
    ring): its characters do not stand in rows, so they are read as a line of their own."""
    a, b, c, d, _, _ = compose(outer, placement(obj))
    return abs(b) > 1e-3 * abs(a) + 1e-9 or abs(c) > 1e-3 * abs(d) + 1e-9


def _objects(part: PagePart) -> Iterator[tuple[etree._Element, Affine]]:
    return ((obj, outer) for layer, outer in part.layers for obj in descendants(layer, "TextObject"))


def glyphs(part: PagePart) -> list[Glyph]:
    """Every character of the page, templates' and graphic units' included, in drawing order."""
    return [g for obj, outer in _objects(part) for g in text_glyphs(obj, outer)]


def _upright_and_turned(part: PagePart) -> tuple[list[Glyph], list[list[Glyph]]]:
    """The characters that stand in rows, and those of each rotated object (spaces left out)."""
    upright: list[Glyph] = []
    turned: list[list[Glyph]] = []
    for obj, outer in _objects(part):
        if _turned(obj, outer):
            turned.append([g for g in text_glyphs(obj, outer) if not g.char.isspace()])
        else:
            upright.extend(text_glyphs(obj, outer))
    return upright, [t for t in turned if t]


def _rows(glyph_list: Iterable[Glyph]) -> list[list[Glyph]]:
    """Characters whose vertical centre falls inside the row so far form one row, left to right."""
    rows: list[list[Glyph]] = []
    bounds: list[tuple[float, float]] = []
    for g in sorted(glyph_list, key=lambda g: ((g.y0 + g.y1) / 2, g.x0)):
        centre = (g.y0 + g.y1) / 2
        if rows and bounds[-1][0] <= centre <= bounds[-1][1]:
            rows[-1].append(g)
            bounds[-1] = (min(bounds[-1][0], g.y0), max(bounds[-1][1], g.y1))
        else:
            rows.append([g])
            bounds.append((g.y0, g.y1))
    return [sorted(r, key=lambda g: g.x0) for r in rows]


def _latin(char: str) -> bool:
    return char.isascii() and char.isalnum()


def runs(glyph_list: Iterable[Glyph]) -> list[Run]:
    """The page's rows split into runs at gaps wider than a character (table cells, columns)."""
    out: list[Run] = []
    for row in _rows(glyph_list):
        start = 0
        for i in range(1, len(row) + 1):
            if i == len(row) or row[i].x0 - row[i - 1].x1 > _CELL_GAP * max(row[i].size, row[i - 1].size):
                out.extend(_run(row[start:i]))
                start = i
    return out


def _run(row: list[Glyph]) -> list[Run]:
    text = []
    for prev, g in zip([None, *row], row):
        if prev is not None and _latin(prev.char) and _latin(g.char) and g.x0 - prev.x1 > _WORD_GAP * g.size:
            text.append(" ")
        text.append(g.char)
    kept = tuple(g for g in row if not g.char.isspace())
    if not kept:
        return []
    return [Run("".join(text).strip(), min(g.x0 for g in kept), min(g.y0 for g in kept), max(g.x1 for g in kept),
                max(g.y1 for g in kept), kept)]


def text_of(part: PagePart) -> str:
    """The page's text in reading order (a line per row, a blank line where a paragraph begins),
    then the text of each rotated object as a paragraph of its own."""
    upright, turned = _upright_and_turned(part)
    text = page_text(runs(upright), part.width)
    return "\n\n".join([text, *("".join(g.char for g in t) for t in turned)]) if turned else text


def reading_glyphs(part: PagePart) -> list[Glyph]:
    """The page's non-space characters in the order :func:`text_of` puts them in."""
    upright, turned = _upright_and_turned(part)
    ordered = [g for row in reading_order(runs(upright), part.width) for run in row for g in run.glyphs]
    return ordered + [g for t in turned for g in t]
