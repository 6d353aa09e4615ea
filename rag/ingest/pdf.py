"""PDF text layers via pypdf; encrypted, damaged and scanned files get a specific error."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from rag.ingest.base import IngestError, Loader, RawDocument, sha256
from rag.ingest.limits import IngestLimits

log = logging.getLogger(__name__)

#: Pages with fewer extracted characters than this count as having no text layer.
_MIN_PAGE_CHARS = 10


class PdfLoader(Loader):
    extensions = (".pdf",)

    def load(self, path: Path, docid: str, limits: IngestLimits) -> Iterator[RawDocument]:
        from pypdf import PdfReader
        from pypdf.errors import DependencyError, FileNotDecryptedError

        data = path.read_bytes()
        if not data.lstrip()[:5] == b"%PDF-":
            raise IngestError(path, "not a PDF file (no %PDF header)",
                              "Check the file; re-export it from its source application")
        try:
            reader = PdfReader(str(path))
            if reader.is_encrypted and not reader.decrypt(""):
                raise IngestError(path, "the PDF is encrypted with a password",
                                  "Save an unprotected copy (print to PDF, or qpdf --decrypt) and add that")
            if len(reader.pages) > limits.pdf_max_pages:
                raise IngestError(path, f"the PDF has {len(reader.pages)} pages, over the limit of {limits.pdf_max_pages}",
                                  "Split it, or raise POLICYQA_INGEST_PDF_MAX_PAGES if it is genuine")
            pages = [page.extract_text() or "" for page in reader.pages]
        except IngestError:
            raise
        except (FileNotDecryptedError, DependencyError) as exc:
            raise IngestError(path, f"the PDF is encrypted ({exc})",
                              "Save an unprotected copy (print to PDF, or qpdf --decrypt) and add that") from exc
        except Exception as exc:  # pypdf raises anything on a damaged file: that file's error
            raise IngestError(path, f"the PDF is damaged and cannot be read ({type(exc).__name__}: {exc})",
                              "Re-download or re-export it, or repair it with qpdf") from exc
        if not pages:
            raise IngestError(path, "the PDF has no pages", "Check the file; re-export it from its source application")
        empty = [i + 1 for i, text in enumerate(pages) if len(text.strip()) < _MIN_PAGE_CHARS]
        if len(empty) == len(pages):
            raise IngestError(path, f"no text layer on any of its {len(pages)} page(s): it is a scan or images",
                              "Run OCR on it first (e.g. ocrmypdf -l chi_sim) and add the OCR'd PDF")
        warnings = ()
        if empty:
            warnings = (f"{len(empty)} of {len(pages)} pages have no text layer (pages {_ranges(empty)}); "
                        "their content is missing: OCR the file to include it",)
        title = None
        if reader.metadata and reader.metadata.title:
            title = str(reader.metadata.title).strip() or None
        yield RawDocument(
            docid=docid,
            source=str(path),
            # A page break is not a paragraph break: the line-wrap joiner decides.
            text="\n".join(pages),
            content_hash=sha256(data),
            title=title,
            metadata={"format": "pdf", "pages": str(len(pages))},
            warnings=warnings,
        )


def _ranges(pages: list[int]) -> str:
    shown = ", ".join(map(str, pages[:10]))
    return shown + (f", … ({len(pages) - 10} more)" if len(pages) > 10 else "")
