"""Typed records that flow between pipeline stages. They are frozen: a stage returns new records."""

from __future__ import annotations

from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field


class Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class Edit(NamedTuple):
    """``stored[start:end]`` stands where the text extracted from the file had ``original``."""

    start: int
    end: int
    original: str


#: Where uploaded documents live in the index: ``uploads/<name>`` (see rag.uploads).
UPLOAD_PREFIX = "uploads/"
#: What kind of source a document is, by its docid: uploaded through the API or the UI, or indexed
#: from a folder by an administrator (shown beside every version when documents disagree).
SOURCE_KINDS = {"upload": "用户上传", "library": "管理员收录"}


def source_kind(docid: str) -> str:
    """"upload" for ``uploads/…`` docids, else "library" (see SOURCE_KINDS)."""
    return "upload" if docid.startswith(UPLOAD_PREFIX) else "library"


class Principal(Record):
    """Who is asking, as the server's guard established it: a program holding a key (a service
    account), a person signed in at /login, or everyone on a server without keys. Every face (API,
    UI, CLI) hands it down with the question, so what a reader may see is decided in one place."""

    name: str = Field(description="Stable id for the audit trail: 'key:<8 hex of the key's sha256>', "
                                  "'local' on a server without keys.")
    role: Literal["read", "write"] = Field(description="'write' may add and remove documents.")
    groups: frozenset[str] = Field(frozenset(), description="Departments the asker belongs to.")
    admin: bool = Field(False, description="A site administrator (full-access keys, the CLI): reads every "
                                           "document and manages every knowledge base (rag.index.acl).")


#: The asker on a server without keys (and in the CLI): full access.
LOCAL = Principal(name="local", role="write", admin=True)
#: Who a request is when no one was established (no rights beyond what everyone ('*') is granted).
NOBODY = Principal(name="anonymous", role="read")


class Document(Record):
    """A normalised source document. ``text`` is what quotes are later verified against."""

    docid: str
    source: str = Field(description="Path of the file it came from (or 'file.jsonl#docid').")
    title: str
    text: str = Field(description="Stored normalised text, traditional kept as written.")
    content_hash: str = Field(description="sha256 of the raw bytes / raw text, for incremental indexing.")
    metadata: dict[str, str] = Field(default_factory=dict, description="city, year, format, encoding…")
    warnings: tuple[str, ...] = ()
    edits: tuple[Edit, ...] | None = Field(
        default=None, description="How the text extracted from the file differs from ``text`` (rag.text.offsets): "
        "() when it does not; None when not known (a document indexed before edits were kept).")


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


class Retrieved(Record):
    """A retrieved passage with what the answer layer reads of its document (made by
    ``Retriever.passages``): the answer layer never reads the store itself."""

    hit: Hit
    subject: dict[str, str] = Field(default_factory=dict, description="The document's city, organisation and year "
                                    "where known (rag.index.store.SUBJECT_KEYS).")
    heading_start: int | None = Field(None, description="Where the passage's own section heading "
                                      "(``hit.chunk.section[-1]``) stands in the stored document, if it does.")
    document_names: tuple[str, ...] = Field(default=(), description="The names the question quotes that the "
                                            "passage's document holds (anywhere in it, not only in the passage).")
    page_starts: tuple[int, ...] = Field(default=(), description="Where each page of a paged document (PDF, scan) "
                                         "starts in its stored text; () without pages.")
    sheet: str | None = Field(None, description="The sheet a spreadsheet's passage is from ('' for .csv).")


class Original(Record):
    """A document's text as extracted from its file, and how its stored text differs from it
    (rag.text.offsets), so that a quote's place in the stored text can be found in the original."""

    edits: tuple[Edit, ...]
    text: str


#: What kind of answer a question wants: a count or amount, a percentage, a date, a person in a role,
#: an honour conferred, the name of a thing (a brand, a title), which place, a list of measures, yes/no,
#: a document number (文号: 京政办发〔2016〕8号).
AnswerKind = Literal["count", "rate", "date", "person", "body", "honour", "name", "place", "list", "yesno", "docno"]


class Question(Record):
    """A question analysed once (``rag.text.analyze_question``): retrieval, the extractive drafter,
    the LLM prompt and the verifier all read this record instead of re-deriving it."""

    text: str
    key: str = Field(description="Search key: simplified, folded widths, lower case.")
    traditional: bool = False
    places: tuple[str, ...] = Field(default=(), description="Places asked about, without 市/省/县/区: 天长.")
    years: tuple[str, ...] = ()
    organisations: tuple[str, ...] = Field(default=(), description="Bodies named: 司法局, 诉前调解中心.")
    kinds: tuple[AnswerKind, ...] = ()
    unit: str = Field("", description="The counting classifier asked for: 多少名 → 名.")
    measure: str = Field("", description="What the asked figure measures when no classifier says it, from "
                         "the noun asked about (rag.text.measures): 常住人口是多少 → people.")
    counted: str = Field("", description="Head of what is counted: 多少个调解组织 → 组织.")
    counted_phrase: str = Field("", description="What is counted, named before the count: 全年共制定市政府行政"
                                "规范性文件多少件 → 市政府行政规范性文件 (it must stand by the count that answers).")
    predicate: tuple[str, ...] = Field(default=(), description="What a count question says of the counted "
                                       "thing: 多少个事项放到网上运行了 → 放到, 网上, 运行.")
    roles: tuple[str, ...] = Field(default=(), description="Roles asked for: 市委书记.")
    levels: tuple[str, ...] = Field(default=(), description="Administrative levels asked about: 镇一级 → 镇.")
    quoted: tuple[str, ...] = Field(default=(), description="Names the question quotes, and the document numbers "
                                    "it names (余府办发〔2008〕52号); support must hold them.")
    stated: tuple[str, ...] = Field(default=(), description="Figures and dates the question itself states.")
    content_words: tuple[str, ...] = Field(default=(), description="What support must match.")
    phrasing_words: tuple[str, ...] = Field(default=(), description="How it was asked (获得, 称号, 是什么).")
    parts: tuple[Question, ...] = Field(default=(), description="Sub-questions of a compound question.")
    item: str = Field("", description="The item of an enumeration this part asks about (梨 of 苹果和梨的产量): "
                      "what sets it apart from the other parts, so its answer must name it.")
    elliptical: bool = Field(False, description="Not a question alone (那常熟呢？): it needs the conversation.")

    @property
    def subject_terms(self) -> tuple[str, ...]:
        """Places and years: an answer from elsewhere is no answer."""
        return self.places + self.years

    @property
    def compound(self) -> bool:
        return len(self.parts) > 1


class Citation(Record):
    n: int
    docid: str
    chunk_id: str
    title: str
    section: str
    quote: str
    start: int = Field(description="Offset of the quote in the document's stored text.")
    end: int
    page: int | None = Field(None, description="Page of the original file where the quote begins (PDFs, scans).")
    sheet: str | None = Field(None, description="Sheet of the spreadsheet the quote is from (.xlsx .xls .et .ods; "
                              "'' for .csv).")
    row: int | None = Field(None, description="Row of that sheet, as numbered in it, whose sentence the quote is from.")
    orig_start: int | None = Field(None, description="Offset of the quote in the text as extracted from the file.")
    orig_end: int | None = None
    original: str | None = Field(None, description="The quote as it stands in the text extracted from the file "
                                 "(it differs from ``quote`` where the normaliser changed ,→， joined wrapped lines…).")
    kind: Literal["upload", "library"] = Field("library", description="'upload' for a document uploaded through the "
                                                "API or UI (uploads/…), 'library' for one an administrator indexed.")
    date: str | None = Field(None, description="The document's date or year where known (e.g. '2021').")

    @property
    def location(self) -> str:
        """Where in the original file, as staff read it: 第3页, or 案件 第5行 (sheet and row); '' if not known."""
        if self.row is not None:
            return f"{self.sheet} 第{self.row}行" if self.sheet else f"第{self.row}行"
        return f"第{self.page}页" if self.page else ""


class Answer(Record):
    question: str
    understood_as: str | None = Field(
        None, description="The standalone question a follow-up was answered as (理解为), when it differs.")
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
    refused_by: str | None = Field(None, description="On a refusal, the check that stood in the way (subject, place, "
                                   "coverage, or one of the answer-kind checks: figure, date, unit, docno…).")
    reason: str | None = Field(None, description="On a refusal, why, in Chinese: 文件中有该区的段落，但没有给出具体数字.")
    unanswered: tuple[str, ...] = Field(
        default=(), description="Parts of a compound question the documents do not answer (the rest is answered).",
    )
    latency_ms: float = 0.0


class Progress(Record):
    """What a streamed answer is doing while nothing verified can be shown yet (for people: shown
    instead of the model's unverified draft)."""

    stage: Literal["queued", "checking"] = Field(description="'queued': waiting for the local model; "
                                                 "'checking': the model is writing and the answer is being verified")
    ahead: int = Field(0, description="With 'queued': questions before this one (the one being answered included).")
    text: str = Field(description="The same for display, in Chinese (排队中，前面还有2个问题 / 正在核对原文…).")

    @classmethod
    def queued(cls, ahead: int) -> Progress:
        return cls(stage="queued", ahead=ahead, text=f"排队中，前面还有{ahead}个问题")

    @classmethod
    def checking(cls) -> Progress:
        return cls(stage="checking", text="正在核对原文…")
