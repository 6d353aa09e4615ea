"""PDFs: checked and opened with pypdf (encryption, damage, page count, title); each page's text
layer read by PDFium, which puts a table row's cells on one line, in order, as the page shows them
(pypdf gives every cell a line of its own); a page with no usable layer (a scan) is rendered and
read by the packaged OCR. Encrypted and damaged files get a specific error."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

from rag.ingest.base import IngestError, Loader, RawDocument, sha256
from rag.ingest.limits import IngestLimits

log = logging.getLogger(__name__)

#: Pages with fewer extracted characters than this count as having no text layer.
MIN_PAGE_CHARS = 10


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
            if not reader.pages:
                raise IngestError(path, "the PDF has no pages", "Check the file; re-export it from its source application")
            pages = _text_layers(path, len(reader.pages))
        except IngestError:
            raise
        except (FileNotDecryptedError, DependencyError) as exc:
            raise IngestError(path, f"the PDF is encrypted ({exc})",
                              "Save an unprotected copy (print to PDF, or qpdf --decrypt) and add that") from exc
        except Exception as exc:  # pypdf raises anything on a damaged file: that file's error
            raise IngestError(path, f"the PDF is damaged and cannot be read ({type(exc).__name__}: {exc})",
                              "Re-download or re-export it, or repair it with qpdf") from exc
        unreadable = [i for i, text in enumerate(pages) if not usable_text(text)]
        warnings: tuple[str, ...] = ()
        metadata = {"format": "pdf", "pages": str(len(pages))}
        if unreadable and limits.ocr:
            pages = _ocr_pages(path, pages, unreadable, limits)
            metadata["ocr"] = ",".join(str(i + 1) for i in unreadable)
            unreadable = [i for i in unreadable if len(pages[i].strip()) < MIN_PAGE_CHARS]
        if len(unreadable) == len(pages):
            raise IngestError(path, f"no text layer on any of its {len(pages)} page(s) and "
                              + ("OCR found no text on them" if limits.ocr else "OCR is off (POLICYQA_OCR=false)"),
                              "Check that the scan is readable (upright, 200-300 dpi)" if limits.ocr
                              else "Turn OCR on, or run OCR on it first (e.g. ocrmypdf -l chi_sim)")
        if unreadable:
            warnings = (f"{len(unreadable)} of {len(pages)} pages have no readable text (pages "
                        f"{page_ranges([i + 1 for i in unreadable])}); their content is missing",)
        title = None
        if reader.metadata and reader.metadata.title:
            title = str(reader.metadata.title).strip() or None
        yield RawDocument(
            docid=docid,
            source=str(path),
            text="\n".join(pages),
            content_hash=sha256(data),
            title=title,
            metadata=metadata,
            warnings=warnings,
            pages=tuple(pages),  # as extracted: build_document removes running headers, then joins
        )


def _text_layers(path: Path, count: int) -> list[str]:
    """Each page's text layer as PDFium reads it (a line per visual line, cells of a row joined)."""
    import pypdfium2

    pdf = pypdfium2.PdfDocument(str(path))
    try:
        pages = []
        for i in range(count):
            page = pdf[i]
            textpage = page.get_textpage()
            try:
                pages.append(textpage.get_text_range().replace("\r\n", "\n").replace("\r", "\n"))
            finally:
                textpage.close()
                page.close()
        return pages
    finally:
        pdf.close()


#: Characters a real text layer is made of: CJK, Latin, digits, punctuation and spaces. A layer of
#: anything else ("(cid:123)", private-use glyph codes, mojibake) is not text and is OCRed.
_TEXTLIKE = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
                       r"\u2000-\u206f\x20-\x7e\s“”‘’·—…]")


def usable_text(text: str) -> bool:
    """Whether a page's text layer holds real text (enough of it, mostly text-like, no cid codes)."""
    stripped = "".join(text.split())
    if len(stripped) < MIN_PAGE_CHARS or "(cid:" in text:
        return False
    return len(_TEXTLIKE.findall(stripped)) >= 0.8 * len(stripped)


def _ocr_pages(path: Path, pages: list[str], indexes: list[int], limits: IngestLimits) -> list[str]:
    """``pages`` with the pages at ``indexes`` replaced by what OCR reads on their rendered image."""
    import pypdfium2

    from rag.ingest.ocr import ocr_lines, page_text, render_pdf_page

    cache = Path(limits.ocr_cache_dir) if limits.ocr_cache_dir else None
    out = list(pages)
    pdf = pypdfium2.PdfDocument(str(path))
    try:
        for n, i in enumerate(indexes, 1):
            image = render_pdf_page(pdf, i, limits.ocr_dpi, limits.render_max_pixels)
            out[i] = page_text(ocr_lines(image, cache), image.shape[1])
            log.info("%s: OCR read page %d (%d of %d scanned pages)", path.name, i + 1, n, len(indexes))
    finally:
        pdf.close()
    return out


def page_ranges(pages: list[int]) -> str:
    shown = ", ".join(map(str, pages[:10]))
    return shown + (f", … ({len(pages) - 10} more)" if len(pages) > 10 else "")
