"""The answer chain works on what retrieval hands it (issue 23 item 8): passages with their
documents' context and the originals of citations come from the retriever's records, never from
its store; the chain's state is typed and immutable; each asked question is analysed once, on
every path (plain, busy, streamed). Fast: a retriever of fixed records and a scripted model; the
retriever's side is checked once on the real docs index (full tier)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

import pytest

import rag.answer.chain as chain_module
from rag.answer.chain import AnswerChain, ChainState
from rag.config import Settings
from rag.index.store import SUBJECT_KEYS
from rag.llm.base import ChatModel
from rag.llm.queue import LLMBusyError
from rag.models import Answer, Chunk, Edit, Hit, Original, Progress, Question, Retrieved
from rag.retrieve import Retriever
from rag.retrieve.rerank import Reranker
from rag.text import analyze_question
from tests.conftest import TIANCHANG_Q
from tests.test_verify import TIANCHANG

DOCID = "tianchang-2021.txt"
#: the file's extracted text had two full-width spaces before what the index stores
ORIGINAL = Original(edits=(Edit(0, 0, "　　"),), text="　　" + TIANCHANG)
QUOTE = "2020年8月被评为首批“全国法治政府建设示范市（县、区）”"


class RecordsOnlyRetriever:
    """What the answer layer may use of a retriever: its passages and originals (and the reranker's
    model, if any). Anything else — the store above all — fails the test."""

    reranker = None

    def __init__(self) -> None:
        self.questions: list[Question] = []

    def passages(self, question: Question, k: int, filters=None) -> list[Retrieved]:
        self.questions.append(question)
        chunk = Chunk(docid=DOCID, ordinal=0, section=(), start=0, end=len(TIANCHANG), text=TIANCHANG)
        return [Retrieved(hit=Hit(chunk=chunk, title="天长市法治创建工作案例", score=1.0),
                          subject={"city": "天长市", "year": "2021"})]

    def original(self, docid: str) -> Original | None:
        return ORIGINAL if docid == DOCID else None

    def __getattr__(self, name: str):
        raise AssertionError(f"the answer layer reached the retriever's {name!r}")


class ScriptedModel(ChatModel):
    """Replies with a cited answer whose quote is in the passage."""

    name = "scripted"

    def stream(self, messages, max_tokens: int = 400) -> Iterator[str]:
        yield f"回答：天长市{QUOTE}。[1]\n依据：[1]「{QUOTE}」"


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts the chain analyses as questions."""
    seen: list[str] = []

    def analyse(text: str) -> Question:
        seen.append(text)
        return analyze_question(text)

    monkeypatch.setattr(chain_module, "analyze_question", analyse)
    return seen


def _chain() -> tuple[AnswerChain, RecordsOnlyRetriever]:
    retriever = RecordsOnlyRetriever()
    return AnswerChain(Settings(reader="off"), retriever, ScriptedModel()), retriever


def _cites_the_original(answer: Answer) -> None:
    assert not answer.refused and answer.citations, answer
    c = answer.citations[0]
    assert QUOTE in c.quote and c.original == c.quote and (c.orig_start, c.orig_end) == (c.start + 2, c.end + 2)


def test_an_extractive_answer_needs_no_store(counted: list[str]) -> None:
    chain, retriever = _chain()
    _cites_the_original(chain.ask(TIANCHANG_Q, mode="extractive"))
    assert counted == [TIANCHANG_Q] and [q.text for q in retriever.questions] == [TIANCHANG_Q]


def test_a_follow_up_is_analysed_once_as_the_standalone_question(counted: list[str]) -> None:
    chain, retriever = _chain()
    answer = chain.ask("那天长市呢？", mode="extractive", history=["滁州市何时被评为全国法治政府建设示范市？"])
    assert answer.understood_as and "天长" in answer.understood_as
    assert counted == [answer.understood_as] and retriever.questions[0].text == answer.understood_as


def test_asked_for_its_source_an_answer_names_the_document_it_quotes(counted: list[str]) -> None:
    chain, _ = _chain()
    answer = chain.ask("这是哪个文件说的？", mode="extractive", history=[TIANCHANG_Q])
    assert answer.answer.startswith("出自《天长市法治创建工作案例》：") and QUOTE in answer.answer
    assert not chain.ask(TIANCHANG_Q, mode="extractive").answer.startswith("出自")


def test_a_busy_model_answers_extractively_analysing_once(counted: list[str], monkeypatch) -> None:
    chain, _ = _chain()

    def full():
        raise LLMBusyError("the line is full", "排队人数已满", 5)

    monkeypatch.setattr(chain.queue, "join", full)
    answer = chain.ask(TIANCHANG_Q, mode="llm")
    _cites_the_original(answer)
    assert answer.notes[0].startswith("本地模型正忙") and counted == [TIANCHANG_Q]


def test_a_streamed_llm_answer_needs_no_store(counted: list[str]) -> None:
    chain, _ = _chain()
    out = list(chain.stream(TIANCHANG_Q, mode="llm"))
    assert out[0] == Progress.checking() and any(isinstance(x, str) for x in out)
    answer = out[-1]
    assert isinstance(answer, Answer) and answer.mode == "llm"
    _cites_the_original(answer)
    assert counted == [TIANCHANG_Q]


def test_the_chain_state_is_typed_and_immutable() -> None:
    state = ChainState(analyze_question(TIANCHANG_Q), "extractive")
    with pytest.raises(dataclasses.FrozenInstanceError):
        state.raw = "changed"  # type: ignore[misc]
    later = state.replace(raw="reply")
    assert (state.raw, later.raw, later.question) == ("", "reply", state.question)
    with pytest.raises(TypeError):
        state.replace(answer="no such step")  # a misspelt key fails instead of riding along


class RecordingReranker(Reranker):
    """Keeps the fused order; records the analysed questions it was handed."""

    candidates = 8

    def __init__(self) -> None:
        self.questions: list[Question] = []

    def rerank(self, question: Question, hits: Sequence[Hit]) -> list[Hit]:
        self.questions.append(question)
        return list(hits)


def test_retrieval_hands_out_passages_with_their_documents_context(docs_index: Settings, e5) -> None:
    """On the real index: the hits of a plain search, each with its document's subject, where its
    heading stands in the stored text, and the quoted names its document holds; the reranker reads
    the retriever's caller's analysis, not one of its own."""
    reranker = RecordingReranker()
    retriever = Retriever.open(docs_index, e5, reranker=reranker)
    question = analyze_question("天长市“双随机一公开”成员单位联席会议是哪一年召开的？")
    assert question.quoted == ("双随机一公开",)
    retrieved = retriever.passages(question, 4)
    assert [r.hit for r in retrieved] == retriever.search(question.text, k=4)
    assert reranker.questions[0] is question and len(reranker.questions) == 2  # the second: search(text) above
    store = retriever.store
    for r in retrieved:
        doc = store.document(r.hit.chunk.docid)
        assert r.subject and set(r.subject) <= set(SUBJECT_KEYS)
        assert r.subject == {k: v for k, v in store.metadata_of([doc.docid])[doc.docid].items() if k in SUBJECT_KEYS}
        if r.heading_start is not None:
            assert doc.text[r.heading_start:].startswith(r.hit.chunk.section[-1])
        assert r.document_names == (("双随机一公开",) if "双随机一公开" in doc.text else ())
    assert any(r.document_names for r in retrieved) and any(not r.document_names for r in retrieved)
    assert retrieved[0].subject.get("city") == "天长市"
    original = retriever.original("tianchang-2021.txt")
    assert original is not None and "示范创建活动中,在省司法厅" in original.text  # the file's own commas
