"""The packaged LLM end to end (llama.cpp, offline) and the OpenAI-compatible backend against
llama.cpp's own server on loopback. Needs the ``llm`` extra, which CI installs."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time

import httpx
import pytest

from rag.answer.chain import AnswerChain
from rag.config import Settings
from rag.retrieve import Retriever
from rag.retrieve.rerank import LLMJudgeReranker
from tests.conftest import ROOT, TIANCHANG_Q
from tests.test_answer import _stored

llama_cpp = pytest.importorskip("llama_cpp", reason="the LLM extra is not installed (pip install -e '.[llm]')")


@pytest.fixture(scope="module")
def llm_chain(docs_index: Settings, e5) -> AnswerChain:
    return AnswerChain(docs_index.model_copy(update={"answer_mode": "llm"}), Retriever.open(docs_index, e5))


def test_llm_answers_tianchang_and_streams(llm_chain: AnswerChain, docs_index: Settings) -> None:
    from rag.models import Progress

    pieces = list(llm_chain.stream(TIANCHANG_Q))
    answer = pieces[-1]
    assert pieces[0] == Progress.checking()  # what people are shown while it writes
    assert len(pieces) > 3 and all(isinstance(p, str) for p in pieces[1:-1])
    assert not answer.refused and answer.mode == "llm", answer  # the model's own answer, not the fallback
    assert "2020" in answer.answer and answer.citations
    for c in answer.citations:
        assert _stored(docs_index, c.docid)[c.start:c.end] == c.quote


def test_llm_small_eval_run(llm_chain: AnswerChain, docs_index: Settings) -> None:
    from rag.evaluate import load_eval_set, metrics, score

    items = {q["id"]: q for q in load_eval_set(ROOT / "eval" / "policyqa_eval.jsonl")}
    chosen = [items[i] for i in ("q013", "q045", "q061", "q063")]  # suzhou, trad tianchang, 2 unanswerable
    scored = [score(q, llm_chain.ask(q["question"]), lambda d: _stored(docs_index, d)) for q in chosen]
    m = metrics(scored)
    assert m["quotes_verbatim_share"] == 1.0
    assert m["wrong_answers"] == 0, [(s.item["question"], s.answer.answer) for s in scored]
    assert m["refusal_recall"] == 1.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_openai_compatible_backend_against_llama_cpp_server(docs_index: Settings, e5) -> None:
    pytest.importorskip("llama_cpp.server", reason="llama-cpp-python[server] not installed")
    from rag.llm.llamacpp import packaged_gguf
    from rag.llm.openai_compat import OpenAICompatModel

    port = _free_port()
    # llama.cpp's own server, loading as PolicyQA does (no weight repacking: it crashes on AMX CPUs)
    boot = ("from rag.llm.llamacpp import set_weight_repack; set_weight_repack(False); "
            "from llama_cpp.server.__main__ import main; main()")
    server = subprocess.Popen([sys.executable, "-c", boot, "--model", str(packaged_gguf()),
                               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096", "--model_alias", "qwen-local"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 600  # ready = it answers /v1/models (the model is loaded), not just listens
        while True:
            assert server.poll() is None, "llama.cpp's server exited while starting"
            assert time.time() < deadline, "llama.cpp's server did not answer within 600 s"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=30).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)  # polling interval of a readiness wait
        settings = docs_index.model_copy(update={"answer_mode": "llm", "llm_url": f"http://127.0.0.1:{port}/v1",
                                                 "llm_model": "qwen-local"})
        chain = AnswerChain(settings, Retriever.open(settings, e5))
        assert isinstance(chain.llm, OpenAICompatModel)
        answer = chain.ask(TIANCHANG_Q)
        assert not answer.refused and "2020" in answer.answer
        assert answer.citations[0].docid == "tianchang-2021.txt"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_unreachable_llm_server_answers_extractively_and_says_so(docs_index: Settings, e5) -> None:
    settings = docs_index.model_copy(update={"answer_mode": "llm", "llm_url": f"http://127.0.0.1:{_free_port()}"})
    chain = AnswerChain(settings, Retriever.open(settings, e5))
    answer = chain.ask(TIANCHANG_Q)
    assert not answer.refused and answer.mode == "extractive" and "2020年8月" in answer.answer
    assert len(answer.notes) == 1 and "本地模型暂不可用" in answer.notes[0] and "无法连接模型服务器" in answer.notes[0]
    assert not re.search(r"[A-Za-z]", answer.notes[0]), answer.notes  # staff read it: Chinese only


def test_model_process_crash_falls_back_and_recovers(llm_chain: AnswerChain, docs_index: Settings) -> None:
    """A native crash of llama.cpp (as on AMX CPUs) ends the model process only: the request gets the
    verified extractive answer with a note, health says so, and the next request has a fresh model."""
    import os
    import signal

    model = llm_chain.llm
    stream = llm_chain.stream(TIANCHANG_Q)
    first = next(p for p in stream if isinstance(p, str))
    assert first and model.pid
    os.kill(model.pid, signal.SIGSEGV)
    answer = list(stream)[-1]
    assert not answer.refused and answer.mode == "extractive" and "2020年8月" in answer.answer
    assert "SIGSEGV" in answer.notes[0]
    for c in answer.citations:
        assert _stored(docs_index, c.docid)[c.start:c.end] == c.quote
    assert llm_chain.llm_health()["status"] == "degraded"
    again = llm_chain.ask(TIANCHANG_Q)
    assert again.mode == "llm" and not again.notes and "2020" in again.answer
    assert llm_chain.llm_health()["status"] == "ready"


def test_model_without_weight_repack_answers(docs_index: Settings) -> None:
    """The load path AMX machines take (no extra buffer types), exercised on whatever CPU runs CI."""
    from rag.llm.llamacpp import LlamaCppModel

    model = LlamaCppModel(threads=None, n_ctx=2048, weight_repack="off", timeout_s=300)
    try:
        assert model.health()["weight_repack"] is False
        reply = model.complete([{"role": "user", "content": "2加3等于几？只回答一个阿拉伯数字。"}], max_tokens=8)
        assert "5" in reply
    finally:
        model.close()


def test_abandoned_stream_does_not_block_the_model(llm_chain: AnswerChain) -> None:
    """A client that disconnects mid-stream must not leave the model locked for everyone else.

    The wait is derived from this machine's speed now (a loaded machine is slow, not locked): the
    abandoned reply is read to its end, then the next answer is written, each about as long as a
    whole answer measured first."""
    import threading
    import time

    question = "苏州市政务服务可网办率达到多少？"
    started = time.monotonic()
    llm_chain.ask(question)
    baseline = time.monotonic() - started
    stream = llm_chain.stream(TIANCHANG_Q)
    next(p for p in stream if isinstance(p, str))
    del stream  # abandoned after the first piece
    result: list = []
    worker = threading.Thread(target=lambda: result.append(llm_chain.ask(question)), daemon=True)
    worker.start()
    limit = max(60.0, 6 * baseline)  # two answers' worth, three times over
    worker.join(timeout=limit)
    assert result, f"the model stayed locked after an abandoned stream (waited {limit:.0f} s; an answer took {baseline:.1f} s)"


def test_llm_judge_reranks_the_award_paragraph_first(llm_chain: AnswerChain, docs_index: Settings, e5) -> None:
    judge = LLMJudgeReranker(llm_chain.llm, candidates=4)
    hits = Retriever.open(docs_index, e5, reranker=judge).search("天长市获得过哪些国家级的法治荣誉？", k=6)
    assert len(hits) == 6 and [h.ranks.get("judge") for h in hits[:4]] == [1, 2, 3, 4]
    assert "judge" not in hits[4].ranks  # beyond the judged candidates: fused order, unjudged
    assert "全国法治政府建设示范市" in hits[0].chunk.text and hits[0].score > 0
    assert hits[0].score > hits[3].score
    # POLICYQA_RERANK builds the judge from settings, and the answer chain writes with the same model
    settings = docs_index.model_copy(update={"rerank": True})
    retriever = Retriever.open(settings, e5)
    assert isinstance(retriever.reranker, LLMJudgeReranker)
    assert AnswerChain(settings, retriever).llm is retriever.reranker.model


def test_the_packaged_model_reads_support_by_meaning(llm_chain: AnswerChain) -> None:
    """The reader on real cases of the hard set: a paraphrase the lexical gate refuses (网上可办率 for
    可网办率) is chosen among other rates, none is chosen for a rate no sentence gives; in LLM mode the
    answer follows."""
    from rag.answer.reader import Reader
    from rag.text import analyze_question

    s = llm_chain.settings
    reader = Reader(llm_chain.llm, s.reader_margin, s.reader_candidates, s.reader_sentence_chars)
    sentences = ["全市行政复议直接纠错率为11.4%。", "升级门户网站及“苏服办”移动端，政务服务可网办率达98.6%。"]
    assert reader.choose(analyze_question("苏州市政务服务事项的网上可办率是多少？"), sentences) == 1
    assert reader.choose(analyze_question("苏州市行政诉讼败诉率是多少？"), sentences) is None
    answer = llm_chain.ask("苏州市政务服务事项的网上可办率是多少？")
    assert not answer.refused and "98.6%" in answer.answer + "".join(c.quote for c in answer.citations)


def test_a_topic_alone_is_asked_of_the_conversations_place_in_both_modes(llm_chain: AnswerChain) -> None:
    """"直接纠错率呢？" names a new topic, not a place or year: it is asked as the previous question
    asked, of its place and year, and the answer is checked against that standalone question."""
    history = ["常熟市2015—2019年行政复议机关共受理行政复议案件多少件？"]
    for mode in ("llm", "extractive"):
        answer = llm_chain.ask("直接纠错率呢？", mode=mode, history=history,
                               history_answers=["2015—2019年，行政复议机关共受理行政复议案件313件，复议直接纠错率7.9%。[1]"])
        assert answer.understood_as and "常熟" in answer.understood_as and "纠错率" in answer.understood_as
        assert not answer.refused and "7.9%" in answer.answer + "".join(c.quote for c in answer.citations)


def test_the_model_rewrites_a_follow_up_the_rules_cannot(llm_chain: AnswerChain) -> None:
    """"同比呢？" points back at the previous figure: the rules leave it; in LLM mode the model may make
    it standalone, and a rewrite is kept only with the conversation's place (never another's)."""
    history = ["常熟市2015—2019年行政复议机关共受理行政复议案件多少件？"]
    answer = llm_chain.ask("同比呢？", history=history,
                           history_answers=["2015—2019年，行政复议机关共受理行政复议案件313件，复议直接纠错率7.9%。[1]"])
    if answer.understood_as:
        assert "常熟" in answer.understood_as and "同比" in answer.understood_as
    assert all(c.docid == "changshu-2020.txt" for c in answer.citations)
    assert llm_chain.ask("同比呢？", mode="extractive", history=history).understood_as is None
