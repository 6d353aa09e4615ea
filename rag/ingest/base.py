"""The loader interface: one subclass per file format, each turning a file into raw documents."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from rag.ingest.limits import IngestLimits


class IngestError(Exception):
    """A file that cannot be ingested; the message names the file and what to do about it."""

    def __init__(self, path: Path | str, problem: str, remedy: str, notes: tuple[str, ...] = ()) -> None:
        self.path = str(path)
        self.problem = problem
        self.remedy = remedy
        #: what the parser itself said while failing (rag.ingest.notes), shown with the error
        self.notes = tuple(notes)
        said = f" (the parser said: {'; '.join(notes)})" if notes else ""
        super().__init__(f"{path}: {problem}. {remedy}{said}")

    def with_notes(self, notes: tuple[str, ...]) -> IngestError:
        return IngestError(self.path, self.problem, self.remedy, self.notes + notes) if notes else self

    def __reduce__(self):  # pickles across the file-reader process boundary
        return (IngestError, (self.path, self.problem, self.remedy, self.notes))


@dataclass(frozen=True)
class RawDocument:
    """Text as extracted from a file, before normalisation."""

    docid: str
    source: str
    text: str
    content_hash: str
    title: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    #: the text page by page, as extracted, for paged formats (PDF, scans), with ``text`` their
    #: "\n"-join: the stored text then knows where each page starts (``metadata["page_starts"]``)
    #: and citations carry their page
    pages: tuple[str, ...] = ()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Loader(ABC):
    """Reads one file format. ``load`` yields one or more raw documents or raises IngestError."""

    extensions: ClassVar[tuple[str, ...]]

    @abstractmethod
    def load(self, path: Path, docid: str, limits: IngestLimits) -> Iterator[RawDocument | IngestError]:
        """Yield the documents in ``path``; ``docid`` is the id to give a single-document file.

        A whole-file problem is raised as IngestError; a multi-document file yields an IngestError
        for a bad record and goes on with the next.
        """
