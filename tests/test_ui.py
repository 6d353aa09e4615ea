"""The staff UI in a real browser (Debian's Chromium, headless) against the live server."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, TIANCHANG_Q

SCREENSHOTS = ROOT / "eval" / "runs" / "screenshots"


@pytest.fixture(scope="module")
def page(live_server, chromium):
    context = chromium.new_context(viewport={"width": 1300, "height": 950})
    page = context.new_page()
    _login(page, live_server.base, "test-key")
    page.dialogs = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    yield page
    context.close()


def _login(page, base: str, key: str) -> None:
    """The server has keys on: a person signs in once on the login page (a session cookie)."""
    page.goto(f"{base}/ui/")
    assert "/login" in page.url
    page.fill("input[name=key]", key)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/ui/**")


def _ask(page, base: str, question: str) -> None:
    page.goto(f"{base}/ui/")
    page.fill("#pq-question textarea", question)
    page.click("#pq-ask")


def test_ask_tianchang_click_citation_see_highlight(page, live_server) -> None:
    _ask(page, live_server.base, TIANCHANG_Q)
    page.wait_for_selector("#pq-citations label", timeout=120_000)
    assert "2020年8月" in page.inner_text("#pq-chat")
    page.locator("#pq-chat a.pq-ref").first.click()  # the [1] in the answer opens citation 1
    page.wait_for_selector("#pq-source mark", timeout=30_000)
    assert "2020年8月被评为首批" in page.inner_text("#pq-source mark")
    assert "天长市法治创建工作案例" in page.inner_text("#pq-source")
    # the file writes ASCII commas there: the quote as it stands in it, to search the file for
    original = page.inner_text("#pq-source .pq-original blockquote")
    assert "示范创建活动中,在省司法厅" in original and "2020年8月被评为首批" in original
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "ui-tianchang.png"), full_page=True)


def test_a_follow_up_in_the_chat_inherits_the_subject(page, live_server) -> None:
    _ask(page, live_server.base, "天长市有多少人通过行政执法证考试？")
    page.wait_for_selector("#pq-citations label", timeout=120_000)
    page.locator("#pq-citations label").first.click()
    page.wait_for_selector("#pq-source mark", timeout=30_000)
    page.fill("#pq-question textarea", "聘请了多少名特邀行政执法监督员？")
    page.click("#pq-ask")
    page.wait_for_selector("#pq-chat .pq-understood", timeout=120_000)
    page.wait_for_function("document.querySelectorAll('#pq-chat .pq-understood').length == 1 && "
                           "document.querySelector('#pq-chat').innerText.includes('10名')", timeout=120_000)
    assert "理解为：天长市聘请了多少名特邀行政执法监督员" in page.inner_text("#pq-chat")
    assert page.locator("#pq-source mark").count() == 0  # the previous answer's paragraph is gone
    page.fill("#pq-fb-note textarea", "应该同时给出通过人数")
    page.click("#pq-down")
    page.wait_for_selector("#pq-fb-status:has-text('已记录')", timeout=30_000)
    kept = live_server.settings.feedback_file.read_text(encoding="utf-8").splitlines()[-1]
    assert '"rating": "down"' in kept and "应该同时给出通过人数" in kept and "理解为" not in kept
    assert "天长市聘请了多少名特邀行政执法监督员" in kept  # the question as it was answered
    page.click("#pq-new")
    page.wait_for_function("!document.querySelector('#pq-chat').innerText.includes('10名')", timeout=30_000)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "ui-follow-up.png"), full_page=True)


def test_deleting_a_document_asks_first_and_says_what_happened(page, live_server) -> None:
    page.goto(f"{live_server.base}/ui/")
    page.get_by_role("tab", name="文档").click()
    # Gradio's own strings read Chinese in this en-US browser too
    page.wait_for_selector("text=将文件拖放到此处", timeout=30_000)
    assert "Drop File Here" not in page.inner_text("body")
    pick = page.locator("#pq-delete-pick input")
    assert pick.input_value() == ""  # nothing pre-selected
    pick.click()
    page.get_by_role("option", name="changshu-2020.txt").click()
    before = len(page.dialogs)
    page.click("#pq-delete")  # the fixture dismisses the confirmation: nothing may be deleted
    page.wait_for_selector("#pq-delete-status:has-text('未删除')", timeout=30_000)
    assert len(page.dialogs) == before + 1 and "changshu-2020.txt" in page.dialogs.pop()  # (the only one expected)
    docs = httpx.get(f"{live_server.base}/v1/documents", headers=live_server.headers, timeout=60).json()["documents"]
    assert "changshu-2020.txt" in {d["docid"] for d in docs}


def test_traditional_question(page, live_server) -> None:
    _ask(page, live_server.base, "太倉市有多少名行政執法人員通過資格審查？")
    page.wait_for_selector("#pq-citations label", timeout=120_000)
    text = page.inner_text("#pq-chat")
    assert "1534名" in text and "執法" in text


def test_refusal_shown_as_such(page, live_server) -> None:
    _ask(page, live_server.base, "天长市的常住人口是多少？")
    page.wait_for_selector("#pq-chat .pq-refused", timeout=120_000)
    assert "未找到依据" in page.inner_text("#pq-chat")


def test_script_in_a_document_is_shown_as_text(page, live_server, tmp_path: Path) -> None:
    evil = tmp_path / "xss.txt"
    evil.write_text("宣城市2025年普法宣传周共举办讲座58场<script>alert('pwned')</script>。", encoding="utf-8")
    r = httpx.post(f"{live_server.base}/v1/documents", headers=live_server.headers,
                   files={"file": (evil.name, evil.read_bytes())}, timeout=300)
    assert r.status_code == 201, r.text
    try:
        _ask(page, live_server.base, "宣城市2025年普法宣传周共举办讲座多少场？")
        page.wait_for_selector("#pq-citations label", timeout=120_000)
        page.locator("#pq-citations label").first.click()
        page.wait_for_selector("#pq-source mark", timeout=30_000)
        assert "<script>alert('pwned')</script>" in page.inner_text("#pq-source")
        assert "<script>alert" in page.inner_text("#pq-chat")
        assert page.dialogs == []
        assert page.locator("#pq-source script").count() == 0
    finally:
        httpx.delete(f"{live_server.base}/v1/documents/uploads/xss.txt", headers=live_server.headers, timeout=300)


def test_api_docs_render_with_no_internet(page, live_server) -> None:
    """/docs on an air-gapped intranet: every asset comes from the server itself."""
    outside: list[str] = []

    def only_loopback(route) -> None:
        url = route.request.url
        if url.startswith(live_server.base):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    page.route("**/*", only_loopback)
    try:
        page.goto(f"{live_server.base}/docs")
        page.wait_for_selector(".opblock-summary-path[data-path='/v1/answer']", timeout=30_000)
        assert page.locator(".opblock").count() >= 5
    finally:
        page.unroute("**/*")
    assert not outside, outside


def test_upload_through_the_documents_tab(page, live_server, tmp_path: Path) -> None:
    """A real browser upload still works with Gradio's uploaded-files-only check switched on."""
    doc = tmp_path / "铜陵通知.txt"
    doc.write_text("铜陵市2025年共受理行政复议申请789件。", encoding="utf-8")
    page.goto(f"{live_server.base}/ui/")
    page.get_by_role("tab", name="文档").click()
    page.locator("input[type=file][multiple]").set_input_files(str(doc))
    page.wait_for_selector("text=已收录为 uploads/铜陵通知.txt", timeout=120_000)
    r = httpx.post(f"{live_server.base}/v1/answer", json={"question": "铜陵市2025年受理行政复议申请多少件？"},
                   headers=live_server.headers, timeout=120).json()
    assert "789件" in r["answer"] and r["citations"][0]["docid"] == "uploads/铜陵通知.txt"
    assert httpx.delete(f"{live_server.base}/v1/documents/uploads/铜陵通知.txt", headers=live_server.headers,
                        timeout=120).status_code == 200


def test_bad_ofd_uploads_are_named_in_the_documents_tab(page, live_server, tmp_path: Path) -> None:
    """Each bad OFD gets its line with its reason; an OFD missing a page is added, the page named."""
    from tests.ofd_files import bad_ofds

    expected = bad_ofds(tmp_path, [["宣城市2025年共办理法律援助案件975件。"], ["其他事项另行通知。"]])
    page.goto(f"{live_server.base}/ui/")
    page.get_by_role("tab", name="文档").click()
    names = [n for n in expected if n != "good.ofd"]
    page.locator("input[type=file][multiple]").set_input_files([str(tmp_path / n) for n in names])
    page.wait_for_selector("text=已收录为 uploads/missing-page.ofd", timeout=120_000)
    status = page.inner_text("#pq-docs-tab")
    for name in names:
        (line,) = [ln for ln in status.splitlines() if name in ln and ("❌" in ln or "✅" in ln)]
        word = expected[name]
        assert (word is None and "✅" in line and "第2页无法读取" in line) or \
               (word is not None and "❌" in line and word.lower() in line.lower()), (name, line)
    assert "Traceback" not in status
    assert httpx.delete(f"{live_server.base}/v1/documents/uploads/missing-page.ofd", headers=live_server.headers,
                        timeout=120).status_code == 200


def test_a_scanned_pdf_citation_opens_its_page_with_the_quote_highlighted(page, live_server, tmp_path: Path) -> None:
    from tests.scans import image_pdf, scanned_page
    from tests.test_ocr import highlighted

    fact = "马鞍山市2025年共办理法律援助案件2468件，为困难群众挽回经济损失1357万元。"
    filler = "各县区、各部门要坚持依法行政，加快建设法治政府，不断提升群众的获得感和满意度。"
    other = "全市司法行政系统持续深化法治宣传教育，推动普法工作与基层治理深度融合，成效明显。"
    scans = [scanned_page([filler], seed=3).convert("L"), scanned_page([other, fact], seed=4).convert("L")]
    pdf = image_pdf(scans, tmp_path / "马鞍山扫描件.pdf")
    h = live_server.headers
    r = httpx.post(f"{live_server.base}/v1/documents", headers=h, files={"file": (pdf.name, pdf.read_bytes())}, timeout=300)
    assert r.status_code == 201, r.text
    docid = "uploads/马鞍山扫描件.pdf"
    try:
        _ask(page, live_server.base, "马鞍山市2025年办理了多少件法律援助案件？")
        page.wait_for_selector("#pq-citations label", timeout=120_000)
        assert "2468件" in page.inner_text("#pq-chat") and "第2页" in page.inner_text("#pq-chat")
        assert "1357万元" in page.inner_text("#pq-chat")  # a number wrapped at a line end is whole again
        page.locator("#pq-chat a.pq-ref").first.click()
        img = page.wait_for_selector("#pq-source figure.pq-page img", timeout=30_000)
        page.wait_for_function("img => img.complete && img.naturalWidth > 500", arg=img, timeout=60_000)
        assert "原文第2页" in page.inner_text("#pq-source") and "2468件" in page.inner_text("#pq-source mark")
        src = img.get_attribute("src")
        png = httpx.get(f"{live_server.base}{src}", headers=h, timeout=60)
        assert png.headers["content-type"] == "image/png" and highlighted(png.content) > 300
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "ui-scanned-page.png"), full_page=True)
        # the page route keeps to indexed paged documents, behind the keys
        assert httpx.get(f"{live_server.base}{src}", timeout=60).status_code == 401
        bad = httpx.get(f"{live_server.base}/v1/documents/{docid}/pages/9", headers=h, timeout=60)
        assert bad.status_code == 404 and bad.json()["error"]["code"] == "no_page"
        txt = httpx.get(f"{live_server.base}/v1/documents/tianchang-2021.txt/pages/1", headers=h, timeout=60)
        assert txt.status_code == 404 and txt.json()["error"]["code"] == "no_page"
        assert httpx.get(f"{live_server.base}/v1/documents/nope.pdf/pages/1", headers=h, timeout=60).status_code == 404
    finally:
        httpx.delete(f"{live_server.base}/v1/documents/{docid}", headers=h, timeout=300)
