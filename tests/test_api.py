"""The HTTP API over real HTTP on loopback, with the real index and models."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx
import pytest

from tests.conftest import TIANCHANG_Q, TIANCHANG_Q_TRAD
from tests.files import docx_file
from tests.ofd_files import bad_ofds


@pytest.fixture(scope="module")
def api(live_server):
    with httpx.Client(base_url=live_server.base, headers=live_server.headers, timeout=300) as client:
        yield client


def test_healthz_and_openapi(api: httpx.Client) -> None:
    health = api.get("/healthz").json()
    assert health["status"] == "ok" and health["embedded_chunks"] == health["chunks"] > 0
    schema = api.get("/openapi.json").json()
    assert {"/v1/answer", "/v1/search", "/v1/documents", "/v1/chat/completions"} <= set(schema["paths"])


def test_auth_required_when_keys_set(live_server) -> None:
    base = live_server.base
    r = httpx.post(f"{base}/v1/answer", json={"question": TIANCHANG_Q}, timeout=60)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    r = httpx.post(f"{base}/v1/answer", json={"question": TIANCHANG_Q}, headers={"X-API-Key": "other-key"}, timeout=60)
    assert r.status_code == 200
    assert httpx.get(f"{base}/v1/documents", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_answer_with_citation(api: httpx.Client) -> None:
    data = api.post("/v1/answer", json={"question": TIANCHANG_Q, "mode": "extractive"}).json()
    assert not data["refused"] and "2020年8月" in data["answer"]
    c = data["citations"][0]
    assert c["docid"] == "tianchang-2021.txt" and c["quote"] and c["end"] > c["start"]
    trad = api.post("/v1/answer", json={"question": TIANCHANG_Q_TRAD}).json()
    assert "評為" in trad["answer"]


def test_bad_requests_are_4xx_json(api: httpx.Client) -> None:
    for body, status in (({"question": ""}, 422), ({"question": "   "}, 400), ({"question": "问" * 3000}, 413),
                         ({}, 422), ({"question": TIANCHANG_Q, "mode": "magic"}, 422)):
        r = api.post("/v1/answer", json=body)
        assert r.status_code == status, (body, r.text)
        assert "message" in r.json()["error"]
    assert api.post("/v1/answer", content=b"{not json", headers={"content-type": "application/json"}).status_code == 422
    assert api.post("/v1/search", json={"question": TIANCHANG_Q, "k": 0}).status_code == 422


def test_search_with_filters(api: httpx.Client) -> None:
    hits = api.post("/v1/search", json={"question": "法治政府建设示范", "k": 3, "filters": {"city": "苏州市"}}).json()["hits"]
    assert hits and {h["docid"] for h in hits} == {"suzhou-2023.txt"}


def test_upload_docx_ask_then_delete(api: httpx.Client, tmp_path: Path) -> None:
    path = docx_file(tmp_path / "滁州通知.docx", ["滁州市2025年开展行政执法案卷评查，共抽查案卷417份。", "其他安排另行通知。"],
                     [["项目", "数量"], ["评查案卷", "417份"]])
    r = api.post("/v1/documents", files={"file": (path.name, path.read_bytes())})
    assert r.status_code == 201, r.text
    assert r.json()["docid"] == r.json()["documents"][0]["docid"] == "uploads/滁州通知.docx"
    assert any(d["docid"] == "uploads/滁州通知.docx" for d in api.get("/v1/documents").json()["documents"])
    answer = api.post("/v1/answer", json={"question": "滁州市2025年抽查了多少份行政执法案卷？"}).json()
    assert not answer["refused"] and "417份" in answer["answer"]
    assert answer["citations"][0]["docid"] == "uploads/滁州通知.docx"
    assert api.delete("/v1/documents/uploads/滁州通知.docx").status_code == 200
    assert api.delete("/v1/documents/uploads/滁州通知.docx").status_code == 404
    assert api.post("/v1/answer", json={"question": "滁州市2025年抽查了多少份行政执法案卷？"}).json()["refused"]


def test_upload_refusals(api: httpx.Client, live_server, tmp_path: Path) -> None:
    r = api.post("/v1/documents", files={"file": ("slides.pptx", b"PK\x03\x04")})
    assert r.status_code == 415  # a format PolicyQA does not read
    r = api.post("/v1/documents", files={"file": ("macro.xlsm", b"PK\x03\x04")})
    assert r.status_code == 422 and "macro.xlsm" in r.json()["error"]["message"]  # read, and found broken
    r = api.post("/v1/documents", files={"file": ("big.txt", "法".encode() * 600_000)})
    assert r.status_code == 413
    r = api.post("/v1/documents", files={"file": ("scan.pdf", b"%PDF-1.4 nothing")})
    assert r.status_code == 422 and "scan.pdf" in r.json()["error"]["message"]
    r = api.post("/v1/documents", files={"file": ("../../escape.txt", "越权写入测试，天长市。".encode())})
    assert r.status_code == 201
    uploads = live_server.settings.upload_dir
    assert not (uploads.parent / "escape.txt").exists() and not (uploads.parent.parent / "escape.txt").exists()
    docid = r.json()["docid"]
    assert docid == "uploads/escape.txt"
    (doc,) = [d for d in api.get("/v1/documents").json()["documents"] if d["docid"] == docid]
    assert "source" not in doc  # where the server keeps it is not shown
    assert api.delete(f"/v1/documents/{docid}").status_code == 200


def test_upload_ofds_each_bad_one_named_and_a_missing_page_warned(api: httpx.Client, tmp_path: Path) -> None:
    expected = bad_ofds(tmp_path, [["芜湖市2025年共办理公证事项6543件，同比增长百分之八。"], ["其他事项另行通知。"]])
    for name, word in expected.items():
        r = api.post("/v1/documents", files={"file": (name, (tmp_path / name).read_bytes())})
        if word is None:
            assert r.status_code == 201, (name, r.text)
            warned = r.json()["warnings"]
            assert (name == "good.ofd") != any("page 2 of 2 cannot be read" in w and "第2页无法读取" in w
                                               for w in warned), (name, warned)
        else:
            message = r.json()["error"]["message"]
            assert r.status_code == 422 and name in message and word.lower() in message.lower(), (name, r.text)
            assert "Traceback" not in message and str(tmp_path) not in message
    answer = api.post("/v1/answer", json={"question": "芜湖市2025年办理了多少件公证事项？"}).json()
    assert "6543件" in answer["answer"] and answer["citations"][0]["page"] == 1
    assert answer["citations"][0]["docid"] in ("uploads/good.ofd", "uploads/missing-page.ofd")
    for name in ("good.ofd", "missing-page.ofd"):
        assert api.delete(f"/v1/documents/uploads/{name}").status_code == 200


def _stream_answer(base: str, headers: dict, question: str, out: list) -> None:
    events = []
    with httpx.stream("POST", f"{base}/v1/answer", json={"question": question, "stream": True}, headers=headers, timeout=300) as r:
        event = None
        for line in r.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                events.append((event, json.loads(line[5:])))
    out.append(events)


def test_two_concurrent_streaming_requests(live_server) -> None:
    base, headers = live_server.base, live_server.headers
    results: list = []
    threads = [threading.Thread(target=_stream_answer, args=(base, headers, q, results))
               for q in (TIANCHANG_Q, "苏州市2023年全市人民调解组织共化解纠纷多少件？")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert len(results) == 2
    for events in results:
        kinds = [k for k, _ in events]
        assert kinds[-2:] == ["answer", "done"]
        assert not events[-2][1]["refused"]


def test_openai_client_talks_to_chat_completions(live_server) -> None:
    from openai import OpenAI

    base = live_server.base
    client = OpenAI(base_url=f"{base}/v1", api_key="test-key")
    reply = client.chat.completions.create(model="policyqa", messages=[{"role": "user", "content": TIANCHANG_Q}])
    text = reply.choices[0].message.content
    assert "2020年8月" in text and "来源" in text and "天长市法治创建工作案例" in text
    assert reply.model_extra["citations"][0]["docid"] == "tianchang-2021.txt"
    stream = client.chat.completions.create(model="policyqa", messages=[{"role": "user", "content": TIANCHANG_Q}], stream=True)
    streamed = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert streamed == text


def test_a_three_turn_conversation_through_the_openai_client(live_server) -> None:
    """Each turn is answered as the standalone question it stands for, with its own citations."""
    from openai import OpenAI

    client = OpenAI(base_url=f"{live_server.base}/v1", api_key="test-key")
    messages = [{"role": "system", "content": "你是助手。"},
                {"role": "user", "content": "天长市有多少人通过行政执法证考试？"},
                {"role": "assistant", "content": "截至目前…171人通过考试。[1]"},
                {"role": "user", "content": "聘请了多少名特邀行政执法监督员？"},
                {"role": "assistant", "content": "聘请了10名政府特邀行政执法监督员。[1]"},
                {"role": "user", "content": "那太仓呢？"}]
    second = client.chat.completions.create(model="policyqa", messages=messages[:4])
    text = second.choices[0].message.content
    assert "理解为：天长市聘请了多少名特邀行政执法监督员" in text and "10名" in text
    third = client.chat.completions.create(model="policyqa", messages=messages, max_tokens=64, temperature=0.2)
    assert "理解为：太仓市聘请了多少名特邀行政执法监督员" in third.choices[0].message.content
    assert third.model_extra["refused"] and not third.model_extra["citations"]  # never Tianchang's 10
    which = [{"role": "user", "content": "哪个城市组建了4支突击队？"},
             {"role": "assistant", "content": "如皋市：啟動“淬火強基”訓練營，組建成立…4支突擊隊。[1]"},
             {"role": "user", "content": "该市部署了多少个远程公证服务点？"}]
    text_which = client.chat.completions.create(model="policyqa", messages=which).choices[0].message.content
    assert "理解为：如皋市部署了多少个远程公证服务点" in text_which and "13个" in text_which
    stream = client.chat.completions.create(model="policyqa", messages=messages[:4], stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == text
    # /v1/answer takes the same history
    r = httpx.post(f"{live_server.base}/v1/answer", headers=live_server.headers, timeout=120,
                   json={"question": "那太仓呢？", "history": ["苏州市2023年全市人民调解组织共化解纠纷多少件？"]})
    body = r.json()
    assert body["understood_as"] == "太仓市2023年全市人民调解组织共化解纠纷多少件？" and body["question"] == "那太仓呢？"
    # a 👎 on that answer is kept with it
    r = httpx.post(f"{live_server.base}/v1/feedback", headers=live_server.headers, timeout=60,
                   json={"rating": "down", "note": "测试", "answer": body})
    assert r.status_code == 201
    kept = [json.loads(x) for x in live_server.settings.feedback_file.read_text(encoding="utf-8").splitlines()]
    assert kept[-1]["understood_as"] == body["understood_as"] and kept[-1]["note"] == "测试"


def test_schemathesis_finds_no_server_errors_and_no_conformance_failures(live_server) -> None:
    """Generated requests from the OpenAPI schema, every operation: none may get a 5xx, and every
    response must be what the schema says (status codes, content types, bodies, Allow headers)."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import (allow_header_conformance, content_type_conformance, not_a_server_error,
                                     response_headers_conformance, response_schema_conformance,
                                     status_code_conformance)

    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
              response_headers_conformance, allow_header_conformance]
    schema = schemathesis.openapi.from_url(f"{live_server.base}/openapi.json")
    failures = []
    # every operation but DELETE (the fuzzer must not remove the shared server's documents) and
    # feedback (an Answer per example: slow to generate, and appended to the feedback log)
    paths = ("/v1/answer", "/v1/search", "/v1/chat/completions", "/v1/documents", "/v1/models", "/healthz",
             "/v1/documents/{docid}/pages/{page}", "/v1/documents/{docid}/subject", "/v1/me")
    for path in paths:
        for method in [m for m in schema[path] if m.upper() != "DELETE"]:

            @given(case=schema[path][method].as_strategy())
            @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def check(case) -> None:
                if isinstance(case.body, dict) and case.body.get("mode") == "llm":
                    case.body["mode"] = "extractive"  # generation is tested elsewhere; keep fuzzing fast
                response = case.call(base_url=live_server.base, headers=live_server.headers, timeout=300)
                try:
                    case.validate_response(response, checks=checks)
                except Exception as exc:  # a check failed: collect, report all at the end
                    failures.append((method, path, response.status_code, str(exc)[:300]))

            check()
    assert not failures, failures


def test_every_405_names_the_methods_its_path_serves(live_server) -> None:
    """A method a path does not serve is a 405 whose Allow lists every method it does serve (the
    schema's for that path at least), and each of those is served (not a 405 itself)."""
    spec = httpx.get(f"{live_server.base}/openapi.json", timeout=60).json()
    samples = {"docid": "nonexistent.pdf", "page": "1", "name": "默认"}
    refused = 0
    for template, operations in spec["paths"].items():
        url = live_server.base + template.format(**samples)
        documented = {m.upper() for m in operations}
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
            if method in documented:
                continue
            r = httpx.request(method, url, headers=live_server.headers, timeout=60)
            if r.status_code != 405:  # served at this URL by another route (DELETE of docid 'x.pdf/pages/1')
                assert method == "DELETE" and r.status_code == 404, (method, template, r.status_code)
                continue
            refused += 1
            allowed = set(r.headers["allow"].split(", "))
            assert documented <= allowed and method not in allowed, (method, template, allowed)
            for other in allowed - documented:
                served = httpx.request(other, url, headers=live_server.headers, timeout=60)
                assert served.status_code != 405, (other, template)
    assert refused >= 20
