"""What parsers say while they read a file, kept as that file's notes.

pypdf, python-docx and lxml report a damaged file through ``warnings`` and their own loggers
("EOF marker not found", "incorrect startxref pointer"). Left alone, those lines land on the
reader process's stderr, at the top of the output and without a file name, so nobody can tell
which file they were about. :class:`ParserNotes` catches both while one file is read; the reader
attaches them to that file's document or error.
"""

from __future__ import annotations

import logging
import warnings
from types import TracebackType

#: Our own loggers: their records are our messages (forwarded to the caller), not parser notes.
OURS = ("rag", "policyqa", "ui")


class ParserNotes(logging.Handler):
    """Context manager: third-party log records (WARNING and up) and ``warnings`` raised inside it
    become ``notes`` ("pypdf: EOF marker not found"); :meth:`take` hands over those gathered so far."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._notes: list[str] = []
        self._caught: warnings.catch_warnings | None = None
        self._seen: list[warnings.WarningMessage] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] not in OURS:
            self._add(f"{record.name.split('.')[0]}: {record.getMessage()}")

    def _add(self, note: str) -> None:
        note = " ".join(note.split())  # one line, whatever the library wrote
        if note not in self._notes:
            self._notes.append(note)

    def take(self) -> tuple[str, ...]:
        """The notes gathered since the last call (warnings included), once each."""
        for w in self._seen:
            self._add(f"{w.category.__name__}: {w.message}")
        self._seen.clear()
        notes, self._notes = tuple(self._notes), []
        return notes

    def __enter__(self) -> ParserNotes:
        self._caught = warnings.catch_warnings(record=True)
        self._seen = self._caught.__enter__()
        warnings.simplefilter("always")
        logging.getLogger().addHandler(self)  # on the root: also keeps logging's last-resort stderr quiet
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        logging.getLogger().removeHandler(self)
        assert self._caught is not None
        self._caught.__exit__(exc_type, exc, tb)
