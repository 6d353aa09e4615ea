"""Split a document's stored text into paragraph-level chunks that carry their section path.

Offsets are computed while splitting, never searched for afterwards, so
``document.text[chunk.start:chunk.end] == chunk.text`` holds by construction (and is tested).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.models import Chunk, Document
from rag.text.frontmatter import states_metadata
from rag.text.normalize import CJK

#: Bumped whenever the same stored text would be split differently; recorded in the index manifest.
CHUNKER_VERSION = "2"

# (pattern, level): a lower level is an outer section. 第X条 is an article: a leaf with its own label.
_HEADINGS: tuple[tuple[re.Pattern[str], int], ...] = tuple(
    (re.compile(p), level)
    for p, level in (
        (r"^【[^】]{1,20}】", 0),
        (r"^第[一二三四五六七八九十百零〇\d]+(?:编|部分)", 1),
        (r"^第[一二三四五六七八九十百零〇\d]+章", 2),
        (r"^第[一二三四五六七八九十百零〇\d]+节", 3),
        (r"^[一二三四五六七八九十百]+、", 4),
        (r"^[（(][一二三四五六七八九十百]+[）)]", 5),
        (r"^\d{1,2}(?:[.．](?!\d)|、)", 6),
        (r"^[（(]\d{1,2}[）)]", 7),
        (r"^[①-⑳]", 8),
        (r"^第[一二三四五六七八九十百零〇\d]+条", 9),
    )
)
_PLAIN_TITLE_LEVEL = 10
_TITLE_MAX = 40
_LEAD_END = re.compile(r"[。！？；：:]")
_NOT_TITLE_END = tuple("。！？；，、：:;,!?…")
_ENUM_LEAD = re.compile(r"^[一二三四五六七八九十]+是")
# Where a sentence ends: closing punctuation (with closing quotes), or a space between Chinese
# characters, which is a flattened paragraph break in corpora that arrive as one line.
_BOUNDARY = re.compile(rf"[。！？；!?;]+[”’」』）)]*\s*|(?<=[{CJK}”’」』）)])\s+(?=[{CJK}“‘「『（(])")


@dataclass(frozen=True)
class _Piece:
    start: int
    end: int
    section: tuple[str, ...]


def chunk_document(doc: Document, max_chars: int = 360, min_chars: int = 40) -> list[Chunk]:
    """Chunks of ``doc`` in order: whole paragraphs when they fit, else sentence-packed parts."""
    pieces = _merge_small(list(_pieces(doc.text, max_chars)), doc.text, min_chars, max_chars)
    return [
        Chunk(docid=doc.docid, ordinal=i, section=p.section, start=p.start, end=p.end,
              text=doc.text[p.start:p.end])
        for i, p in enumerate(pieces)
    ]


def heading_of(line: str, next_line: str | None) -> tuple[int, str, bool] | None:
    """``(level, section title, has_body)`` when ``line`` opens a section, else None.

    A marked line (一、 / （一） / 1. / 第X条 …) that goes on past its first sentence is a heading with
    its body on the same line; the title is the lead sentence. An unmarked short line with no
    closing punctuation, followed by a longer line, is a plain title (how web reports set headings),
    unless it states a date, a document number or a labelled field (rag.text.frontmatter): those
    are facts, kept as text.
    """
    for pattern, level in _HEADINGS:
        if pattern.match(line):
            if len(line) <= _TITLE_MAX and not line.endswith("。"):
                return level, line, False
            lead = _LEAD_END.search(line)
            title = line[: lead.start()] if lead else line
            return level, title[:_TITLE_MAX], True
    if (
        len(line) <= 30
        and not line.endswith(_NOT_TITLE_END)
        and not _ENUM_LEAD.match(line)
        and not re.search("[，：:]", line)
        and re.search(f"[{CJK}]", line)
        and next_line is not None
        and len(next_line) > len(line)
        and not states_metadata(line)
    ):
        return _PLAIN_TITLE_LEVEL, line, False
    return None


def _pieces(text: str, max_chars: int):
    """Yield body spans with section paths, splitting long paragraphs at sentence ends."""
    path: list[tuple[int, str]] = []
    lines = text.split("\n")
    offset = 0
    for i, line in enumerate(lines):
        start, end = offset, offset + len(line)
        offset = end + 1
        if not line.strip():
            continue
        heading = heading_of(line, lines[i + 1] if i + 1 < len(lines) else None)
        if heading:
            level, title, has_body = heading
            while path and path[-1][0] >= level:
                path.pop()
            path.append((level, title))
            if not has_body:
                continue
        section = tuple(t for _, t in path)
        for s, e in _split_long(text, start, end, max_chars):
            yield _Piece(s, e, section)


def _split_long(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """Split ``text[start:end]`` into spans of at most ``max_chars``, at sentence ends if possible."""
    if end - start <= max_chars:
        return [(start, end)]
    units: list[tuple[int, int]] = []
    cut = start
    for m in _BOUNDARY.finditer(text, start, end):
        units.extend(_hard_split(cut, m.end(), max_chars, text))
        cut = m.end()
    if cut < end:
        units.extend(_hard_split(cut, end, max_chars, text))
    spans: list[tuple[int, int]] = []
    cur_s, cur_e = units[0]
    for s, e in units[1:]:
        if e - cur_s <= max_chars:
            cur_e = e
        else:
            spans.append((cur_s, cur_e))
            cur_s, cur_e = s, e
    spans.append((cur_s, cur_e))
    return [_strip(text, s, e) for s, e in spans if text[s:e].strip()]


def _hard_split(start: int, end: int, max_chars: int, text: str) -> list[tuple[int, int]]:
    """A sentence longer than the limit is cut after the last comma (or space) before the limit."""
    out = []
    while end - start > max_chars:
        window = text[start:start + max_chars]
        cut = max(window.rfind(c) for c in "，、,： ")
        cut = start + (cut + 1 if cut > max_chars // 3 else max_chars)
        out.append((start, cut))
        start = cut
    out.append((start, end))
    return out


def _strip(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


def _merge_small(pieces: list[_Piece], text: str, min_chars: int, max_chars: int) -> list[_Piece]:
    """Merge fragments shorter than ``min_chars`` into a neighbour of the same section."""
    out: list[_Piece] = []
    carry: _Piece | None = None
    for piece in pieces:
        if carry is not None:
            if carry.section == piece.section and piece.end - carry.start <= max_chars:
                piece = _Piece(carry.start, piece.end, piece.section)
            else:
                out.append(carry)
            carry = None
        if piece.end - piece.start >= min_chars:
            out.append(piece)
            continue
        prev = out[-1] if out else None
        if prev and prev.section == piece.section and piece.end - prev.start <= max_chars:
            out[-1] = _Piece(prev.start, piece.end, prev.section)
        else:
            carry = piece
    if carry is not None:
        out.append(carry)
    return out
