"""👍/👎 kept as JSON lines and exported as eval-set lines for a person to complete."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rag.feedback import FeedbackLog
from rag.models import Answer, Citation

ANSWER = Answer(question="那太仓呢？", understood_as="太仓市2023年全市人民调解组织共化解纠纷多少件？",
                answer="所提供的文件中没有关于这个问题的信息。", refused=True, mode="extractive")
CITED = Answer(question="天长市何时被评为示范市？", answer="2020年8月被评为…[1]", refused=False, mode="extractive",
               citations=(Citation(n=1, docid="tianchang-2021.txt", chunk_id="tianchang-2021.txt#1", title="t",
                                   section="s", quote="2020年8月被评为", start=239, end=249),))


def test_ratings_are_kept_and_the_thumbs_down_exported(tmp_path: Path) -> None:
    log = FeedbackLog(tmp_path / "fb" / "feedback.jsonl", 1024 * 1024)
    log.record("up", CITED, "")
    log.record("down", ANSWER, "太仓的文件里有这个数字")
    with open(log.path, "a", encoding="utf-8") as fh:
        fh.write('{"rating": "down", "quest')  # a line cut off by a crash
    assert [i["rating"] for i in log.items()] == ["up", "down"]
    assert log.items()[0]["citations"][0]["docid"] == "tianchang-2021.txt"
    (line,) = log.export_eval_lines()
    assert line["question"] == ANSWER.understood_as and line["asked"] == "那太仓呢？"
    assert line["answerable"] is None and line["facts"] == [] and line["note"] == "太仓的文件里有这个数字"
    with pytest.raises(ValueError):
        log.record("meh", CITED)  # type: ignore[arg-type]


def test_feedback_export_cli(tmp_path: Path) -> None:
    index = tmp_path / "index"
    FeedbackLog(index / "feedback.jsonl", 1024 * 1024).record("down", ANSWER, "应当回答")
    out = tmp_path / "todo.jsonl"
    env = {"POLICYQA_INDEX_DIR": str(index), "HF_HUB_OFFLINE": "1", "PATH": ""}
    subprocess.run([sys.executable, "-m", "rag.cli", "feedback", "export", "--out", str(out)], env=env, check=True,
                   capture_output=True)
    assert json.loads(out.read_text(encoding="utf-8").splitlines()[0])["todo"].startswith("fill in")


def test_a_full_feedback_file_refuses_new_ratings_and_keeps_the_old(tmp_path: Path) -> None:
    from rag.feedback import FeedbackFull

    log = FeedbackLog(tmp_path / "feedback.jsonl", 2000)
    log.record("up", CITED)
    log.record("down", ANSWER)
    kept = log.path.read_bytes()
    with pytest.raises(FeedbackFull, match="policyqa feedback export"):
        for _ in range(10):
            log.record("down", ANSWER, "再来一次")
    assert log.path.stat().st_size <= 2000 and log.path.read_bytes().startswith(kept)
    assert all(i["rating"] in ("up", "down") for i in log.items())
