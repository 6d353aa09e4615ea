"""Word documents: body paragraphs and tables, in document order."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

from rag.ingest.base import IngestError, Loader, RawDocument, sha256


class DocxLoader(Loader):
    extensions = (".docx",)

    def load(self, path: Path, docid: str) -> Iterator[RawDocument]:
        import docx
        from docx.table import Table
        from docx.text.paragraph import Paragraph

        data = path.read_bytes()
        try:
            document = docx.Document(str(path))
        except (zipfile.BadZipFile, KeyError, ValueError) as exc:
            raise IngestError(path, f"not a readable .docx file ({exc})",
                              "Open it in Word/WPS and save it again as .docx") from exc
        lines: list[str] = []
        for block in document.iter_inner_content():
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
        yield RawDocument(
            docid=docid,
            source=str(path),
            text="\n".join(lines),
            content_hash=sha256(data),
            title=(document.core_properties.title or None),
            metadata={"format": "docx"},
        )
