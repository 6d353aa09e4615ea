"""Bulk corpora as JSON lines: ``{"docid": ..., "text": ..., "title"?: ...}`` per line."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

from rag.ingest.base import IngestError, Loader, RawDocument, sha256


class JsonlLoader(Loader):
    extensions = (".jsonl", ".jsonl.gz")

    def load(self, path: Path, docid: str) -> Iterator[RawDocument | IngestError]:
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
                except (json.JSONDecodeError, KeyError, TypeError) as exc:
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
