"""The staff UI in LLM mode (real Chromium, real server, a stand-in model that writes an invented
draft): people see progress, then only the verified answer, never the draft."""

from __future__ import annotations

import contextlib
from pathlib import Path


from tests.conftest import TIANCHANG_Q, copy_index, start_server
from tests.fake_llm import GatedLLMServer
from tests.test_verified_only import INVENTED

#: Records every text #pq-chat shows, however briefly (a draft replaced a moment later included).
RECORD = """() => { window.__seen = []; const chat = document.querySelector('#pq-chat');
  new MutationObserver(() => window.__seen.push(chat.innerText)).observe(chat,
    {subtree: true, childList: true, characterData: true}); }"""


def test_the_ui_shows_progress_never_the_draft(docs_index, chromium, tmp_path: Path) -> None:
    fake = GatedLLMServer(INVENTED)
    base, stop = start_server(copy_index(docs_index, tmp_path, answer_mode="llm", llm_url=fake.url))
    try:
        with contextlib.closing(chromium.new_context()) as context:
            page = context.new_page()
            page.goto(f"{base}/ui/")
            page.wait_for_selector("#pq-chat")
            page.evaluate(RECORD)
            page.fill("#pq-question textarea", TIANCHANG_Q)
            page.click("#pq-ask")
            assert fake.wait_started(1), "the question never reached the model"
            page.wait_for_function("() => document.querySelector('#pq-chat').innerText.includes('正在核对原文')",
                                   timeout=120_000)
            fake.gate.set()
            page.wait_for_selector("#pq-citations label", timeout=120_000)
            seen = "\n".join(page.evaluate("window.__seen"))
            final = page.inner_text("#pq-chat")
    finally:
        stop()
        fake.close()
    assert "2020年8月" in final and "原文摘录" in final  # the verified answer, saying it is the extractive one
    assert "99.9" not in seen and "2015年被评" not in seen and "生成中" not in seen
