"""Long conversations and busy servers: what a request may carry is bounded in the schema (422
beyond), what is read of a conversation is bounded by Settings, and `policyqa serve` stops within
seconds of SIGTERM whatever a request is doing. Over real HTTP on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading

import httpx
import pytest

from rag.api import MAX_TURN_CHARS, MAX_TURNS
from tests.conftest import ROOT, TIANCHANG_Q, copy_index


@pytest.fixture(scope="module")
def api(live_server):
    with httpx.Client(base_url=live_server.base, headers=live_server.headers, timeout=300) as client:
        yield client


def test_a_long_history_turn_is_answered_not_a_500(api: httpx.Client) -> None:
    """A 2,500-character earlier turn was a 500 (the follow-up became a question over the limit)."""
    long_turn = "苏州市2023年全市人民调解组织共化解纠纷多少件？" * 100
    r = api.post("/v1/answer", json={"question": TIANCHANG_Q, "history": [long_turn]})
    assert r.status_code == 200, r.text
    assert "2020年8月" in r.json()["answer"]
    r = api.post("/v1/answer", json={"question": "那太仓呢？", "history": [long_turn]})
    assert r.status_code == 200, r.text  # the turn is too long to be read: the follow-up stands alone


def test_a_long_chat_is_answered_and_oversized_turns_are_422(api: httpx.Client) -> None:
    messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": "法治政府建设示范" * 300} for i in range(99)]
    messages.append({"role": "user", "content": TIANCHANG_Q})
    r = api.post("/v1/chat/completions", json={"messages": messages})
    assert r.status_code == 200, r.text[:300]
    assert "2020年8月" in r.json()["choices"][0]["message"]["content"]
    too_long = "问" * (MAX_TURN_CHARS + 1)
    for path, body in (("/v1/chat/completions", {"messages": [{"role": "user", "content": too_long}]}),
                       ("/v1/chat/completions", {"messages": [{"role": "user", "content": [{"type": "text", "text": too_long}]}]}),
                       ("/v1/chat/completions", {"messages": [{"role": "user", "content": "问"}] * 101}),
                       ("/v1/answer", {"question": TIANCHANG_Q, "history": [too_long]}),
                       ("/v1/answer", {"question": TIANCHANG_Q, "history_answers": [too_long]}),
                       ("/v1/answer", {"question": TIANCHANG_Q, "history": ["问"] * (MAX_TURNS + 1)}),
                       ("/v1/answer", {"question": too_long})):
        r = api.post(path, json=body)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request", (path, r.text[:200])
    schema = api.get("/openapi.json").json()["components"]["schemas"]
    assert schema["AnswerRequest"]["properties"]["history"]["maxItems"] == MAX_TURNS
    assert schema["AnswerRequest"]["properties"]["history"]["items"]["maxLength"] == MAX_TURN_CHARS
    assert "POLICYQA_HISTORY_TURNS" in schema["ChatRequest"]["properties"]["messages"]["description"]


def test_only_the_last_turns_within_the_budget_are_read(docs_index, e5) -> None:
    from rag.answer.chain import AnswerChain
    from rag.retrieve import Retriever

    settings = docs_index.model_copy(update={"history_turns": 2, "history_chars": 50})
    chain = AnswerChain(settings, Retriever.open(settings, e5))
    turns = ["早先的问题" * 3, "太长的一轮" * 20, "苏州市的问题？", "天长市的问题？"]
    assert chain.bounded_history(turns, ["答1", "答2", "答3", "答" * 80]) == (
        ["苏州市的问题？", "天长市的问题？"], ["答3", "答" * 50])
    assert chain.bounded_history(turns[:2], []) == ([], [])  # the newest does not fit: nothing before it is read
    # a follow-up is read against the newest turns only
    answer = chain.ask("那太仓呢？", history=["天长市2020年获得了什么荣誉？", "苏州市2023年全市人民调解组织共化解纠纷多少件？"])
    assert answer.understood_as and "太仓" in answer.understood_as and "纠纷" in answer.understood_as


def _hanging_listener() -> tuple[socket.socket, int]:
    """A port that accepts connections and never answers: a model server stuck mid-request."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock, sock.getsockname()[1]


def test_sigterm_stops_a_busy_server_within_seconds(docs_index, tmp_path) -> None:
    settings = copy_index(docs_index, tmp_path)
    stuck, stuck_port = _hanging_listener()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "POLICYQA_INDEX_DIR": str(settings.index_dir), "POLICYQA_ANSWER_MODE": "llm",
           "POLICYQA_LLM_URL": f"http://127.0.0.1:{stuck_port}/v1", "POLICYQA_SHUTDOWN_GRACE_S": "2",
           "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(port), "--no-ui"],
                              env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=5) as client:
            for _ in range(600):  # ready when /healthz answers (models load first); or the server died
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    assert server.poll() is None, server.stdout.read().decode()
                    threading.Event().wait(0.5)
            busy = threading.Thread(target=lambda: _ignore_errors(
                lambda: httpx.post(f"{base}/v1/answer", json={"question": TIANCHANG_Q, "mode": "llm"}, timeout=300)),
                daemon=True)
            busy.start()
            for _ in range(600):  # busy: the request holds the model's turn (and waits on the stuck server)
                if client.get("/healthz").json()["llm"]["queue"]["answering"] == 1:
                    break
                threading.Event().wait(0.2)
            else:
                pytest.fail("the request never reached the model")
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)  # grace 2 s + 1 s; the rest is margin for a loaded machine
        except subprocess.TimeoutExpired:
            pytest.fail("policyqa serve was still running 15 s after SIGTERM while busy")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        stuck.close()


def _ignore_errors(call) -> None:
    try:
        call()
    except httpx.HTTPError:
        pass  # the server went away under it: that is the point
