"""Images of documents (.png, .jpg, .tif — a multi-page TIFF is a paged document), read by OCR.

Decoding is bounded: each frame's size is checked from its header before a pixel is decoded (a
TIFF's later pages too, each may claim any size), and a frame over ``render_max_pixels`` is scaled
down to it, so OCR and the page view hold one bounded frame at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from rag.ingest.base import IngestError, Loader, RawDocument, sha256
from rag.ingest.limits import IngestLimits

log = logging.getLogger(__name__)

_RESCAN = "Scan it again at 200-300 dpi"


class ImageLoader(Loader):
    extensions = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")

    def load(self, path: Path, docid: str, limits: IngestLimits) -> Iterator[RawDocument]:
        from rag.ingest.ocr import ocr_lines, page_text

        if not limits.ocr:
            raise IngestError(path, "an image, and OCR is off (POLICYQA_OCR=false)",
                              "Turn OCR on, or add the document as text/PDF")
        data = path.read_bytes()
        cache = Path(limits.ocr_cache_dir) if limits.ocr_cache_dir else None
        pages = []
        count = frame_count(path, limits)
        for n in range(1, count + 1):
            frame = read_frame(path, n, limits)
            pages.append(page_text(ocr_lines(frame, cache), frame.shape[1]))
            log.info("%s: OCR read page %d of %d", path.name, n, count)
        if not any(p.strip() for p in pages):
            raise IngestError(path, "no text was recognised in the image", "Check that it is a document, scanned upright")
        yield RawDocument(docid=docid, source=str(path), text="\n".join(pages), content_hash=sha256(data),
                          metadata={"format": path.suffix.lstrip(".").lower(), "pages": str(len(pages)), "ocr": "all"},
                          pages=tuple(pages))


def frame_count(path: Path, limits: IngestLimits) -> int:
    """Pages of an image file (a TIFF may hold many), refused past ``pdf_max_pages``."""
    with _open(path) as image:
        count = getattr(image, "n_frames", 1)
    if count > limits.pdf_max_pages:
        raise IngestError(path, f"the image has {count} pages, over the limit of {limits.pdf_max_pages}",
                          "Split it, or raise POLICYQA_INGEST_PDF_MAX_PAGES if it is genuine")
    return count


def read_frame(path: Path, page: int, limits: IngestLimits) -> np.ndarray:
    """Page ``page`` (1-based) of an image file as an RGB array of at most ``render_max_pixels``."""
    from PIL import Image

    with _open(path) as image:
        try:
            image.seek(page - 1)
            width, height = image.size
            if width * height > limits.image_max_pixels:
                raise IngestError(path, f"page {page} of the image is {width}x{height} pixels, over the limit of "
                                  f"{limits.image_max_pixels:,}", _RESCAN)
            if width * height > limits.render_max_pixels:
                ratio = (limits.render_max_pixels / (width * height)) ** 0.5
                size = (max(1, int(width * ratio)), max(1, int(height * ratio)))
                image.draft("RGB", size)  # a JPEG decodes at a fraction of its size
                if image.mode not in ("L", "RGB"):
                    image = image.convert("RGB")
                image = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
            return np.asarray(image.convert("RGB"))
        except IngestError:
            raise
        except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
            raise _unreadable(path, exc) from exc


def _open(path: Path):
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(path)
    except Image.DecompressionBombError as exc:  # Pillow's own bound, checked from the header
        raise IngestError(path, f"the image is too large to read ({exc})", _RESCAN) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise _unreadable(path, exc) from exc


def _unreadable(path: Path, exc: Exception) -> IngestError:
    return IngestError(path, f"not a readable image ({type(exc).__name__}: {exc})",
                       "Check the file; scan or export it again as PNG, JPEG or TIFF")
