"""The audit trail: one append-only JSON line per question and per change, for an inspector.

Each line says who (the principal's name, role and groups), when, what kind of event it was and
its particulars: for a question, the knowledge bases searched, the documents cited, how many
passages the asker's permissions withheld (counted, never named), and the sha256 of the answer
text; for a change (knowledge base created, role granted or revoked, a document's audience or
classification set, a document uploaded or removed), what changed. Every line carries ``prev``,
the sha256 of the line before it, so a line edited or removed afterwards breaks the chain
(:meth:`AuditLog.verify`). Appends are whole lines under a thread lock and an exclusive file lock
(the CLI and a server may write the same file), flushed to disk before the request returns.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from rag.models import Principal

GENESIS = "0" * 64
#: The columns of the CSV export, in order (lists are joined with "|").
CSV_COLUMNS = ("time", "kind", "who", "role", "groups", "kbs", "question", "cited", "withheld", "refused",
               "answer_sha256", "target", "change", "latency_ms", "prev")


class AuditLog:
    """An append-only, hash-chained JSONL file (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def record(self, kind: str, who: Principal, **fields) -> dict:
        item = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "kind": kind, "who": who.name, "role": who.role,
                "groups": sorted(who.groups), **fields}
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a+b") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                try:
                    item["prev"] = _last_line_hash(fh)
                    fh.write(json.dumps(item, ensure_ascii=False).encode("utf-8") + b"\n")
                    fh.flush()
                    os.fsync(fh.fileno())
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)
        return item

    def items(self) -> Iterator[dict]:
        """Every record, oldest first (a line cut off by a crash is skipped)."""
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue

    def verify(self) -> int | None:
        """The 1-based number of the first line whose ``prev`` does not match the line before it
        (edited, removed or inserted afterwards), or None when the whole chain holds."""
        if not self.path.exists():
            return None
        previous = GENESIS
        with open(self.path, "rb") as fh:
            for n, line in enumerate(fh, 1):
                try:
                    if json.loads(line).get("prev") != previous:
                        return n
                except json.JSONDecodeError:
                    return n
                previous = hashlib.sha256(line.rstrip(b"\n")).hexdigest()
        return None

    def export(self, fmt: str, since: str | None = None) -> Iterator[str]:
        """The records (from ``since``, an ISO time prefix, on) as JSON lines or CSV text."""
        records = (r for r in self.items() if not since or r.get("time", "") >= since)
        if fmt == "jsonl":
            for r in records:
                yield json.dumps(r, ensure_ascii=False) + "\n"
            return
        if fmt != "csv":
            raise ValueError(f"audit export format {fmt!r}: use jsonl or csv")
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        for r in records:
            writer.writerow(["|".join(map(str, v)) if isinstance(v, list) else
                             json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else
                             "" if v is None else v for v in (r.get(c) for c in CSV_COLUMNS)])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()


def answer_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _last_line_hash(fh) -> str:
    """sha256 of the file's last whole line (GENESIS for an empty file); ``fh`` is at its end."""
    end = fh.seek(0, os.SEEK_END)
    if end == 0:
        return GENESIS
    block, start = b"", end
    while start > 0 and block.count(b"\n") < 2:
        start = max(0, start - 65536)
        fh.seek(start)
        block = fh.read(end - start)
    lines = block.rstrip(b"\n").split(b"\n")
    fh.seek(0, os.SEEK_END)
    return hashlib.sha256(lines[-1]).hexdigest()
