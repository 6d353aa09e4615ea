"""Bulk corpora as JSON lines: ``{"docid": ..., "text": ..., "title"?: ...}`` per line."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from pathlib import Path

from rag.ingest.base import IngestError, Loader, RawDocument, sha256
from rag.ingest.limits import IngestLimits

#: Characters a record's docid may not contain: control characters (NUL included) and backslash,
#: e.g. "a\x00b" or "..\\x". Path-like ids ("2020/通知-3") are fine; ".." segments are not.
_BAD_DOCID_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")
MAX_DOCID_CHARS = 200


def check_docid(docid: str) -> None:
    """A docid names a record in the index, in citations and in URLs (DELETE /v1/documents/…)."""
    if not docid.strip() or len(docid) > MAX_DOCID_CHARS:
        raise ValueError(f"docid must have 1-{MAX_DOCID_CHARS} characters")
    if _BAD_DOCID_CHARS.search(docid) or docid.startswith("/") or ".." in docid.split("/"):
        raise ValueError(f"docid {docid[:40]!r} has control characters, a backslash, a leading '/' or a '..' part")


class JsonlLoader(Loader):
    extensions = (".jsonl", ".jsonl.gz")

    def load(self, path: Path, docid: str, limits: IngestLimits) -> Iterator[RawDocument | IngestError]:
        """A malformed line is yielded as an IngestError so the rest of the file still loads."""
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8-sig") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    doc_key, text = str(record["docid"]), record["text"]
                    if not isinstance(text, str):
                        raise TypeError("'text' is not a string")
                    check_docid(doc_key)
                except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                    yield IngestError(
                        f"{path}:{lineno}", f"not a {{\"docid\", \"text\"}} JSON line ({exc})",
                        "Fix or remove that line; the other lines were read",
                    )
                    continue
                yield RawDocument(
                    docid=doc_key,
                    source=f"{path}#{doc_key}",
                    text=text,
                    content_hash=sha256(text.encode("utf-8")),
                    title=record.get("title") or None,
                    metadata={"format": "jsonl"},
                )
