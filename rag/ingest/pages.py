"""What repeats on every page and is not the document: running headers, footers, page numbers.

They are removed (by build_document, where offsets into the extracted text are kept) before pages are joined, so "- 3 -" or "XX市人民政府文件" never lands inside a
sentence that runs over a page break. A line counts as running when it stands among the first or
last two lines of a page and either reads as a page number or is short and repeats (digits aside)
at the same end of at least half of the pages (two pages at least).
"""

from __future__ import annotations

import re
from collections import Counter

from rag.text.offsets import Traced

#: A page number line: "3", "- 3 -", "—3—", "第3页", "第 3 页 共 12 页", "3/12", "Page 3", "·3·".
PAGE_NUMBER = re.compile(
    r"^[\s\-—–·•_]*(?:第\s*\d{1,4}\s*页(?:\s*[，,/／]?\s*共\s*\d{1,4}\s*页)?|\d{1,4}(?:\s*[/／]\s*\d{1,4})?"
    r"|page\s*\d{1,4}(?:\s*of\s*\d{1,4})?)[\s\-—–·•_]*$",
    re.IGNORECASE,
)
_DIGITS = re.compile(r"\d+")
_EDGE = 2  # lines at each end of a page that may be running
_MAX_RUNNING = 40  # a running header is a short line; a repeated long line is text


def _shape(line: str) -> str:
    return _DIGITS.sub("#", "".join(line.split()))


def running_lines(pages: list[str]) -> list[set[int]]:
    """For each page, the indexes of its lines (``page.split("\n")``) that are running headers,
    footers or page numbers (see the module docstring)."""
    split = [page.split("\n") for page in pages]
    nonblank = [[i for i, line in enumerate(lines) if line.strip()] for lines in split]
    heads: Counter[str] = Counter()
    feet: Counter[str] = Counter()
    for lines, idx in zip(split, nonblank):
        heads.update({_shape(lines[i]) for i in idx[:_EDGE]})
        feet.update({_shape(lines[i]) for i in idx[-_EDGE:]})
    need = max(2, (len(pages) + 1) // 2)
    running_heads = {s for s, n in heads.items() if n >= need and 0 < len(s) <= _MAX_RUNNING}
    running_feet = {s for s, n in feet.items() if n >= need and 0 < len(s) <= _MAX_RUNNING}
    out = []
    for lines, idx in zip(split, nonblank):
        drop = set()
        for i in idx[:_EDGE]:
            if PAGE_NUMBER.match(lines[i]) or _shape(lines[i]) in running_heads:
                drop.add(i)
        for i in idx[-_EDGE:]:
            if PAGE_NUMBER.match(lines[i]) or _shape(lines[i]) in running_feet:
                drop.add(i)
        out.append(drop)
    return out


def strip_running_lines(pages: list[Traced]) -> list[Traced]:
    """``pages`` without their running lines, keeping where every character came from. The blank
    lines that set a header or footer apart from the text go with it: they say where the header
    ends, not that a paragraph begins, so a sentence running over the page break is joined again."""
    out = []
    for page, drop in zip(pages, running_lines([p.text for p in pages])):
        lines = page.split("\n")
        kept = [i for i in range(len(lines)) if i not in drop]
        body = [i for i in kept if lines[i].text.strip()]
        if body:
            first, last = body[0], body[-1]
            head = any(i < first for i in drop)
            foot = any(i > last for i in drop)
            kept = [i for i in kept if (first <= i or not head) and (i <= last or not foot)]
        out.append(Traced.join("\n", [lines[i] for i in kept]))
    return out
