"""LLM mode under concurrency: the bounded line in front of the model (rag/llm/queue.py), over real
HTTP with a slow stand-in model, and with the real packaged model."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import httpx
import pytest

from rag.llm.queue import LLMBusyError, LLMQueue
from rag.models import Progress
from tests.conftest import TIANCHANG_Q, copy_index, start_server
from tests.fake_llm import GatedLLMServer


def test_the_line_is_first_come_first_served_and_bounded() -> None:
    line = LLMQueue(max_waiting=2, max_wait_s=300)
    first, second, third = line.join(), line.join(), line.join()
    assert list(first.wait()) == [] and second.ahead() == 1 and third.ahead() == 2
    assert line.full() and line.stats() == {"answering": 1, "waiting": 2, "max_waiting": 2}
    with pytest.raises(LLMBusyError) as busy:
        line.join()
    assert busy.value.retry_after_s >= 5
    seen: list[int] = []
    told = threading.Condition()

    def wait_in_line() -> None:
        for ahead in third.wait():
            with told:
                seen.append(ahead)
                told.notify_all()

    waiter = threading.Thread(target=wait_in_line)
    waiter.start()
    with told:
        assert told.wait_for(lambda: seen == [2], 60)
    first.leave()  # the next in line moves up; the third learns it has one ahead now
    with told:
        assert told.wait_for(lambda: seen == [2, 1], 60)
    second.leave()
    waiter.join(timeout=60)
    assert not waiter.is_alive() and third.ahead() == 0
    third.leave()
    assert line.stats() == {"answering": 0, "waiting": 0, "max_waiting": 2}


def test_a_place_that_waits_too_long_is_given_up() -> None:
    line = LLMQueue(max_waiting=1, max_wait_s=0.2)
    holder, waiting = line.join(), line.join()
    with pytest.raises(LLMBusyError):
        list(waiting.wait())
    assert line.stats()["waiting"] == 0  # its place went with it
    holder.leave()
    assert Progress.queued(2).text == "排队中，前面还有2个问题"


def _events(lines: Iterator[str]) -> Iterator[tuple[str, dict]]:
    event = None
    for line in lines:
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and event:
            yield event, json.loads(line[6:])


def test_concurrent_llm_requests_over_http(docs_index, tmp_path) -> None:
    """One answered, one waiting (its stream told its place), the next answered extractively at once
    with a note, or 503 + Retry-After when it asked for the LLM only; /healthz shows the line."""
    fake = GatedLLMServer("回答：天长市2020年8月被评为首批全国法治政府建设示范市。[1]")
    settings = copy_index(docs_index, tmp_path, answer_mode="llm", llm_url=fake.url, llm_queue_max=1,
                          reader="off")
    base, stop = start_server(settings)
    try:
        with httpx.Client(base_url=base, timeout=120) as client:
            answered: list[httpx.Response] = []
            first = threading.Thread(target=lambda: answered.append(
                client.post("/v1/answer", json={"question": TIANCHANG_Q, "mode": "llm"})))
            first.start()
            assert fake.wait_started(1), "the first question never reached the model"
            assert client.get("/healthz").json()["llm"]["queue"] == {"answering": 1, "waiting": 0, "max_waiting": 1}
            with client.stream("POST", "/v1/answer", json={"question": TIANCHANG_Q, "mode": "llm", "stream": True}) as r:
                events = _events(r.iter_lines())
                kind, data = next(events)
                assert kind == "progress" and data["stage"] == "queued" and data["ahead"] == 1
                assert data["text"] == "排队中，前面还有1个问题"
                assert client.get("/healthz").json()["llm"]["queue"]["waiting"] == 1
                # the line is full: the verified extractive answer at once, saying why
                third = client.post("/v1/answer", json={"question": TIANCHANG_Q, "mode": "llm"})
                assert third.status_code == 200 and "2020年8月" in third.json()["answer"]
                assert third.json()["mode"] == "extractive" and "本地模型正忙" in third.json()["notes"][0]
                for body in ({"question": TIANCHANG_Q, "mode": "llm", "llm_only": True},
                             {"question": TIANCHANG_Q, "mode": "llm", "llm_only": True, "stream": True}):
                    refused = client.post("/v1/answer", json=body)
                    assert refused.status_code == 503 and refused.json()["error"]["code"] == "llm_busy", refused.text
                    assert int(refused.headers["retry-after"]) >= 5
                chat = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": TIANCHANG_Q}],
                                                                 "llm_only": True})
                assert chat.status_code == 503 and "retry-after" in chat.headers
                fake.gate.set()
                rest = list(events)
            assert [k for k, _ in rest][-2:] == ["answer", "done"] and ("progress", Progress.checking().model_dump()) in rest
            first.join(timeout=120)
            assert answered and answered[0].status_code == 200
            assert client.get("/healthz").json()["llm"]["queue"] == {"answering": 0, "waiting": 0, "max_waiting": 1}
    finally:
        stop()
        fake.close()


def test_the_packaged_model_queues_and_refuses_past_the_bound(docs_index, e5) -> None:
    """The real model busy with one stream: the next stream waits with its place, the one after is
    answered extractively at once, and llm_only is refused; then the waiting one gets its answer."""
    pytest.importorskip("llama_cpp", reason="the LLM extra is not installed (pip install -e '.[llm]')")
    from rag.answer.chain import AnswerChain
    from rag.retrieve import Retriever

    settings = docs_index.model_copy(update={"answer_mode": "llm", "llm_queue_max": 1})
    chain = AnswerChain(settings, Retriever.open(settings, e5))
    try:
        _queue_with_the_real_model(chain)
    finally:
        chain.close()


def _queue_with_the_real_model(chain) -> None:
    busy = chain.stream(TIANCHANG_Q)
    assert next(busy) == Progress.checking()
    assert isinstance(next(p for p in busy if not isinstance(p, Progress)), str)  # the model is writing
    waiting = chain.stream("苏州市政务服务可网办率达到多少？")
    assert next(waiting) == Progress.queued(1)
    assert chain.llm_health()["queue"] == {"answering": 1, "waiting": 1, "max_waiting": 1}
    third = chain.ask(TIANCHANG_Q)
    assert third.mode == "extractive" and "2020年8月" in third.answer and "本地模型正忙" in third.notes[0]
    with pytest.raises(LLMBusyError):
        chain.ask(TIANCHANG_Q, llm_only=True)
    assert not list(busy)[-1].refused
    answer = list(waiting)[-1]
    assert not answer.refused and "98.6%" in answer.answer + "".join(c.quote for c in answer.citations)
    assert chain.llm_health()["queue"]["answering"] == 0
