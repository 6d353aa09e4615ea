"""The passages added for the place a question names (Retriever.search, PLACE_PASSAGES) obey the
asker's filters and permissions: documents the asker may not read never come in by that door."""

from __future__ import annotations

from types import SimpleNamespace

from rag.config import Settings
from rag.models import Chunk
from rag.retrieve import Filters, Retriever

DOCS = {"jc.txt": "交城县", "ws.txt": "文水县"}
TEXT = {"jc.txt": "交城县粮食总产量8287万斤。", "ws.txt": "文水县粮食总产量9000万斤。"}


class Store:
    generation, filter_version = 1, 1

    def documents(self) -> list[dict]:
        return [{"docid": d, "subject": {"city": c}} for d, c in DOCS.items()]

    def chunks_by_id(self, ids):
        docids = list(DOCS)
        return {i: SimpleNamespace(chunk=Chunk(docid=docids[i], ordinal=0, section=(), start=0, end=len(TEXT[docids[i]]),
                                               text=TEXT[docids[i]]), title=docids[i]) for i in ids}


class Backend:
    """Chunk 0 is 交城's, chunk 1 文水's; with access "only-ws" the asker may read only 文水's."""

    has_vectors = False

    def refresh(self) -> None: ...

    def allowed(self, docids, city, year, access):
        readable = {"ws.txt"} if access == "only-ws" else set(DOCS)
        ids = [i for i, d in enumerate(DOCS) if d in readable and (not docids or d in docids)]
        return tuple(ids) or None

    def keyword(self, key, k, allowed):  # 文水's chunk ranks first: 交城's is the one crowded out
        ids = allowed if allowed is not None else range(len(DOCS))
        return [(i, 1.0 / (2 - i)) for i in sorted(ids, reverse=True)][:k]

    def without_vectors(self, ids):
        return set(ids)


def test_place_passages_come_from_documents_about_the_place_and_only_those_the_asker_reads() -> None:
    retriever = Retriever(Settings(), Store(), embedder=None, backend=Backend())
    both = retriever.search("交城县粮食总产量是多少？", k=1, filters=Filters(docids=("ws.txt",)), places=("交城",))
    assert [h.chunk.docid for h in both] == ["ws.txt"]  # a docid filter holds for the added ones too
    scoped = retriever.search("交城县粮食总产量是多少？", k=1, filters=Filters(access="only-ws"), places=("交城",))
    assert [h.chunk.docid for h in scoped] == ["ws.txt"]  # 交城's document is not the asker's to read
    open_ = retriever.search("交城县粮食总产量是多少？", k=1, filters=Filters(docids=("jc.txt", "ws.txt")), places=("交城",))
    assert {h.chunk.docid for h in open_} == {"jc.txt", "ws.txt"}
