"""Retrieved passages with what the answer layer reads of their documents.

The answer checks need more than a chunk: the document's subject (a passage about another city is
no answer), where the passage's heading stands (headings state facts and are quotable), whether
the document holds a name the question quotes (it may stand outside the passage), its page starts
and sheet (a citation says where in the file it is). Retrieval reads all of it from the store here,
once per question, so the answer layer works on records alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rag.index.store import SUBJECT_KEYS, Store
from rag.models import Hit, Original, Retrieved
from rag.text import contains
from rag.text.offsets import original_text


def in_context(store: Store, hits: Sequence[Hit], quoted: Sequence[str] = ()) -> list[Retrieved]:
    """``hits`` (in order) with their documents' context; ``quoted`` are the names the question
    quotes, looked for in each passage's whole document."""
    meta = store.metadata_of([h.chunk.docid for h in hits])
    texts = _document_texts(store, hits, need_all=bool(quoted))
    headings = _heading_offsets(hits, texts)
    names = {docid: tuple(n for n in quoted if text and contains(text, n)) for docid, text in texts.items()}
    out = []
    for h in hits:
        m = meta.get(h.chunk.docid, {})
        out.append(Retrieved(hit=h, subject={k: v for k, v in m.items() if k in SUBJECT_KEYS},
                             heading_start=headings.get(h.chunk.chunk_id), document_names=names.get(h.chunk.docid, ()),
                             page_starts=page_starts(m), sheet=m.get("sheet")))
    return out


def original_of(store: Store, docid: str) -> Original | None:
    """The document's text as extracted from its file with its edits, None where the index does not
    know them (a document indexed before edits were kept, or one no longer there)."""
    doc = store.document(docid)
    if doc is None or doc.edits is None:
        return None
    return Original(edits=doc.edits, text=original_text(doc.text, doc.edits))


def page_starts(metadata: Mapping[str, str]) -> tuple[int, ...]:
    """A document's page starts from its metadata ("0,1520,3011"), empty when it has no pages."""
    raw = metadata.get("page_starts", "")
    return tuple(int(x) for x in raw.split(",") if x.strip().isdigit()) if raw else ()


def _document_texts(store: Store, hits: Sequence[Hit], need_all: bool) -> dict[str, str | None]:
    """Stored texts of the documents whose passages have a section heading (or of all of them
    when the question quotes a name, which may stand elsewhere in the same document)."""
    texts: dict[str, str | None] = {}
    for h in hits:
        c = h.chunk
        if (c.section or need_all) and c.docid not in texts:
            doc = store.document(c.docid)
            texts[c.docid] = doc.text if doc else None
    return texts


def _heading_offsets(hits: Sequence[Hit], texts: Mapping[str, str | None]) -> dict[str, int]:
    """Where each passage's innermost section heading stands in its stored document (the last
    occurrence before the passage), so that the heading can be quoted with exact offsets."""
    out = {}
    for h in hits:
        c = h.chunk
        text = texts.get(c.docid) if c.section else None
        at = text.rfind(c.section[-1], 0, c.start) if text else -1
        if at >= 0:
            out[c.chunk_id] = at
    return out
