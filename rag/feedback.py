"""👍/👎 on answers, kept as JSON lines: how a site's own eval set grows from real use.

Each record holds what a person needs to judge the case later: the question as asked, the
standalone question it was answered as, the answer and its citations, the rating and a note.
``export_eval_lines`` turns the 👎 ones into eval-set lines for a person to complete (answerable or
not, and the facts a right answer holds). Appends are whole lines under a lock and flushed to disk,
so a crash loses at most the record being written and never corrupts the earlier ones.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Literal

from rag.models import Answer

Rating = Literal["up", "down"]


class FeedbackFull(RuntimeError):
    """The feedback file has reached its size limit: export it and move it away to take more."""


class FeedbackLog:
    """An append-only JSONL file of ratings (thread-safe within a process), refused past
    ``max_bytes``: a full disk would lose far more than the ratings that are turned away."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    def record(self, rating: Rating, answer: Answer, note: str = "", who: str = "local") -> dict:
        if rating not in ("up", "down"):
            raise ValueError(f"rating must be 'up' or 'down', not {rating!r}")
        item = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "who": who, "rating": rating, "note": note.strip()[:2000],
                "question": answer.question, "understood_as": answer.understood_as, "answer": answer.answer,
                "refused": answer.refused, "mode": answer.mode,
                "citations": [c.model_dump() for c in answer.citations]}
        line = json.dumps(item, ensure_ascii=False) + "\n"
        size = len(line.encode("utf-8"))
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            held = self.path.stat().st_size if self.path.exists() else 0
            if held + size > self.max_bytes:
                raise FeedbackFull(f"the feedback file {self.path.name} holds {held / 1024 / 1024:.1f} MB, its limit is "
                                   f"{self.max_bytes / 1024 / 1024:g} MB: run `policyqa feedback export`, move the "
                                   "file away, or raise POLICYQA_FEEDBACK_MAX_MB")
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
        return item

    def items(self) -> list[dict]:
        """Every record; a line cut off by a crash is skipped."""
        if not self.path.exists():
            return []
        out = []
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return out

    def export_eval_lines(self) -> list[dict]:
        """The 👎 records as eval-set lines with ``answerable`` and ``facts`` left for a person: the
        question as it was answered (standalone), what the product said, and the person's note."""
        lines = []
        for i, item in enumerate(self.items(), 1):
            if item.get("rating") != "down":
                continue
            lines.append({"id": f"fb{i:04d}", "kind": "feedback", "question": item.get("understood_as") or item["question"],
                          "answerable": None, "facts": [], "todo": "fill in answerable (true/false) and facts",
                          "asked": item["question"], "answer_given": item["answer"], "refused": item["refused"],
                          "note": item.get("note", "")})
        return lines
