"""OFD reading speed: a 50-page OFD of the bundled documents' text, read as ingest reads it.

    python eval/bench_ofd.py [--pages 50] [--repeat 3]

The paragraphs of docs/ are set on A4 pages (a text object per line, written last line first, a
template header and page numbers, as tests/ofd_files.py builds OFDs) until ``--pages`` pages are
full. Reported: pages/s of the loader alone (zip, XML, reading order), of the whole read
(``ingest_file``: loader, running lines, normalisation), and seconds to draw one page for the page view.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.config import Settings  # noqa: E402
from rag.ingest import ingest_file  # noqa: E402
from rag.ingest.ofd import OfdLoader  # noqa: E402
from rag.ingest.view import PageRequest, page_png  # noqa: E402
from tests.ofd_files import PER_LINE, ofd_file  # noqa: E402

LINES_PER_PAGE = 30


def pages_of_docs(count: int) -> list[list[str]]:
    paragraphs = [p.strip() for f in sorted((ROOT / "docs").glob("*.txt"))
                  for p in f.read_text(encoding="utf-8").split("\n") if p.strip()]
    pages: list[list[str]] = [[]]
    used = 0
    while len(pages) <= count:
        for paragraph in paragraphs:
            lines = -(-(len(paragraph) + 2) // PER_LINE)
            if used + lines > LINES_PER_PAGE and pages[-1]:
                pages.append([])
                used = 0
            pages[-1].append(paragraph[: PER_LINE * LINES_PER_PAGE - 2])
            used += min(lines, LINES_PER_PAGE)
    return pages[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        limits = Settings(index_dir=Path(tmp) / "index").ingest_limits()
        path = ofd_file(Path(tmp) / "bench.ofd", pages_of_docs(args.pages))
        ingest_file(path, path.name, limits)  # imports and first-use costs out of the timing
        loader, whole = [], []
        for _ in range(args.repeat):
            started = time.perf_counter()
            (raw,) = OfdLoader().load(path, path.name, limits)
            loader.append(time.perf_counter() - started)
            started = time.perf_counter()
            (doc,) = ingest_file(path, path.name, limits).documents
            whole.append(time.perf_counter() - started)
        started = time.perf_counter()
        page_png(PageRequest(str(path), 2, doc.text[2000:2040], False, 200, None), limits)
        view = time.perf_counter() - started
        size_kb = path.stat().st_size // 1024
    chars = len(raw.text)
    print(f"{args.pages} pages, {chars} characters ({chars // args.pages}/page), {size_kb} KB")
    print(f"loader alone: {args.pages / min(loader):.0f} pages/s (best of {args.repeat})")
    print(f"whole read (ingest_file): {args.pages / min(whole):.0f} pages/s (best of {args.repeat})")
    print(f"page view, one page drawn with the quote boxed: {view:.2f} s")


if __name__ == "__main__":
    main()
