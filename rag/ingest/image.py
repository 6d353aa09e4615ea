"""Images of documents (.png, .jpg, .tif — a multi-page TIFF is a paged document), read by OCR."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from rag.ingest.base import IngestError, Loader, RawDocument, sha256
from rag.ingest.limits import IngestLimits

log = logging.getLogger(__name__)


class ImageLoader(Loader):
    extensions = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")

    def load(self, path: Path, docid: str, limits: IngestLimits) -> Iterator[RawDocument]:
        from PIL import Image, UnidentifiedImageError

        from rag.ingest.ocr import ocr_lines, page_text

        if not limits.ocr:
            raise IngestError(path, "an image, and OCR is off (POLICYQA_OCR=false)",
                              "Turn OCR on, or add the document as text/PDF")
        data = path.read_bytes()
        frames = []
        try:
            with Image.open(path) as image:
                if image.width * image.height > 200_000_000:
                    raise IngestError(path, f"the image is {image.width}x{image.height} pixels, too large to read",
                                      "Scan it again at 200-300 dpi")
                for n in range(getattr(image, "n_frames", 1)):
                    if n >= limits.pdf_max_pages:
                        raise IngestError(path, f"the image has over {limits.pdf_max_pages} pages",
                                          "Split it, or raise POLICYQA_INGEST_PDF_MAX_PAGES if it is genuine")
                    image.seek(n)
                    frames.append(np.asarray(image.convert("RGB")))
        except IngestError:
            raise
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise IngestError(path, f"not a readable image ({type(exc).__name__}: {exc})",
                              "Check the file; scan or export it again as PNG, JPEG or TIFF") from exc
        cache = Path(limits.ocr_cache_dir) if limits.ocr_cache_dir else None
        pages = []
        for n, frame in enumerate(frames, 1):
            pages.append(page_text(ocr_lines(frame, cache), frame.shape[1]))
            log.info("%s: OCR read page %d of %d", path.name, n, len(frames))
        if not any(p.strip() for p in pages):
            raise IngestError(path, "no text was recognised in the image", "Check that it is a document, scanned upright")
        yield RawDocument(docid=docid, source=str(path), text="\n".join(pages), content_hash=sha256(data),
                          metadata={"format": path.suffix.lstrip(".").lower(), "pages": str(len(pages)), "ocr": "all"},
                          pages=tuple(pages))
