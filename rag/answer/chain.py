"""The answer chain (LangChain LCEL): retrieve → prompt → chat model → parse → verify → Answer.

Extractive mode swaps the prompt/model/parse steps for sentence selection; the verifier is the
same for both, so nothing reaches the user without a verified quote.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
import dataclasses
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import RunnableLambda

from rag.answer.extractive import draft_extractive, other_versions
from rag.answer.reader import Reader
from rag.answer.verify import (Draft, Passage, about_subject, defuse_markers, parse_cited_text, refusal, to_script_of,
                               verify)
from rag.config import Settings
from rag.llm import ChatModel, LLMUnavailableError, load_chat_model
from rag.llm.base import RelevanceJudge
from rag.llm.queue import LLMBusyError, LLMQueue, Ticket
from rag.models import Answer, Citation, Original, Progress, Question, Retrieved
from rag.resources import load_prompt
from rag.retrieve import Filters, Retriever
from rag.text import analyze_question, directive_sentences, evidence_windows
from rag.text.followup import Standalone, asks_source, depends_on_context, standalone_question
from rag.text.offsets import original_span

log = logging.getLogger(__name__)

_NO_INFO = re.compile(r"没有相关信息|沒有相關信息|资料中没有|資料中沒有|无法回答|無法回答|未提及")
_QUOTE_LINE = re.compile(r"^\s*\[(\d{1,3})\]\s*[「“\"]?(.+?)[」”\"]?\s*$")
#: The notes of an LLM-mode answer that is the extractive one (staff read them: Chinese only).
MODEL_DOWN_NOTE = "本地模型暂不可用：{reason}。以下为经核验的原文摘录答案。"
MODEL_BUSY_NOTE = "本地模型正忙（{reason}），以下为经核验的原文摘录答案；需要模型生成的回答请稍后再问。"
NOT_VERIFIED_NOTE = "本地模型的回答未能通过原文核对，以下为经核验的原文摘录答案。"


@dataclass(frozen=True)
class Asked:
    """A question as the user typed it, the standalone question it stands for (a follow-up read with
    its conversation) and that question analysed: once per asked question, every step reads it."""

    text: str
    standalone: Standalone
    question: Question
    started: float  # perf_counter() when answering began (the answer's latency)


@dataclass(frozen=True)
class ChainState:
    """What flows between the chain's steps; a step returns a new state (:meth:`replace`)."""

    question: Question
    mode: str
    filters: Filters | None = None
    max_tokens: int | None = None
    passages: tuple[Passage, ...] = ()
    #: the passages the model was shown (LLM mode; none: the model was not asked)
    shown: tuple[Passage, ...] = ()
    messages: tuple[dict[str, str], ...] = ()
    raw: str = ""  # the model's reply
    draft: Draft | None = None
    llm_error: str | None = None  # why the model could not answer (Chinese), shown as a note

    def replace(self, **changes: Any) -> ChainState:
        return dataclasses.replace(self, **changes)


class AnswerChain:
    """Answers questions over an opened index. Thread-safe (the LLM serialises its own calls)."""

    def __init__(self, settings: Settings, retriever: Retriever, llm: ChatModel | None = None) -> None:
        self.settings = settings
        self.retriever = retriever
        # one local model per process: a reranking retriever's judge also writes the answers
        self._llm = llm or getattr(retriever.reranker, "model", None)
        self._llm_lock = threading.Lock()
        self.queue = LLMQueue(settings.llm_queue_max, settings.llm_queue_wait_s)
        self._system = load_prompt("answer_system.md")
        self._user = load_prompt("answer_user.md")
        self._rewrite_prompt = load_prompt("rewrite.md")
        self._reader: Reader | None = None  # made on first use, with the model
        retrieve = RunnableLambda(self._retrieve)
        self.llm_chain = retrieve | RunnableLambda(self._prompt) | RunnableLambda(self._generate) | RunnableLambda(self._parse) | RunnableLambda(with_versions) | RunnableLambda(self._verify)
        self.extractive_chain = retrieve | RunnableLambda(self._extract) | RunnableLambda(self._verify)

    @property
    def llm(self) -> ChatModel:
        """The generator, made on first use (extractive-only deployments never load a model)."""
        with self._llm_lock:
            if self._llm is None:
                self._llm = load_chat_model(self.settings)
            return self._llm

    def llm_health(self) -> dict:
        """The generator's state and its queue (how many LLM-mode questions are answered / wait)."""
        health = self._llm.health() if self._llm is not None else {"status": "not started"}
        return {**health, "queue": self.queue.stats()}

    def close(self) -> None:
        if self._llm is not None:
            self._llm.close()

    # -- public ---------------------------------------------------------------------------------
    def ask(self, question: str, mode: str | None = None, filters: Filters | None = None,
            history: Sequence[str] = (), max_tokens: int | None = None, history_answers: Sequence[str] = (),
            llm_only: bool = False) -> Answer:
        """Answer ``question``; ``history`` is the user's earlier questions in the conversation
        (oldest first) and ``history_answers`` the answers they got, where known: a follow-up
        ("那太仓呢？") is answered as the standalone question it stands for, shown in
        ``Answer.understood_as`` and checked as such. Only the last ``history_turns`` turns within
        ``history_chars`` characters are read.

        In LLM mode the question waits for the model in a bounded line (Settings.llm_queue_max);
        when the line is full it is answered extractively at once with a note, or, with
        ``llm_only``, :class:`LLMBusyError` is raised (the API's 503 with Retry-After)."""
        mode = mode or self.settings.answer_mode
        if mode != "llm":
            return self._answer(self._asked(question, history, history_answers, mode), mode, filters, max_tokens)
        try:
            ticket = self.queue.join()
            try:
                for _ in ticket.wait():
                    pass
                return self._answer(self._asked(question, history, history_answers, mode), mode, filters, max_tokens)
            finally:
                ticket.leave()
        except LLMBusyError as exc:
            if llm_only:
                raise
            return self._busy_answer(question, filters, history, history_answers, exc)

    def _asked(self, question: str, history: Sequence[str], history_answers: Sequence[str], mode: str) -> Asked:
        """The question read with its conversation and analysed: the one analysis of this question."""
        started = time.perf_counter()
        standalone = self._standalone(question, history, history_answers, mode)
        return Asked(question, standalone, analyze_question(standalone.question), started)

    def _answer(self, asked: Asked, mode: str, filters: Filters | None, max_tokens: int | None) -> Answer:
        chain = self.llm_chain if mode == "llm" else self.extractive_chain
        answer: Answer = chain.invoke(ChainState(asked.question, mode, filters, max_tokens))
        return self._finish(answer, asked)

    def _busy_answer(self, question: str, filters: Filters | None, history: Sequence[str],
                     history_answers: Sequence[str], exc: LLMBusyError) -> Answer:
        """The verified extractive answer for an LLM-mode question the model has no place for, saying so."""
        log.warning("LLM mode busy, answering extractively: %s", exc)
        asked = self._asked(question, history, history_answers, "extractive")
        answer = self._answer(asked, "extractive", filters, None)
        return _noted(answer, to_script_of(asked.question, MODEL_BUSY_NOTE.format(reason=exc.reason_zh)))

    def bounded_history(self, history: Sequence[str], answers: Sequence[str]) -> tuple[list[str], list[str]]:
        """The turns a follow-up is read against: the last ``history_turns``, newest first while they
        fit in ``history_chars`` characters (a turn is read whole or not at all), and the answers of
        those turns cut to the same budget. What a request may send is bounded by the API's schema;
        this bounds what is read, so a long conversation costs what a short one does."""
        turns_, budget = [], self.settings.history_chars
        replies = [*answers, *[""] * len(history)][:len(history)]
        for turn, reply in list(zip(history, replies))[::-1][:self.settings.history_turns]:
            if len(turn) > budget:
                break
            budget -= len(turn)
            turns_.append((turn, reply[:self.settings.history_chars]))
        turns_.reverse()
        return [t for t, _ in turns_], [r for _, r in turns_]

    def stream(self, question: str, mode: str | None = None, filters: Filters | None = None,
               history: Sequence[str] = (), max_tokens: int | None = None,
               history_answers: Sequence[str] = (), llm_only: bool = False) -> Iterator[str | Progress | Answer]:
        """LLM mode: :class:`Progress` while the question waits for the model (its place in the
        line) and once it is being written, the model's unverified text as it comes (for API
        clients that ask for drafts; people are shown the progress instead), then the verified
        Answer last. A full line is answered as in :meth:`ask`."""
        mode = mode or self.settings.answer_mode
        if mode != "llm":
            yield self.ask(question, mode, filters, history, history_answers=history_answers)
            return
        try:
            ticket = self.queue.join()
        except LLMBusyError as exc:
            if llm_only:
                raise
            yield self._busy_answer(question, filters, history, history_answers, exc)
            return
        try:
            yield from self._stream_turn(ticket, question, filters, history, max_tokens, history_answers, llm_only)
        finally:
            ticket.leave()

    def _stream_turn(self, ticket: Ticket, question: str, filters: Filters | None, history: Sequence[str],
                     max_tokens: int | None, history_answers: Sequence[str], llm_only: bool) -> Iterator[str | Progress | Answer]:
        try:
            for ahead in ticket.wait():
                yield Progress.queued(ahead)
        except LLMBusyError as exc:
            if llm_only:
                raise
            yield self._busy_answer(question, filters, history, history_answers, exc)
            return
        yield Progress.checking()
        asked = self._asked(question, history, history_answers, "llm")
        state = self._prompt(self._retrieve(ChainState(asked.question, "llm", filters)))
        pieces = []
        if state.shown:
            try:
                for piece in self.llm.stream(list(state.messages), max_tokens or self.settings.llm_max_tokens):
                    pieces.append(piece)
                    yield piece
            except LLMUnavailableError as exc:
                log.warning("answering extractively, the model is unavailable: %s", exc)
                state = state.replace(llm_error=exc.reason_zh)
                pieces = []  # a draft cut off by a crash is not an answer
        answer = self._verify(with_versions(self._parse(state.replace(raw="".join(pieces)))))
        yield self._finish(answer, asked)

    def _standalone(self, question: str, history: Sequence[str], answers: Sequence[str], mode: str) -> Standalone:
        """The question as it would be asked alone: by rules; in LLM mode, a follow-up the rules
        cannot resolve ("直接纠错率呢？") is rewritten by the model, and the rewrite is kept only if
        it keeps every content word of the follow-up and names no place the conversation did not."""
        history, answers = self.bounded_history(history, answers)
        asked = standalone_question(question, history, answers)
        if len(asked.question) > self.settings.max_question_chars:
            log.info("follow-up read alone: with the earlier turn it would be %d characters", len(asked.question))
            return Standalone(question, False)
        if asked.rewritten or mode != "llm" or not history or not depends_on_context(question):
            return asked
        replies = [*answers, *[""] * len(history)][:len(history)]
        lines = []
        for turn, reply in list(zip(history, replies))[-3:]:  # the last three turns carry what it leans on
            lines.append(f"用户：{turn.strip()}")
            if reply:
                lines.append(f"助手：{reply.strip()[:200]}")
        prompt = self._rewrite_prompt.format(conversation="\n".join(lines), question=question.strip())
        try:
            raw = self.llm.complete([{"role": "user", "content": prompt}], 80)
        except LLMUnavailableError as exc:
            log.warning("follow-up not rewritten, the model is unavailable: %s", exc)
            return asked
        rewritten = raw.strip().splitlines()[0].strip().strip("“”\"") if raw.strip() else ""
        last = analyze_question(standalone_question(history[-1], history[:-1], answers).question)
        if rewritten and last.places and not analyze_question(rewritten).places:
            rewritten = last.places[0] + "市" + rewritten  # the place the conversation is about, as the rules keep it
        if _faithful_rewrite(question, rewritten, history):
            return Standalone(rewritten, True)
        log.info("model rewrite %r of %r not kept", rewritten, question)
        return asked

    def runnable(self, mode: str | None = None) -> RunnableLambda:
        """The chain for LangChain applications: ``{"question": str, "chat_history": [...]}`` in (the
        history as LangChain messages, ``(role, text)`` pairs or ``{"role", "content"}`` dicts; the
        user's turns are what a follow-up inherits from), the verified Answer out."""
        return RunnableLambda(lambda x: self.ask(x["question"], mode=mode, **turns(x.get("chat_history") or ())))

    def _finish(self, answer: Answer, asked: Asked) -> Answer:
        standalone = asked.standalone
        if standalone.rewritten and asks_source(asked.text) and answer.citations:
            answer = _with_sources(answer, asked.question)
        return self._in_original(answer).model_copy(update={
            "question": asked.text, "understood_as": standalone.question if standalone.rewritten else None,
            "latency_ms": round((time.perf_counter() - asked.started) * 1000, 1)})

    def _in_original(self, answer: Answer) -> Answer:
        """Citations with their place and wording in the text as extracted from the file (where
        the index knows its documents' edits), so a person can find the quote in the original."""
        originals: dict[str, Original | None] = {}

        def located(c: Citation) -> Citation:
            if c.docid not in originals:
                originals[c.docid] = self.retriever.original(c.docid)
            original = originals[c.docid]
            if original is None:
                return c
            start, end = original_span(original.edits, c.start, c.end)
            return c.model_copy(update={"orig_start": start, "orig_end": end, "original": original.text[start:end]})

        if not answer.citations and not answer.related:
            return answer
        return answer.model_copy(update={"citations": tuple(map(located, answer.citations)),
                                         "related": tuple(map(located, answer.related))})

    # -- steps ----------------------------------------------------------------------------------
    def _retrieve(self, state: ChainState) -> ChainState:
        k = self.settings.answer_passages if state.mode == "llm" else self.settings.extractive_passages
        retrieved = self.retriever.passages(state.question, k, state.filters)
        return state.replace(passages=tuple(passage(n, r) for n, r in enumerate(retrieved, 1)))

    def _prompt(self, state: ChainState) -> ChainState:
        """The model sees only passages about the asked places and years (anything it took from
        another city's passage would be refused by the verifier anyway), and of those only the
        windows that cover the question best, within a budget: on 2 cores the first token waits
        for the whole prompt (see evidence_windows). When no passage is about the subject the model
        is not asked at all."""
        question = state.question
        about = [p for p in state.passages if about_subject([p], question.subject_terms)]
        windows = evidence_windows([p.hit.chunk.text for p in about],
                                   [f"{p.hit.title} {' '.join(p.hit.chunk.section)}" for p in about],
                                   question, self.settings.llm_prompt_chars, self.settings.llm_passage_chars)
        shown, blocks = [], []
        for p, window in zip(about, windows, strict=True):
            if window is None:
                continue
            shown.append(p)
            heading = p.hit.chunk.section[-1] if p.hit.chunk.section else ""  # the quotable one
            text = shown_to_model(p.hit.chunk.text[window[0]:window[1]])
            blocks.append(f"[{p.n}] 《{p.hit.title}》{(' ' + heading) if heading else ''}\n{text}")
        user = self._user.format(passages="\n\n".join(blocks), question=question.text.strip())
        return state.replace(shown=tuple(shown), messages=({"role": "system", "content": self._system},
                                                           {"role": "user", "content": user}))

    def _generate(self, state: ChainState) -> ChainState:
        if not state.shown:
            return state.replace(raw="")
        try:
            limit = state.max_tokens or self.settings.llm_max_tokens
            return state.replace(raw=self.llm.complete(list(state.messages), limit))
        except LLMUnavailableError as exc:
            log.warning("answering extractively, the model is unavailable: %s", exc)
            return state.replace(raw="", llm_error=exc.reason_zh)

    def _parse(self, state: ChainState) -> ChainState:
        return state.replace(draft=parse_llm_output(state.raw))

    def _extract(self, state: ChainState) -> ChainState:
        return state.replace(draft=draft_extractive(state.question, state.passages, reader=self._reader_for(state.mode)))

    def _reader_for(self, mode: str) -> Reader | None:
        """The reader for this mode (see Settings.reader), if the generator can be read as a choice."""
        setting = self.settings.reader
        if setting == "off" or (setting == "llm" and mode != "llm"):
            return None
        if self._reader is None and isinstance(self.llm, RelevanceJudge):
            s = self.settings
            self._reader = Reader(self.llm, s.reader_margin, s.reader_candidates, s.reader_sentence_chars)
        return self._reader

    def _verify(self, state: ChainState) -> Answer:
        draft = state.draft
        if draft is None:
            raise ValueError("the chain reached verification without a draft (a step is missing)")
        answer = (verify(state.question, draft, state.passages, state.mode) if draft.sentences
                  else refusal(state.question, state.passages, state.mode))
        if state.mode == "llm" and (answer.refused or answer.unanswered):
            # The small LLM often says "not in the documents" (or quotes loosely) when a passage
            # does answer; the source sentences themselves, verified the same way, are then shown,
            # marked as extractive. Measured on eval/policyqa_eval.jsonl: see the issue-5 note.
            # The same answer stands in when the model could not run at all (not installed, crashed).
            # A reply that answers one part of a two-part question gives way to source sentences
            # that answer more of it (the model often stops after the first part).
            fallback = self._verify(self._extract(state).replace(mode="extractive", llm_error=None))
            if not fallback.refused and (answer.refused or len(fallback.unanswered) < len(answer.unanswered)):
                log.info("LLM answer not supported by the passages; showing the extractive answer")
                answer = fallback
                if not state.llm_error and state.shown:
                    answer = _noted(answer, to_script_of(state.question, NOT_VERIFIED_NOTE))
        if state.llm_error:
            answer = _noted(answer, to_script_of(state.question, MODEL_DOWN_NOTE.format(reason=state.llm_error)))
        return answer


#: How an answer to "出处在哪？" names where its quotes stand, before them.
SOURCE_LEAD = "出自{sources}："


def _with_sources(answer: Answer, question: Question) -> Answer:
    """The previous answer again, asked for its source: led by the documents (and sections) its
    citations stand in, which the staff member asked for in words."""
    named = dict.fromkeys(f"《{c.title}》" + (f"（{c.section}）" if c.section else "") for c in answer.citations)
    return answer.model_copy(update={"answer": to_script_of(question, SOURCE_LEAD.format(sources="、".join(named)))
                                     + answer.answer})


def _noted(answer: Answer, note: str) -> Answer:
    return answer.model_copy(update={"notes": (note, *answer.notes)})


def passage(n: int, retrieved: Retrieved) -> Passage:
    """The verifier's numbered passage (n from 1) of a retrieved one."""
    return Passage(n, retrieved.hit, dict(retrieved.subject), retrieved.heading_start, retrieved.document_names,
                   retrieved.page_starts, retrieved.sheet)


def with_versions(state: ChainState) -> ChainState:
    """A generated draft with the other documents' versions beside it where they disagree (see
    extractive.other_versions): the model may have been shown, or have chosen, one document only,
    and no document, however it is worded, may keep another's statement out of the answer."""
    draft = state.draft
    if draft is None:
        raise ValueError("with_versions needs the model's parsed draft (run _parse first)")
    answered = [(numbers[0], text) for text, numbers in draft.sentences if numbers]
    rivals = other_versions(state.question, state.passages, answered)
    if not rivals:
        return state
    return state.replace(draft=Draft(sentences=draft.sentences + tuple((s, (n,)) for n, s in rivals),
                                     quotes=draft.quotes + tuple(rivals), conflict=True, judged=draft.judged))


STEERING_PLACEHOLDER = "（此处为疑似指令，已隐去）"


def shown_to_model(text: str) -> str:
    """A passage as the model sees it: sentences that give orders to the reader or the system are
    replaced by a placeholder (a document must not steer the model, see rag.text.directives), and
    the document's own bracketed numbers are shown full width so the model cannot take them for
    citation markers."""
    out, last = [], 0
    for s, e in directive_sentences(text):
        out.append(text[last:s] + STEERING_PLACEHOLDER)
        last = e
    out.append(text[last:])
    return defuse_markers("".join(out))


def parse_llm_output(raw: str) -> Draft:
    """Read "回答：… [n]" and "依据：[n] 「quote」" from the model's reply.

    A cited sentence with no quote of its own offers itself as the quote: it is then checked
    against the passage like any quote, and dropped if it is not (nearly) verbatim.
    """
    text = raw.strip()
    answer_part, *rest = re.split(r"(?:依据|依據)[:：]", text, maxsplit=1)
    basis = rest[0] if rest else ""
    answer_part = re.sub(r"^\s*(?:回答|答案)[:：]\s*", "", answer_part.strip())
    if not answer_part or _NO_INFO.search(answer_part):
        return Draft(sentences=(), quotes=())
    sentences = parse_cited_text(answer_part)
    quotes = [(int(m.group(1)), m.group(2)) for line in basis.splitlines() if (m := _QUOTE_LINE.match(line))]
    quoted = {n for n, _ in quotes}
    if quoted and not any(numbers for _, numbers in sentences):
        # markers only in the basis: each sentence rests on the quoted passages (still checked)
        sentences = tuple((text, tuple(sorted(quoted))) for text, _ in sentences)
    for sentence, numbers in sentences:
        quotes.extend((n, sentence) for n in numbers if n not in quoted)
    return Draft(sentences=sentences, quotes=tuple(quotes))


def _faithful_rewrite(question: str, rewritten: str, history: Sequence[str]) -> bool:
    """A model's standalone version of a follow-up: one question, keeping the follow-up's own words,
    naming a place when the conversation did, and only places it named (a model must not add a city)."""
    if not rewritten or len(rewritten) > 120 or rewritten == question.strip():
        return False
    q, r = analyze_question(question), analyze_question(rewritten)
    named = {p for turn in [*history, question] for p in analyze_question(turn).places}
    # the place the conversation is about must survive the rewrite (else it answers for anywhere)
    return all(w in r.key for w in q.content_words) and set(r.places) <= named and bool(r.places or not named)


def turns(messages: Sequence[Any]) -> dict[str, list[str]]:
    """``history`` (the user's questions) and ``history_answers`` (the reply after each, "" where
    none) from a chat history of LangChain messages, (role, text) pairs or {"role", "content"} dicts;
    system messages are left out."""
    questions: list[str] = []
    answers: list[str] = []
    for m in messages:
        if isinstance(m, dict):
            role, content = m.get("role"), m.get("content")
        elif isinstance(m, tuple | list) and len(m) == 2:
            role, content = m
        else:
            role, content = getattr(m, "type", None), getattr(m, "content", None)
        if not isinstance(content, str) or not content.strip():
            continue
        if role in ("user", "human"):
            questions.append(content)
            answers.append("")
        elif role in ("assistant", "ai") and answers and not answers[-1]:
            answers[-1] = content
    return {"history": questions, "history_answers": answers}
