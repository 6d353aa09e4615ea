"""Plain text and Markdown in any of the encodings Chinese offices produce."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from rag.ingest.base import IngestError, Loader, RawDocument, sha256
from rag.ingest.encoding import NotTextError, decode_text
from rag.ingest.limits import IngestLimits

_MD_MARKUP = re.compile(r"^\s{0,3}(#{1,6}\s+|>\s?|[-*+]\s+(?=\S))|(\*\*|__|`)", re.MULTILINE)


class TextLoader(Loader):
    extensions = (".txt", ".text")

    def load(self, path: Path, docid: str, limits: IngestLimits) -> Iterator[RawDocument]:
        data = path.read_bytes()
        text, encoding = _decode(path, data)
        yield RawDocument(
            docid=docid,
            source=str(path),
            text=self.clean(text),
            content_hash=sha256(data),
            metadata={"format": path.suffix.lstrip(".").lower(), "encoding": encoding},
        )

    def clean(self, text: str) -> str:
        return text


class MarkdownLoader(TextLoader):
    extensions = (".md", ".markdown")

    def clean(self, text: str) -> str:
        """Drop Markdown markup (#, >, list bullets, emphasis) so only the prose is stored."""
        return _MD_MARKUP.sub("", text)


def _decode(path: Path, data: bytes) -> tuple[str, str]:
    try:
        return decode_text(data)
    except NotTextError as exc:
        raise IngestError(
            path,
            f"not a text file ({exc})",
            "Check that it is really text; convert it to UTF-8, or give it its real extension "
            "(.pdf, .docx, .html)",
        ) from exc
