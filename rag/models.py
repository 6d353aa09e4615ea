"""Typed records that flow between pipeline stages. They are frozen: a stage returns new records."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class Document(Record):
    """A normalised source document. ``text`` is what quotes are later verified against."""

    docid: str
    source: str = Field(description="Path of the file it came from (or 'file.jsonl#docid').")
    title: str
    text: str = Field(description="Stored normalised text, traditional kept as written.")
    content_hash: str = Field(description="sha256 of the raw bytes / raw text, for incremental indexing.")
    metadata: dict[str, str] = Field(default_factory=dict, description="city, year, format, encoding…")
    warnings: tuple[str, ...] = ()


class Chunk(Record):
    """A paragraph-level span of a document: ``document.text[start:end] == text``."""

    docid: str
    ordinal: int
    section: tuple[str, ...] = ()
    start: int
    end: int
    text: str

    @property
    def chunk_id(self) -> str:
        return f"{self.docid}#{self.ordinal}"


class Hit(Record):
    """A retrieved chunk with its fused score and the ranks it had in each retriever."""

    chunk: Chunk
    title: str
    score: float
    ranks: dict[str, int] = Field(default_factory=dict)


class Citation(Record):
    n: int
    docid: str
    chunk_id: str
    title: str
    section: str
    quote: str
    start: int = Field(description="Offset of the quote in the document's stored text.")
    end: int


class Answer(Record):
    question: str
    answer: str
    refused: bool
    citations: tuple[Citation, ...] = ()
    related: tuple[Citation, ...] = Field(
        default=(), description="Closest passages shown on a refusal: never presented as support."
    )
    mode: str
    notes: tuple[str, ...] = Field(
        default=(), description="What the reader should know about how this answer was made, e.g. that the "
        "local model was unavailable and the answer is the extractive one.",
    )
    latency_ms: float = 0.0
