"""Security and concurrency of a real server on loopback (keys on), one test per finding of the probe:
every door needs a key, no server file can be read through an upload, names never collide, size
limits hold for any transfer encoding, and writes under contention are JSON 4xx/503, never 500."""

from __future__ import annotations

import fcntl
import json
import threading
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from tests.conftest import DOCS, TIANCHANG_Q, copy_index, start_server
from tests.files import docx_bomb

WRITE = {"Authorization": "Bearer write-key"}
READ = {"Authorization": "Bearer read-key"}


@pytest.fixture(scope="module")
def server(tmp_path_factory, docs_index, e5):
    settings = copy_index(docs_index, tmp_path_factory.mktemp("secure"), api_keys="write-key",
                          read_keys="read-key", max_upload_mb=1.0)
    base, stop = start_server(settings)
    yield SimpleNamespace(base=base, settings=settings)
    stop()


def _docids(base: str) -> set[str]:
    return {d["docid"] for d in httpx.get(f"{base}/v1/documents", headers=READ, timeout=60).json()["documents"]}


def _uploads(settings) -> set[str]:
    folder = settings.upload_dir
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


# -- 1. one guard for every door ------------------------------------------------------------------

DOORS = [
    ("GET", "/v1/documents"), ("POST", "/v1/answer"), ("POST", "/v1/search"), ("GET", "/v1/models"),
    ("POST", "/v1/chat/completions"), ("POST", "/v1/documents"), ("DELETE", "/v1/documents/tianchang-2021.txt"),
    ("PUT", "/v1/documents/tianchang-2021.txt/subject"),
    ("GET", "/ui/"), ("GET", "/ui/config"), ("GET", "/ui/gradio_api/info"), ("POST", "/ui/gradio_api/upload"),
    ("POST", "/ui/gradio_api/call/delete_doc"), ("POST", "/ui/gradio_api/queue/join"),
    ("GET", "/ui/gradio_api/file=/etc/hostname"), ("GET", "/ui/theme.css"), ("GET", "/ui/gradio_api/startup-events"),
]


@pytest.mark.parametrize("method, path", DOORS)
def test_no_door_opens_without_a_key(server, method: str, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "wrong"}, {"Cookie": "policyqa_session=forged"}):
        r = httpx.request(method, server.base + path, headers=headers, json={"data": ["tianchang-2021.txt"]}, timeout=60)
        assert r.status_code == 401, (method, path, headers, r.status_code, r.text[:200])
        assert r.json()["error"]["code"] == "unauthorized"


def test_ui_delete_event_without_a_key_deletes_nothing(server) -> None:
    """The probe removed tianchang-2021.txt through /ui/gradio_api/call/delete_doc with no key."""
    r = httpx.post(f"{server.base}/ui/gradio_api/call/delete_doc", json={"data": ["tianchang-2021.txt"]}, timeout=60)
    assert r.status_code == 401
    assert "tianchang-2021.txt" in _docids(server.base)


def test_a_browser_is_sent_to_the_login_page_then_let_in(server) -> None:
    with httpx.Client(base_url=server.base, timeout=60) as browser:
        r = browser.get("/ui/", headers={"Accept": "text/html"})
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=/ui/")
        page = browser.get(r.headers["location"])
        assert page.status_code == 200 and "访问密钥" in page.text
        bad = browser.post("/login", data={"key": "wrong", "next": "/ui/"})
        assert bad.status_code == 401 and "密钥不正确" in bad.text and "policyqa_session" not in bad.headers.get("set-cookie", "")
        ok = browser.post("/login", data={"key": "read-key", "next": "https://evil.example/"})
        assert ok.status_code == 303 and ok.headers["location"] == "/ui"  # no open redirect
        cookie = ok.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "read-key" not in cookie
        assert browser.get("/ui/", headers={"Accept": "text/html"}).status_code == 200
        config = browser.get("/ui/config").json()
        assert config["analytics_enabled"] is False
        # a read key signs in but cannot change the library, through the API or the UI upload route
        assert browser.delete("/v1/documents/tianchang-2021.txt").status_code == 403
        assert browser.post("/ui/gradio_api/upload", files={"files": ("x.txt", b"abc")}).status_code == 403
        assert browser.get("/logout").status_code == 303


def test_read_keys_ask_but_do_not_write(server) -> None:
    assert httpx.post(f"{server.base}/v1/answer", json={"question": TIANCHANG_Q}, headers=READ, timeout=60).status_code == 200
    r = httpx.post(f"{server.base}/v1/documents", files={"file": ("a.txt", "天长市".encode())}, headers=READ, timeout=60)
    assert r.status_code == 403 and r.json()["error"]["message_zh"]
    assert httpx.delete(f"{server.base}/v1/documents/tianchang-2021.txt", headers=READ, timeout=60).status_code == 403
    assert "tianchang-2021.txt" in _docids(server.base)


# -- 2. uploads only from uploads -----------------------------------------------------------------

def test_a_server_path_in_a_filedata_payload_is_not_read(server, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("机密：天长市服务器管理员口令是 hunter2-天长。" * 3, encoding="utf-8")
    payload = {"data": [[{"path": str(secret), "orig_name": "secret.txt", "meta": {"_type": "gradio.FileData"}}]]}
    with httpx.Client(base_url=server.base, headers=WRITE, timeout=120) as client:
        r = client.post("/ui/gradio_api/call/add_files", json=payload)
        if r.status_code == 200:  # the event ran: drain its result stream
            event_id = r.json()["event_id"]
            client.get(f"/ui/gradio_api/call/add_files/{event_id}")
        hits = client.post("/v1/search", json={"question": "服务器管理员口令", "k": 5}).json()["hits"]
    assert not any("hunter2" in h["text"] for h in hits)
    assert not any("secret" in d for d in _docids(server.base))


# -- 3. names never collide -----------------------------------------------------------------------

def test_an_upload_never_replaces_a_folder_document(server) -> None:
    with httpx.Client(base_url=server.base, headers=WRITE, timeout=300) as client:
        r = client.post("/v1/documents", files={"file": ("tianchang-2021.txt", "天长市于2015年获得示范称号。".encode())})
        assert r.status_code == 201 and r.json()["docid"] == "uploads/tianchang-2021.txt"
        docs = _docids(server.base)
        assert {"tianchang-2021.txt", "uploads/tianchang-2021.txt"} <= docs
        assert client.delete("/v1/documents/uploads/tianchang-2021.txt").status_code == 200
        answer = client.post("/v1/answer", json={"question": TIANCHANG_Q}).json()
        assert answer["citations"][0]["docid"] == "tianchang-2021.txt" and "2020年8月" in answer["answer"]


def test_same_base_name_is_a_new_version_inside_the_upload_folder(server) -> None:
    before = _uploads(server.settings)
    with httpx.Client(base_url=server.base, headers=WRITE, timeout=300) as client:
        a = client.post("/v1/documents", files={"file": ("../../x.txt", "宣城市2025年办理复议案件111件。".encode())})
        b = client.post("/v1/documents", files={"file": ("/etc/cron.d/x.txt", "宣城市2025年办理复议案件222件。".encode())})
        assert a.status_code == b.status_code == 201 and a.json()["docid"] == b.json()["docid"] == "uploads/x.txt"
        assert len(_uploads(server.settings) - before) == 1  # one stored file: the second is a new version
        answer = client.post("/v1/answer", json={"question": "宣城市2025年办理复议案件多少件？"}).json()
        assert "222件" in answer["answer"] and "111件" not in answer["answer"]
        long_name = "关于" * 150 + ".docx"
        from tests.files import PARA, docx_file

        path = docx_file(server.settings.index_dir.parent / "long.docx", [PARA], [["a", "b"]])
        r = client.post("/v1/documents", files={"file": (long_name, path.read_bytes())})
        assert r.status_code == 201 and r.json()["docid"].endswith(".docx") and len(r.json()["docid"]) <= 130
        for docid in ("uploads/x.txt", r.json()["docid"]):
            assert client.delete(f"/v1/documents/{docid}").status_code == 200
    assert _uploads(server.settings) == before


def test_jsonl_records_are_namespaced_validated_and_deleted_one_by_one(server) -> None:
    lines = [{"docid": "a", "text": "宣城市2025年调解纠纷333件。"}, {"docid": "b", "text": "宣城市2025年法律援助444件。"},
             {"docid": "../../../etc/passwd", "text": "x"}, {"docid": "c\u0000d", "text": "x"}, {"docid": "长" * 5000, "text": "x"}]
    body = "\n".join(json.dumps(x, ensure_ascii=False) for x in lines).encode()
    with httpx.Client(base_url=server.base, headers=WRITE, timeout=300) as client:
        r = client.post("/v1/documents", files={"file": ("c.jsonl", body)})
        assert r.status_code == 201, r.text
        assert sorted(d["docid"] for d in r.json()["documents"]) == ["uploads/c.jsonl/a", "uploads/c.jsonl/b"]
        assert len([w for w in r.json()["warnings"] if "docid" in w]) == 3
        stored = _uploads(server.settings)
        assert client.delete("/v1/documents/uploads/c.jsonl/a").status_code == 200
        assert _uploads(server.settings) == stored  # b is still indexed from that file
        answer = client.post("/v1/answer", json={"question": "宣城市2025年法律援助多少件？"}).json()
        assert "444件" in answer["answer"]
        assert client.delete("/v1/documents/uploads/c.jsonl/b").status_code == 200
        assert len(_uploads(server.settings)) == len(stored) - 1


# -- 4. limits for any transfer encoding ----------------------------------------------------------

def test_a_chunked_body_is_cut_off_at_the_limit(server) -> None:
    sent = 0

    def body():
        nonlocal sent
        chunk = b'{"question": "' + b"a" * (256 * 1024)
        for _ in range(200):  # 50 MB if it were all read
            sent += len(chunk)
            yield chunk

    try:
        r = httpx.post(f"{server.base}/v1/answer", content=body(), headers={**WRITE, "content-type": "application/json"},
                       timeout=60)
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    except (httpx.RemoteProtocolError, httpx.WriteError):
        pass  # the server answered 413 and closed while the client was still sending
    assert sent < 10 * 1024 * 1024, sent


def test_a_chunked_ui_upload_without_a_key_writes_nothing(server) -> None:
    import gradio

    folder = Path(gradio.utils.get_upload_folder())
    before = set(folder.rglob("*")) if folder.exists() else set()

    def body():
        for _ in range(40):
            yield b"x" * (256 * 1024)

    r = httpx.post(f"{server.base}/ui/gradio_api/upload", content=body(),
                   headers={"content-type": "multipart/form-data; boundary=b"}, timeout=60)
    assert r.status_code == 401
    after = set(folder.rglob("*")) if folder.exists() else set()
    assert after == before


def test_a_docx_bomb_upload_is_refused_unread(server, tmp_path: Path) -> None:
    bomb = docx_bomb(tmp_path / "bomb.docx")
    before = _uploads(server.settings)
    r = httpx.post(f"{server.base}/v1/documents", files={"file": ("bomb.docx", bomb.read_bytes())}, headers=WRITE,
                   timeout=120)
    assert r.status_code == 422 and "zip bomb" in r.json()["error"]["message"]
    assert _uploads(server.settings) == before


# -- 5. writes never 500 --------------------------------------------------------------------------

def test_upload_and_delete_of_one_name_race_cleanly(server) -> None:
    statuses: list[int] = []
    data = "宣城市2025年化解纠纷555件。".encode()

    def status(r: httpx.Response) -> int:
        if r.status_code == 503:  # past the write queue's bound: refused at once, with when to come back
            assert r.json()["error"]["code"] == "write_queue_full" and r.headers["retry-after"]
        return r.status_code

    def upload() -> None:
        statuses.append(status(httpx.post(f"{server.base}/v1/documents", files={"file": ("race.txt", data)},
                                          headers=WRITE, timeout=300)))

    def delete() -> None:
        statuses.append(status(httpx.delete(f"{server.base}/v1/documents/uploads/race.txt", headers=WRITE, timeout=300)))

    threads = [threading.Thread(target=upload if i % 2 else delete) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert len(statuses) == 40 and all(s in (200, 201, 404, 503) for s in statuses), statuses
    assert {200, 201} & set(statuses), statuses
    indexed = "uploads/race.txt" in _docids(server.base)
    folder = server.settings.upload_dir
    from rag.uploads import UploadFolder

    assert UploadFolder(folder).path_for("uploads/race.txt").exists() == indexed  # file and index agree
    if indexed:
        httpx.delete(f"{server.base}/v1/documents/uploads/race.txt", headers=WRITE, timeout=300)
    assert not any(p.name.startswith(".") for p in folder.iterdir())  # no staging file left behind


def test_writes_while_the_cli_holds_the_index_are_503(server) -> None:
    before = _uploads(server.settings)
    with open(Path(server.settings.index_dir) / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # what `policyqa index` holds while it writes
        try:
            r = httpx.post(f"{server.base}/v1/documents", files={"file": ("busy.txt", "宣城市。".encode() * 5)},
                           headers=WRITE, timeout=120)
            assert r.status_code == 503 and r.json()["error"]["code"] == "index_busy" and r.headers["retry-after"]
            r = httpx.delete(f"{server.base}/v1/documents/tianchang-2021.txt", headers=WRITE, timeout=120)
            assert r.status_code == 503
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    assert _uploads(server.settings) == before
    assert "tianchang-2021.txt" in _docids(server.base)


# -- 6. the server sees what another process indexed ----------------------------------------------

def test_the_server_sees_what_the_cli_indexed(server, tmp_path: Path, e5) -> None:
    from rag.index.build import update_index

    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "lishui.txt").write_text("溧水区2025年共办理行政复议案件678件。", encoding="utf-8")
    update_index(server.settings, [extra], e5)  # as `policyqa index` would, from another process's view
    hits = httpx.post(f"{server.base}/v1/search", json={"question": "溧水区行政复议案件", "k": 3}, headers=READ,
                      timeout=60).json()["hits"]
    assert hits and hits[0]["docid"] == "lishui.txt"
    # and bundled documents stay put although this run was given another folder
    assert "tianchang-2021.txt" in _docids(server.base) and DOCS.exists()


# -- 9. schema ------------------------------------------------------------------------------------

def test_schema_documents_errors_and_streams(server) -> None:
    schema = httpx.get(f"{server.base}/openapi.json", timeout=60).json()
    answer = schema["paths"]["/v1/answer"]["post"]["responses"]
    assert {"400", "401", "403", "413", "422"} <= set(answer)
    assert "text/event-stream" in answer["200"]["content"]
    assert "415" in schema["paths"]["/v1/documents"]["post"]["responses"]
    assert "404" in schema["paths"]["/v1/documents/{docid}"]["delete"]["responses"]
