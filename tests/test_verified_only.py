"""People see only verified text: `policyqa ask --mode llm` shows progress, never the model's draft,
and an LLM-mode answer that is the extractive one says so, in Chinese only."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from tests.conftest import ROOT, TIANCHANG_Q
from tests.fake_llm import GatedLLMServer

INVENTED = "回答：天长市于2015年被评为示范市，群众满意度为99.9%。[1]\n依据：\n[1] 「天长市于2015年被评为示范市，群众满意度为99.9%。」"


def _ask(docs_index, url: str, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "POLICYQA_INDEX_DIR": str(docs_index.index_dir), "POLICYQA_LLM_URL": url,
           "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "rag.cli", "ask", TIANCHANG_Q, "--mode", "llm", *extra],
                          env=env, capture_output=True, text=True, timeout=600)


def test_ask_in_llm_mode_never_prints_the_draft(docs_index) -> None:
    fake = GatedLLMServer(INVENTED)
    fake.gate.set()
    try:
        shown = _ask(docs_index, fake.url)
        assert shown.returncode == 0, shown.stderr[-2000:]
        assert fake.started == 1  # the model was asked and wrote its (invented) draft
        assert "99.9" not in shown.stdout + shown.stderr and "2015年被评" not in shown.stdout + shown.stderr
        assert "正在核对原文" in shown.stderr and "2020年8月" in shown.stdout
        answer = json.loads(_ask(docs_index, fake.url, "--json").stdout)
    finally:
        fake.close()
    # the model's reply did not hold: the verified extractive answer, and the note says so in Chinese
    assert answer["mode"] == "extractive" and "2020年8月" in answer["answer"]
    assert answer["notes"] and "原文摘录" in answer["notes"][0]
    assert not re.search(r"[A-Za-z]", "".join(answer["notes"])), answer["notes"]
