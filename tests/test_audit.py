"""The audit trail as a file: appended whole, chained, tamper-evident, exported as JSONL and CSV."""

from __future__ import annotations

import csv
import io
import json
import threading
from pathlib import Path

from rag.audit import AuditLog, answer_hash
from rag.models import Principal

LI = Principal(name="oidc:li", role="read", groups=frozenset({"法制科", "司法局"}))


def test_records_chain_and_an_edit_afterwards_is_found(tmp_path: Path) -> None:
    trail = AuditLog(tmp_path / "audit.jsonl")
    threads = [threading.Thread(target=lambda n=n: trail.record(
        "question", LI, kbs=["法制科"], question=f"问题{n}", cited=["a.txt"], withheld=n % 3, refused=False,
        answer_sha256=answer_hash(f"答{n}"))) for n in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    trail.record("grant", LI, target="法制科", change={"kind": "group", "who": "法制科", "role": "viewer"})
    items = list(trail.items())
    assert len(items) == 41 and trail.verify() is None
    assert items[0]["groups"] == ["司法局", "法制科"] and items[-1]["change"]["role"] == "viewer"
    lines = trail.path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[7] = lines[7].replace('"withheld": ', '"withheld": 1')  # someone edits a count afterwards
    trail.path.write_text("".join(lines), encoding="utf-8")
    assert trail.verify() == 9  # the line after the edited one no longer follows it
    del lines[7]
    trail.path.write_text("".join(lines), encoding="utf-8")
    assert trail.verify() == 8  # a line removed


def test_export_as_json_lines_and_csv(tmp_path: Path) -> None:
    trail = AuditLog(tmp_path / "audit.jsonl")
    trail.record("question", LI, kbs=["法制科", "默认"], question='带"引号",和逗号', cited=[], withheld=2, refused=True,
                 answer_sha256="ab" * 32)
    trail.record("access", LI, target="x.txt", change={"classification": "内部"})
    assert [json.loads(line)["kind"] for line in trail.export("jsonl")] == ["question", "access"]
    rows = list(csv.DictReader(io.StringIO("".join(trail.export("csv")))))
    assert rows[0]["kbs"] == "法制科|默认" and rows[0]["question"] == '带"引号",和逗号' and rows[0]["withheld"] == "2"
    assert json.loads(rows[1]["change"]) == {"classification": "内部"} and rows[1]["target"] == "x.txt"
    assert list(trail.export("jsonl", since="9999")) == []
