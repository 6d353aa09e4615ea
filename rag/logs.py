"""Logging set-up for the command line: rich output on stderr, quiet third-party libraries."""

from __future__ import annotations

import logging


def setup_logging(verbose: int = 0) -> None:
    from rich.logging import RichHandler

    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(message)s", datefmt="[%X]",
                        handlers=[RichHandler(show_path=False, markup=False)], force=True)
    for noisy in ("jieba", "httpx", "sentence_transformers", "faiss", "bm25s", "pypdf"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
