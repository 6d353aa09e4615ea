"""Web pages: keep the article, drop navigation, scripts, sidebars and footers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from bs4 import BeautifulSoup, CData, NavigableString, PageElement, Tag

from rag.ingest.base import Loader, RawDocument, sha256
from rag.ingest.limits import IngestLimits
from rag.ingest.text import _decode

_DROP_TAGS = ("script", "style", "noscript", "nav", "header", "footer", "aside", "form", "iframe",
              "button", "select", "svg", "template")
_NOISE = re.compile(r"nav|menu|footer|header|breadcrumb|crumb|share|sidebar|copyright|banner|"
                    r"toolbar|related|comment|login|search", re.I)
_MAIN = re.compile(r"^(content|article|main|text|zoom|TRS_Editor|art_con|news_content|con)", re.I)
_BLOCKS = ("p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article",
           "table", "blockquote", "pre", "dd", "dt")


class HtmlLoader(Loader):
    extensions = (".html", ".htm", ".xhtml")

    def load(self, path: Path, docid: str, limits: IngestLimits) -> Iterator[RawDocument]:
        data = path.read_bytes()
        markup, encoding = _decode(path, data)
        soup = BeautifulSoup(markup, "lxml")
        title = _title(soup)
        for tag in soup(_DROP_TAGS):
            tag.decompose()
        for tag in soup.find_all(_is_noise):
            tag.decompose()
        main = _main_element(soup)
        yield RawDocument(
            docid=docid,
            source=str(path),
            text=_text_with_breaks(main),
            content_hash=sha256(data),
            title=title,
            metadata={"format": "html", "encoding": encoding},
        )


def _text_with_breaks(root: Tag) -> str:
    """The text of ``root`` with a line break around every block element, in one linear walk.

    (Inserting "\n" nodes around blocks instead is quadratic in nesting depth in BeautifulSoup:
    a page of 50,000 nested divs took minutes; an explicit stack also avoids recursion limits.)
    """
    parts: list[str] = []
    stack: list[tuple[PageElement, bool]] = [(root, False)]
    while stack:
        node, closing = stack.pop()
        if closing:
            parts.append("\n")
        elif isinstance(node, Tag):
            if node.name in _BLOCKS:
                parts.append("\n")
                stack.append((node, True))
            stack.extend((child, False) for child in reversed(node.contents))
        elif type(node) in (NavigableString, CData):  # not comments, doctypes, processing instructions
            parts.append(str(node))
    return "".join(parts)


def _is_noise(tag: Tag) -> bool:
    if tag.name in ("html", "body") or tag.attrs is None:
        return False
    marks = " ".join([*tag.get("class", []), tag.get("id", "") or "", tag.get("role", "") or ""])
    return bool(marks.strip()) and bool(_NOISE.search(marks)) and not _MAIN.search(marks)


def _main_element(soup: BeautifulSoup) -> Tag:
    """The article element if the page marks one, else the body."""
    for candidate in (soup.find("article"), soup.find("main"),
                      soup.find(attrs={"id": _MAIN}), soup.find(attrs={"class": _MAIN})):
        if isinstance(candidate, Tag) and len(candidate.get_text(strip=True)) >= 50:
            return candidate
    return soup.body or soup


def _title(soup: BeautifulSoup) -> str | None:
    h1 = soup.find("h1")
    if h1 and h1.get_text(strip=True):
        return h1.get_text(strip=True)
    if soup.title and soup.title.get_text(strip=True):
        return re.split(r"\s*[-_|]\s*", soup.title.get_text(strip=True))[0]
    return None
