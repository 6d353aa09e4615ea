"""Sessions, cross-site writes, redirects, login throttling, Gradio's routes, 405s and server paths,
over real HTTP on loopback and in a real browser (Debian's Chromium) with a real login."""

from __future__ import annotations

import http.server
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from tests.conftest import copy_index, free_port, start_server

WRITE = {"Authorization": "Bearer write-key"}


@pytest.fixture(scope="module")
def server(tmp_path_factory, docs_index, e5):
    settings = copy_index(docs_index, tmp_path_factory.mktemp("web"), api_keys="write-key", read_keys="read-key")
    base, stop = start_server(settings)
    yield SimpleNamespace(base=base, settings=settings)
    stop()


@pytest.fixture(scope="module")
def short(tmp_path_factory, docs_index, e5):
    """Sessions of 3.6 s and three wrong keys per address allowed."""
    settings = copy_index(docs_index, tmp_path_factory.mktemp("web-short"), api_keys="write-key",
                          session_hours=0.001, login_max_failures=3, login_window_s=600)
    base, stop = start_server(settings)
    yield SimpleNamespace(base=base, settings=settings)
    stop()


def _login(client: httpx.Client, key: str = "write-key") -> str:
    r = client.post("/login", data={"key": key, "next": "/ui/"})
    assert r.status_code == 303, r.text
    return client.cookies["policyqa_session"]


def _docids(base: str) -> set[str]:
    return {d["docid"] for d in httpx.get(f"{base}/v1/documents", headers=WRITE, timeout=60).json()["documents"]}


# -- sessions ---------------------------------------------------------------------------------------

def test_logout_revokes_the_session_and_each_login_is_a_new_id(server) -> None:
    with httpx.Client(base_url=server.base, timeout=120) as browser:
        first = _login(browser)
        with httpx.Client(base_url=server.base, timeout=120) as other:
            assert _login(other) != first  # random, not derived from the key
        r = browser.post("/v1/documents", files={"file": ("会话.txt", "淮南市2025年会话测试共12件。".encode())})
        assert r.status_code == 201, r.text
        assert browser.get("/logout").status_code == 303
        stolen = {"Cookie": f"policyqa_session={first}"}
        assert httpx.get(f"{server.base}/v1/documents", headers=stolen, timeout=60).status_code == 401
        r = httpx.post(f"{server.base}/v1/documents", headers=stolen, files={"file": ("再次.txt", "淮南市".encode())},
                       timeout=60)
        assert r.status_code == 401
        assert httpx.delete(f"{server.base}/v1/documents/uploads/会话.txt", headers=stolen, timeout=60).status_code == 401
    assert "uploads/会话.txt" in _docids(server.base) and "uploads/再次.txt" not in _docids(server.base)
    assert httpx.delete(f"{server.base}/v1/documents/uploads/会话.txt", headers=WRITE, timeout=120).status_code == 200


def test_an_expired_session_is_refused(short) -> None:
    with httpx.Client(base_url=short.base, timeout=60) as browser:
        r = browser.post("/login", data={"key": "write-key"})
        signed_in = time.monotonic()
        assert r.status_code == 303 and "Max-Age=3;" in r.headers["set-cookie"]
        token = browser.cookies["policyqa_session"]
    headers = {"Cookie": f"policyqa_session={token}"}
    first = httpx.get(f"{short.base}/v1/documents", headers=headers, timeout=60)
    if time.monotonic() - signed_in < 3.0:  # (on a machine too loaded to ask within the lifetime, skip this half)
        assert first.status_code == 200
    while time.monotonic() - signed_in < 3.7:  # waiting out the 3.6 s lifetime, not a race
        time.sleep(0.2)
    assert httpx.get(f"{short.base}/v1/documents", headers=headers, timeout=60).status_code == 401


def test_wrong_keys_are_throttled_per_address(short) -> None:
    with httpx.Client(base_url=short.base, timeout=60) as client:
        for _ in range(3):
            assert client.post("/login", data={"key": "wrong"}).status_code == 401
        r = client.post("/login", data={"key": "write-key"})  # even the right key waits now
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
        assert r.json()["error"]["code"] == "too_many_attempts" and "秒后再试" in r.json()["error"]["message_zh"]
        assert "set-cookie" not in r.headers
        assert client.get("/v1/documents", headers=WRITE).status_code == 200  # keys in headers are unaffected


def test_cookie_writes_need_this_servers_own_pages(server) -> None:
    """What Chromium sends from a page on another port of this host (the browser test below does it
    for real): the cookie goes along, the write is refused; a key header is unaffected."""
    other = "http://127.0.0.1:1"
    with httpx.Client(base_url=server.base, timeout=120) as browser:
        _login(browser)
        before = _docids(server.base)
        for headers in ({"Sec-Fetch-Site": "same-site", "Origin": other}, {"Origin": other},
                        {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}):
            r = browser.post("/v1/documents", headers=headers, files={"file": ("伪造.txt", "芜湖市伪造".encode())})
            assert r.status_code == 403 and r.json()["error"]["code"] == "cross_site", (headers, r.text)
            assert browser.delete("/v1/documents/tianchang-2021.txt", headers=headers).status_code == 403
            r = browser.post("/ui/gradio_api/queue/join", headers=headers, json={"data": ["tianchang-2021.txt"]})
            assert r.status_code == 403
        assert _docids(server.base) == before
        own = {"Sec-Fetch-Site": "same-origin", "Origin": server.base}
        r = browser.post("/v1/documents", headers=own, files={"file": ("本页.txt", "芜湖市2025年本页共9件。".encode())})
        assert r.status_code == 201, r.text
        r = httpx.delete(f"{server.base}/v1/documents/uploads/本页.txt", timeout=120,
                         headers={**WRITE, "Sec-Fetch-Site": "cross-site", "Origin": other})
        assert r.status_code == 200  # a key header, not a cookie: not a browser's ambient credential


# -- redirects after login ------------------------------------------------------------------------

BAD_NEXT = ["https://evil.example/", "//evil.example/", "/\\evil.example/", "/%5Cevil.example/", "/%5cevil.example",
            "/%2F%2Fevil.example/", "/%2fevil.example", "%2F%2Fevil.example", "/%252F%252Fevil.example",
            "/%255Cevil.example", "/\tevil.example", "/\t/evil.example", "/\n/evil.example", "\\\\evil.example",
            "javascript:alert(1)", "/ui/\r\nSet-Cookie: x=1", "http:/evil.example", "evil.example", "",
            "/%09/evil.example", "/ /evil.example", "/\\/evil.example", "///evil.example"]


@pytest.mark.parametrize("target", BAD_NEXT)
def test_login_never_redirects_off_site(server, target: str) -> None:
    with httpx.Client(base_url=server.base, timeout=60) as browser:
        r = browser.post("/login", data={"key": "read-key", "next": target})
    assert r.status_code == 303 and r.headers["location"] == "/ui", (target, r.headers["location"])


@pytest.mark.parametrize("target", ["/ui/", "/ui/?tab=文档", "/docs", "/v1/documents"])
def test_login_keeps_a_path_on_this_server(server, target: str) -> None:
    with httpx.Client(base_url=server.base, timeout=60) as browser:
        r = browser.post("/login", data={"key": "read-key", "next": target})
    assert r.status_code == 303 and httpx.URL(server.base).join(r.headers["location"]).path == httpx.URL(
        server.base + target).path


# -- Gradio's routes, 405s, server paths ----------------------------------------------------------

@pytest.mark.parametrize("method, path", [
    ("POST", "/ui/gradio_api/call/v2/respond"), ("POST", "/ui/gradio_api/call/v2/respond/"),
    ("POST", "/ui/gradio_api/call/v2/no_such_endpoint"), ("GET", "/ui/gradio_api/call/no_such/no_event"),
    ("GET", "/ui/gradio_api/call/respond/no_event"), ("POST", "/ui/gradio_api/call/respond"),
])
def test_gradio_routes_answer_client_errors_not_500(server, method: str, path: str) -> None:
    for headers in (WRITE, {"Authorization": "Bearer read-key"}, {}):
        r = httpx.request(method, server.base + path, headers=headers, json={"data": []}, timeout=60)
        assert r.status_code in (200, 401, 403, 404, 422), (method, path, headers, r.status_code, r.text[:200])
        if r.status_code in (404, 422):
            assert r.json()["error"]["message_zh"]


def test_405_lists_every_method_of_the_path(server) -> None:
    r = httpx.options(f"{server.base}/v1/documents", headers=WRITE, timeout=60)
    assert r.status_code == 405 and set(r.headers["allow"].split(", ")) == {"GET", "POST"}
    r = httpx.post(f"{server.base}/v1/documents/a.pdf/pages/1", headers=WRITE, timeout=60)
    assert r.status_code == 405 and set(r.headers["allow"].split(", ")) == {"GET", "DELETE"}
    r = httpx.get(f"{server.base}/v1/answer", headers=WRITE, timeout=60)
    assert r.status_code == 405 and r.headers["allow"] == "POST" and r.json()["error"]["code"] == "method_not_allowed"


def test_listings_and_errors_name_no_server_path(server) -> None:
    roots = {str(server.settings.index_dir.resolve()), str(server.settings.upload_dir.resolve()), str(Path.cwd())}
    listing = httpx.get(f"{server.base}/v1/documents", headers=WRITE, timeout=60).text
    assert not any(root in listing for root in roots) and '"source"' not in listing
    jsonl = '{"docid": "a", "text": "蚌埠市2025年测试记录共3条。"}\nnot json\n'.encode()
    r = httpx.post(f"{server.base}/v1/documents", headers=WRITE, files={"file": ("记录.jsonl", jsonl)}, timeout=120)
    assert r.status_code == 201 and r.json()["warnings"] and "记录.jsonl" in r.json()["warnings"][0]
    assert not any(root in r.text for root in roots) and ".jsonl#" not in r.text
    bad = httpx.post(f"{server.base}/v1/documents", headers=WRITE, files={"file": ("坏.pdf", b"%PDF-1.4 x")}, timeout=120)
    assert bad.status_code == 422 and "坏.pdf" in bad.text and not any(root in bad.text for root in roots)
    assert httpx.delete(f"{server.base}/v1/documents/uploads/记录.jsonl/a", headers=WRITE, timeout=120).status_code == 200


def test_hide_paths_keeps_names_routes_and_urls() -> None:
    from rag.api.redact import hide_paths

    assert hide_paths("'/srv/pq/index/uploads/2df3.jsonl#a': bad") == "'2df3.jsonl#a': bad"
    assert hide_paths("No such file: /tmp/x/staging/通知.docx.") == "No such file: 通知.docx."
    for kept in ("POST /v1/documents/uploads/a.txt", "uploads/通知.docx", "http://127.0.0.1:19530/v1/x", "a/b c"):
        assert hide_paths(kept) == kept


# -- in the browser ---------------------------------------------------------------------------------



def _signed_in(chromium, base: str):
    context = chromium.new_context(viewport={"width": 1300, "height": 950})
    page = context.new_page()
    page.goto(f"{base}/ui/")
    page.fill("input[name=key]", "write-key")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/ui/**")
    return context, page


ATTACK = """<!doctype html><meta charset="utf-8"><body>
<form id="f" method="post" enctype="multipart/form-data" action="{base}/v1/documents" target="sink">
<input type="file" name="file" id="file"></form><iframe name="sink"></iframe>
<script>
window.tryFetch = async () => {{
  const form = new FormData();
  form.append("file", new Blob(["芜湖市2025年伪造上传共66件。"], {{type: "text/plain"}}), "fetch伪造.txt");
  try {{ const r = await fetch("{base}/v1/documents", {{method: "POST", body: form, credentials: "include",
                                                       mode: "no-cors"}}); return "sent"; }}
  catch (e) {{ return "blocked " + e; }}
}};
</script>"""


@pytest.fixture
def attacker(server):
    """A page on another loopback port of the same host (SameSite does not separate ports)."""
    page = ATTACK.format(base=server.base).encode("utf-8")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_page_on_another_port_cannot_write_with_the_cookie(chromium, server, attacker, tmp_path: Path) -> None:
    context, page = _signed_in(chromium, server.base)
    try:
        before = _docids(server.base)
        evil = page.context.new_page()
        evil.goto(f"{attacker}/")
        doc = tmp_path / "表单伪造.txt"
        doc.write_text("芜湖市2025年伪造上传共77件。", encoding="utf-8")
        evil.set_input_files("#file", str(doc))
        with evil.expect_response(f"{server.base}/v1/documents") as posted:
            evil.evaluate("document.getElementById('f').submit()")
        assert posted.value.status == 403  # the cookie went along (same site), the write did not
        with evil.expect_response(f"{server.base}/v1/documents") as fetched:
            evil.evaluate("window.tryFetch()")
        assert fetched.value.status == 403
        assert _docids(server.base) == before
        # the UI's own upload, same cookie, still works
        page.goto(f"{server.base}/ui/")
        page.get_by_role("tab", name="文档").click()
        own = tmp_path / "本页上传.txt"
        own.write_text("芜湖市2025年本页上传共88件。", encoding="utf-8")
        page.locator("input[type=file][multiple]").set_input_files(str(own))
        page.wait_for_selector("text=已收录为 uploads/本页上传.txt", timeout=120_000)
        assert "uploads/本页上传.txt" in _docids(server.base)
    finally:
        context.close()
        httpx.delete(f"{server.base}/v1/documents/uploads/本页上传.txt", headers=WRITE, timeout=120)


def test_the_browser_stays_on_site_after_login(chromium, server, attacker) -> None:
    context = chromium.new_context()
    try:
        page = context.new_page()
        for target in ("/%5C" + attacker.split("//")[1] + "/", "//" + attacker.split("//")[1] + "/",
                       "/%2F%2F" + attacker.split("//")[1] + "/"):
            page.goto(f"{server.base}/login?next={target}")
            page.fill("input[name=key]", "write-key")
            page.click("button[type=submit]")
            page.wait_for_load_state()
            assert page.url.startswith(server.base + "/"), (target, page.url)
    finally:
        context.close()


def _wait_listed(page, docid: str) -> None:
    """The documents table shows ``docid`` (its rendered text: Gradio keeps hidden copies of cells)."""
    page.wait_for_function("d => (document.querySelector('#pq-docs-table') || {innerText: ''}).innerText.includes(d)",
                           arg=docid, timeout=60_000)


def test_the_documents_tab_lists_what_the_index_holds_now(chromium, server) -> None:
    """An upload from an earlier browser session (or the API) is listed and deletable in a new one."""
    first, page = _signed_in(chromium, server.base)
    try:
        page.get_by_role("tab", name="文档").click()
        _wait_listed(page, "tianchang-2021.txt")
        r = httpx.post(f"{server.base}/v1/documents", headers=WRITE,
                       files={"file": ("早先上传.txt", "铜陵市2025年早先上传共5件。".encode())}, timeout=120)
        assert r.status_code == 201, r.text
    finally:
        first.close()
    second, page = _signed_in(chromium, server.base)
    try:
        page.on("dialog", lambda d: d.accept())
        page.get_by_role("tab", name="文档").click()
        _wait_listed(page, "uploads/早先上传.txt")
        page.locator("#pq-delete-pick input").click()
        page.get_by_role("option", name="uploads/早先上传.txt").click()
        page.click("#pq-delete")
        page.wait_for_selector("#pq-delete-status:has-text('已删除 uploads/早先上传.txt')", timeout=60_000)
        assert "uploads/早先上传.txt" not in _docids(server.base)
        page.wait_for_function("!document.querySelector('#pq-docs-table').innerText.includes('早先上传')",
                               timeout=60_000)
    finally:
        second.close()
