"""Word documents: body paragraphs and tables, in document order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from rag.ingest.base import IngestError, Loader, RawDocument, sha256
from rag.ingest.limits import IngestLimits, check_archive


class DocxLoader(Loader):
    extensions = (".docx",)

    def load(self, path: Path, docid: str, limits: IngestLimits) -> Iterator[RawDocument]:
        yield read_docx(path, path, docid, limits, "docx")


def read_docx(path: Path, original: Path, docid: str, limits: IngestLimits, fmt: str) -> RawDocument:
    """The document in the .docx at ``path``, named (errors, source, hash) after ``original``,
    the file the user gave (a .doc converted to ``path``)."""
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    check_archive(path, limits, original)  # before python-docx inflates anything
    data = original.read_bytes()
    try:
        document = docx.Document(str(path))
        blocks = list(document.iter_inner_content())
    except Exception as exc:  # python-docx/lxml raise anything on a malformed package
        raise IngestError(original, f"not a readable .docx file ({type(exc).__name__}: {exc})",
                          "Open it in Word/WPS and save it again as .docx") from exc
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Paragraph):
            lines.append(block.text)
        elif isinstance(block, Table):
            lines.append("")
            for row in block.rows:
                cells: list[str] = []
                for cell in row.cells:
                    text = " ".join(cell.text.split())
                    if text and (not cells or cells[-1] != text):  # merged cells repeat
                        cells.append(text)
                if cells:
                    lines.append(" | ".join(cells))
            lines.append("")
    return RawDocument(
        docid=docid,
        source=str(original),
        text="\n".join(lines),
        content_hash=sha256(data),
        title=(document.core_properties.title or None),
        metadata={"format": fmt},
    )
