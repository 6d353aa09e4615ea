"""OFD (GB/T 33190-2016), the national fixed-layout format many offices publish in instead of PDF.

Read by our own reader of the standard's XML (rag.ingest.ofd_package, with lxml): the maintained
library on PyPI (easyofd) unpacks every member to the working directory with no size limits,
parses with xmltodict and pulls in PyMuPDF; what ingest needs is the text objects and their
positions, which is a small, checkable part of the standard. Each page's text comes in reading
order from where its characters stand (rag.ingest.ofd_layout), pages are kept so citations carry
their page, and a page that holds images and no text (a scan) is drawn and read by the packaged
OCR. A page whose part is missing or broken is skipped with a warning naming it; the others are read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from rag.ingest.base import IngestError, Loader, RawDocument, sha256
from rag.ingest.limits import IngestLimits
from rag.ingest.ofd_layout import text_of
from rag.ingest.ofd_package import OfdPackage, PagePart, PageUnreadable, open_ofd
from rag.ingest.pdf import MIN_PAGE_CHARS, page_ranges, usable_text

log = logging.getLogger(__name__)


class OfdLoader(Loader):
    extensions = (".ofd",)

    def load(self, path: Path, docid: str, limits: IngestLimits) -> Iterator[RawDocument]:
        data = path.read_bytes()
        with open_ofd(path, limits) as package:
            count = len(package.pages)
            if count > limits.pdf_max_pages:
                raise IngestError(path, f"the OFD has {count} pages, over the limit of {limits.pdf_max_pages} "
                                  "(页数超过上限)",
                                  "Split it, or raise POLICYQA_INGEST_PDF_MAX_PAGES if it is genuine")
            if not count:
                raise IngestError(path, "the OFD has no pages (OFD 文件没有页面)",
                                  "Check the file; export it again from its source application")
            pages, broken, scanned, imaged = [], [], [], 0
            for number in range(1, count + 1):
                try:
                    part = package.page(number)
                    imaged += bool(part.images)
                    pages.append(_page_text(package, part, limits, scanned))
                except PageUnreadable as exc:
                    broken.append(f"page {number} of {count} cannot be read: {exc} (第{number}页无法读取)")
                    pages.append("")
            title = package.title
            notes = tuple(package.warnings)
        empty = [i + 1 for i, text in enumerate(pages) if len(text.strip()) < MIN_PAGE_CHARS]
        if len(empty) == count:
            raise _no_text(path, count, broken, imaged, limits)
        silent = [n for n in empty if not any(b.startswith(f"page {n} ") for b in broken)]
        warnings = tuple(broken) + notes
        if silent:
            named = page_ranges(silent)
            warnings += (f"{len(silent)} of {count} pages have no readable text (pages {named}); their content is "
                         f"missing (第{named}页没有可读文字)"),
        metadata = {"format": "ofd", "pages": str(count)}
        if scanned:
            metadata["ocr"] = ",".join(map(str, scanned))
        yield RawDocument(docid=docid, source=str(path), text="\n".join(pages), content_hash=sha256(data),
                          title=title, metadata=metadata, warnings=warnings, pages=tuple(pages))


def _no_text(path: Path, count: int, broken: list[str], imaged: int, limits: IngestLimits) -> IngestError:
    """The error for an OFD none of whose pages has text, saying why: pages that could not be read,
    scans OCR could not read (or was off for), or pages of vector drawings only (text as outlines)."""
    why = f" ({'; '.join(broken)})" if broken else ""
    if not imaged:
        return IngestError(path, f"no text on any of its {count} page(s) (under {MIN_PAGE_CHARS} characters each) and "
                           f"no images: only drawings, and text drawn as outlines is not read{why} (页面中没有文字)",
                           "Export it again with its text (not as outlines), or scan it and add the scan")
    if not limits.ocr:
        return IngestError(path, f"no readable text on any of its {count} page(s), and OCR is off "
                           f"(POLICYQA_OCR=false){why} (没有可读文字)", "Turn OCR on, or export the document with its text")
    return IngestError(path, f"no readable text on any of its {count} page(s): OCR found none on its images{why} "
                       "(没有可读文字)", "Check that the scan is readable (upright, 200-300 dpi)")


def _page_text(package: OfdPackage, part: PagePart, limits: IngestLimits, scanned: list[int]) -> str:
    """The page's text objects in reading order; a page with images and no usable text is drawn
    and read by OCR (and its number added to ``scanned``)."""
    text = text_of(part)
    if usable_text(text) or not part.images or not limits.ocr:
        return text
    from rag.ingest.ocr import ocr_lines, page_text
    from rag.ingest.ofd_render import render_page

    image, _ = render_page(package, part, limits.ocr_dpi / 25.4, limits)
    cache = Path(limits.ocr_cache_dir) if limits.ocr_cache_dir else None
    read = page_text(ocr_lines(image, cache), image.shape[1])
    log.info("%s: OCR read page %d", package.path.name, part.number)
    scanned.append(part.number)
    return read
