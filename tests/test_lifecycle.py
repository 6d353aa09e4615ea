"""Worker processes end with whoever started them, and never re-run the caller's script.

Each command that starts workers (``index``: the file reader; ``ask``/``eval --mode llm``: the
model; ``serve``: both) runs as a real ``policyqa`` process; once its children exist it is sent
SIGTERM, SIGINT or SIGKILL, and every process below it must end. The README's Python snippet runs
as a plain script without a main guard."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import DOCS, ROOT, TIANCHANG_Q, free_port
from tests.procs import Output, descendants, kill_and_check_children, wait_until

pytestmark = pytest.mark.full
SIGNALS = pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=lambda s: s.name)
STARTUP_S = 600  # a bound for a loaded 2-core machine (models load in seconds when it is idle)


def policyqa(*args: str, cwd: Path = ROOT) -> subprocess.Popen:
    """The CLI as a user starts it, this checkout first on the path; stderr (logs, streamed text) captured."""
    return subprocess.Popen([sys.executable, "-m", "rag.cli", *args], cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


def children_named(proc: subprocess.Popen, name: str) -> bool:
    """A worker process of that name (its command line carries it) runs below ``proc``."""
    for pid in descendants(proc.pid):
        try:
            if f"policyqa-{name}".encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                return True
        except OSError:
            continue
    return False


def run_and_kill(proc: subprocess.Popen, signum: int, ready, what: str) -> None:
    try:
        out = Output(proc.stderr)
        wait_until(lambda: ready(out.text), STARTUP_S, what, proc)
        kill_and_check_children(proc, signum)
    finally:
        proc.kill()
        proc.wait()


@SIGNALS
def test_index_children_end_with_it(signum: int, tmp_path: Path) -> None:
    proc = policyqa("index", str(DOCS), "--index", str(tmp_path / "index"))
    run_and_kill(proc, signum, lambda _: children_named(proc, "file reader"), "the file reader started")


@SIGNALS
def test_ask_llm_children_end_with_it(signum: int, docs_index) -> None:
    """Killed while the model works (the CLI shows 正在核对原文…, never the draft): the model process ends too."""
    proc = policyqa("ask", TIANCHANG_Q, "--mode", "llm", "--index", str(docs_index.index_dir))
    run_and_kill(proc, signum, lambda text: "正在核对原文" in text and children_named(proc, "local model"),
                 "the model was at work")


@SIGNALS
def test_eval_llm_children_end_with_it(signum: int, docs_index, tmp_path: Path) -> None:
    proc = policyqa("eval", str(ROOT / "eval" / "policyqa_eval.jsonl"), "--mode", "llm", "--limit", "3",
                    "--out", str(tmp_path / "run"), "--index", str(docs_index.index_dir))
    run_and_kill(proc, signum, lambda _: children_named(proc, "local model"), "the model started")


@SIGNALS
def test_serve_children_end_with_it(signum: int, docs_index, tmp_path: Path) -> None:
    """An upload starts the server's file reader; then the server is killed."""
    index = tmp_path / "index"
    shutil.copytree(docs_index.index_dir, index)
    port = free_port()
    proc = policyqa("serve", "--port", str(port), "--index", str(index))
    base = f"http://127.0.0.1:{port}"

    def uploaded(_: str) -> bool:
        try:
            reply = httpx.post(f"{base}/v1/documents", timeout=STARTUP_S,
                               files={"file": ("通知.txt", "关于开展法治宣传的通知。\n\n各单位要在2024年开展法治宣传。".encode())})
        except httpx.TransportError:
            return False  # not listening yet
        assert reply.status_code < 300, reply.text
        return children_named(proc, "file reader")

    run_and_kill(proc, signum, uploaded, "an upload was read")


GUARDLESS = """\
from rag import PolicyQA

print("script ran")
qa = PolicyQA.open("index/")
stats = qa.add(["new.txt"])
print("written", stats.documents_written, "failed", stats.files_failed)
answer = qa.ask("天长市何时被评为全国法治政府建设示范市？")
print("refused" if answer.refused else "answered", answer.answer[:40])
"""


def test_the_readme_snippet_works_in_a_script_without_a_main_guard(docs_index, tmp_path: Path) -> None:
    """No ``if __name__ == "__main__":``: the reader process must not run the script again (once it
    printed everything twice, the second copy hit IndexBusyError and the file "crashed its parser")."""
    shutil.copytree(docs_index.index_dir, tmp_path / "index")
    (tmp_path / "new.txt").write_text("关于开展法治宣传的通知\n\n各单位要在2024年开展法治宣传月活动。\n", encoding="utf-8")
    (tmp_path / "ask.py").write_text(GUARDLESS, encoding="utf-8")
    done = subprocess.run([sys.executable, "ask.py"], cwd=tmp_path, capture_output=True, text=True, timeout=STARTUP_S,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines.count("script ran") == 1, done.stdout
    assert "written 1 failed 0" in lines, done.stdout + done.stderr
    assert any(line.startswith("answered") for line in lines), done.stdout
