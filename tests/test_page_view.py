"""The page view's bounds without a server: pixels capped, the drawing process limited, drawn pages
kept within their byte budget, and a TIFF's every page checked before it is decoded."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.api.limits import _CLIENTS, _Buckets
from rag.config import Settings
from rag.ingest.ocr import fitted_scale
from rag.ingest.view import PageRenderFailed, PageRequest, PageViewer, _BytesLRU


def _huge_pdf(path: Path) -> Path:
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=(7200, 7200))  # 100 x 100 inches
    c.drawString(300, 6600, "Wuhu 2024")
    c.save()
    return path


def test_scale_is_lowered_to_the_pixel_cap() -> None:
    assert fitted_scale((595, 842), 200 / 72, 20_000_000) == 200 / 72  # A4 at 200 dpi: as asked
    scale = fitted_scale((7200, 7200), 200 / 72, 20_000_000)
    assert (7200 * scale) ** 2 <= 20_000_000 < (7200 * scale * 1.01) ** 2


def test_a_page_over_the_view_memory_limit_is_a_clear_error(tmp_path: Path) -> None:
    limits = Settings(index_dir=tmp_path / "index", render_max_pixels=200_000_000).ingest_limits()
    viewer = PageViewer(limits, memory_mb=256, timeout_s=60, cache_bytes=1024 * 1024)
    try:
        request = PageRequest(str(_huge_pdf(tmp_path / "huge.pdf")), 1, "", True, 200, None)  # 1.6 GB of pixels
        with pytest.raises(PageRenderFailed, match="POLICYQA_PAGE_VIEW_MAX_MEMORY_MB"):
            viewer.png(request, "v1")
    finally:
        viewer.close()


def test_drawn_pages_are_kept_within_their_byte_budget() -> None:
    cache = _BytesLRU(1000)
    for i in range(10):
        cache.put(i, bytes(300))
    assert [i for i in range(10) if cache.get(i) is not None] == [7, 8, 9]
    cache.put("big", bytes(1001))  # larger than the whole budget: not kept
    assert cache.get("big") is None and cache.get(9) is not None


def test_rate_buckets_forget_the_least_recent_clients() -> None:
    buckets = _Buckets()
    for i in range(_CLIENTS + 500):
        assert buckets.take(("/v1/feedback", f"addr:{i}"), 5) == 0
    assert len(buckets._buckets) == _CLIENTS
    assert all(buckets.take(("/v1/feedback", "k"), 2) == 0 for _ in range(2))
    assert buckets.take(("/v1/feedback", "k"), 2) > 0


@pytest.mark.full  # reads the first page with the packaged OCR
def test_every_page_of_a_tiff_is_checked_before_it_is_decoded(tmp_path: Path) -> None:
    from PIL import Image

    from rag.ingest import ingest_file

    pages = [Image.new("L", (200, 100), 255), Image.new("L", (1500, 1000), 255)]  # page 2: 1.5 MP
    pages[0].save(tmp_path / "scan.tif", save_all=True, append_images=pages[1:], compression="tiff_deflate")
    limits = Settings(index_dir=tmp_path / "index", ingest_image_max_pixels=1_000_000).ingest_limits()
    (error,) = ingest_file(tmp_path / "scan.tif", "scan.tif", limits).errors
    assert "page 2 of the image is 1500x1000 pixels, over the limit" in error.problem
