"""``policyqa`` command line: ingest, index, search (and later ask/eval/serve)."""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from rag.config import Settings
from rag.logs import setup_logging

log = logging.getLogger("policyqa")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    settings = Settings()
    if getattr(args, "index", None):
        settings = settings.model_copy(update={"index_dir": Path(args.index)})
    try:
        return args.func(args, settings)
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        log.error("%s", exc)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="policyqa", description=__doc__)
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    p = sub.add_parser("ingest", help="read and chunk files, print what each became (no index written)")
    p.add_argument("paths", nargs="+", help="files or folders (txt md html docx pdf jsonl)")
    p.add_argument("--show", type=int, default=0, metavar="N", help="print the first N chunks of each document")
    p.set_defaults(func=cmd_ingest)
    return parser


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from rich.progress import track

    from rag.chunk import chunk_document
    from rag.ingest import find_files, ingest_file

    console = Console()
    files = list(find_files(args.paths))
    table = Table("file", "docs", "chunks", "chars", "notes", title="ingest")
    sizes: list[int] = []
    chars = failed = 0
    started = time.perf_counter()
    for path, docid in track(files, description="ingesting", console=Console(stderr=True),
                             transient=True):
        result = ingest_file(path, docid)
        n_chunks = 0
        for doc in result.documents:
            chunks = chunk_document(doc, settings.chunk_max_chars, settings.chunk_min_chars)
            n_chunks += len(chunks)
            sizes.extend(len(c.text) for c in chunks)
            chars += len(doc.text)
            for c in chunks[: args.show]:
                console.print(f"  [{c.chunk_id}] {' > '.join(c.section)}\n    {c.text}", markup=False)
        notes = [f"[red]{e}[/red]" for e in result.errors[:3]] + [f"[yellow]{w}[/yellow]" for w in result.warnings]
        if len(result.errors) > 3:
            notes.append(f"[red]… {len(result.errors) - 3} more errors[/red]")
        failed += not result.documents
        table.add_row(str(path), str(len(result.documents)), str(n_chunks), str(sum(len(d.text) for d in result.documents)),
                      "\n".join(notes) or "ok")
    seconds = time.perf_counter() - started
    console.print(table)
    console.print(_summary(len(files), failed, sizes, chars, seconds))
    return 1 if failed else 0


def _summary(files: int, failed: int, sizes: list[int], chars: int, seconds: float) -> str:
    line = f"{files} file(s), {failed} failed, {len(sizes)} chunks, {chars} chars in {seconds:.1f}s ({chars / max(seconds, 1e-9):,.0f} chars/s)"
    if sizes:
        q = statistics.quantiles(sizes, n=10) if len(sizes) > 1 else [sizes[0]] * 9
        line += f"\nchunk chars: min {min(sizes)}, p10 {q[0]:.0f}, median {statistics.median(sizes):.0f}, p90 {q[8]:.0f}, max {max(sizes)}"
    return line


if __name__ == "__main__":
    sys.exit(main())
