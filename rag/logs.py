"""Logging set-up for the command line: rich output on stderr, quiet third-party libraries.

Logs go to stderr so that stdout carries only results (``policyqa search --json | jq`` works).
PolicyQA's own INFO lines (progress, the server's address) are shown by default; ``-v`` adds our
debug lines, ``-vv`` everyone's.
"""

from __future__ import annotations

import logging

OURS = ("policyqa", "rag", "ui")


def setup_logging(verbose: int = 0) -> None:
    from rich.console import Console
    from rich.logging import RichHandler

    logging.basicConfig(level=logging.DEBUG if verbose > 1 else logging.WARNING, format="%(message)s",
                        datefmt="[%X]", force=True,
                        handlers=[RichHandler(console=Console(stderr=True), show_path=False, markup=False)])
    for name in OURS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.INFO)
