"""The kinds of documents offices issue, by the noun that ends their titles.

A title names its kind last ("…法治政府建设情况的报告", "…统计公报", "…关于印发《…》的通知"); a
sentence seldom ends so. The normaliser reads it to keep a document's first line — its title — off
the body it would otherwise be joined to, and ingestion to take a long notice title for a title.
"""

from __future__ import annotations

import re

#: Nouns that end the title of an official document, longest first where one ends another.
DOCUMENT_KINDS = ("工作报告", "施政报告", "统计公报", "报告", "公报", "通知", "通报", "意见", "办法", "方案", "规定",
                  "决定", "规则", "细则", "纲要", "批复", "条例", "规划", "计划", "决议", "公告", "通告", "要点", "函")
_KIND_END = re.compile(f"(?:{'|'.join(DOCUMENT_KINDS)})[)）》〉」”]*$")


def ends_in_document_kind(line: str) -> bool:
    """Whether ``line`` (simplified or traditional) ends with the name of a kind of document."""
    from rag.text.normalize import to_simplified  # normalize imports this module

    return bool(_KIND_END.search(to_simplified(line.strip())))


def unwrap_title(line: str) -> str:
    """A title a page gives in book-title marks, without them: "《…的通知》" → "…的通知"."""
    line = line.strip()
    inner = line[1:-1]
    if line.startswith("《") and line.endswith("》") and "《" not in inner and "》" not in inner:
        return inner
    return line
