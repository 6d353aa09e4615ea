"""What one request may cost a real `policyqa serve` process (issue 26, items 2, 7, 8), over HTTP.

The server runs as its own process, so its memory (``VmHWM``, the peak resident set) and CPU time
are its own and can be read from /proc: a huge page or image is drawn in the page-view process
within its limits, feedback is bounded in size, rate and file, and a long refused upload does not
hold up a small one (writes beyond the queue's bound are 503 at once).
"""

from __future__ import annotations

import ctypes
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from tests.conftest import free_port

WRITE = {"Authorization": "Bearer write-key"}
READ = {"Authorization": "Bearer read-key"}
ENV = {"POLICYQA_API_KEYS": "write-key", "POLICYQA_READ_KEYS": "read-key", "POLICYQA_RENDER_MAX_PIXELS": "4000000",
       "POLICYQA_FEEDBACK_MAX_KB": "16", "POLICYQA_FEEDBACK_PER_MINUTE": "8", "POLICYQA_FEEDBACK_MAX_MB": "0.02",
       "POLICYQA_WRITE_QUEUE": "2", "POLICYQA_UPLOAD_READERS": "2"}


def _die_with_parent() -> None:
    ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: the server ends with the test run


@pytest.fixture(scope="module")
def served(tmp_path_factory, docs_index):
    folder = tmp_path_factory.mktemp("limits")
    shutil.copytree(docs_index.index_dir, folder / "index")
    port = free_port()
    env = {**os.environ, **ENV, "POLICYQA_INDEX_DIR": str(folder / "index")}
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--no-ui", "--host", "127.0.0.1", "--port",
                             str(port)], env=env, stdout=subprocess.DEVNULL, stderr=open(folder / "server.log", "wb"),
                            preexec_fn=_die_with_parent, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while time.time() < deadline:
        assert proc.poll() is None, (folder / "server.log").read_text(errors="replace")[-2000:]
        try:
            if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        pytest.fail("the server did not start")
    yield SimpleNamespace(base=base, pid=proc.pid, index=folder / "index", uploads=folder / "index" / "uploads")
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def _status(pid: int) -> dict[str, int]:
    """VmHWM and VmRSS in MB, and CPU seconds (user + system) of one process."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return {"hwm": int(fields["VmHWM"].split()[0]) // 1024, "rss": int(fields["VmRSS"].split()[0]) // 1024,
            "cpu": (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")}


def _descendants(pid: int) -> dict[int, str]:
    """Processes started under ``pid`` (the forkserver, the file readers, the page view), with names."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                names[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    out, frontier = {}, [pid]
    while frontier:
        p = frontier.pop()
        for child, parent in parents.items():
            if parent == p and child not in out:
                out[child] = names.get(child, "")
                frontier.append(child)
    return out


def _huge_page_pdf() -> bytes:
    """A one-page PDF of 100x100 inches with a text layer (a few KB on disk)."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=(7200, 7200))
    c.setFont("STSong-Light", 120)
    c.drawString(300, 6600, "芜湖市2024年办理法律援助案件2345件。")
    c.save()
    return buf.getvalue()


def _huge_png() -> bytes:
    """A 12,000x12,000 scan (grey, mostly white: ~1 MB as PNG) with large Latin text OCR can read."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("L", (12_000, 12_000), 255)
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 360)
    draw = ImageDraw.Draw(image)
    for row, text in enumerate(["WUHU 2024 LEGAL AID 2345", "POLICY NOTICE 1234"]):
        draw.text((600, 800 + row * 700), text, font=font, fill=0)
    buf = io.BytesIO()
    image.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def _page(served, docid: str) -> tuple[httpx.Response, dict, dict]:
    """GET page 1 of ``docid``; the server's /proc figures before and after, and those of the
    processes under it that worked on the request (the page-view process) after it."""
    before = _status(served.pid)
    helpers = {p: _status(p) for p in _descendants(served.pid)}
    r = httpx.get(f"{served.base}/v1/documents/{docid}/pages/1", params={"start": 0, "end": 12}, headers=READ,
                  timeout=300)
    after = _status(served.pid)
    worked = {}
    for p in _descendants(served.pid):
        now = _status(p)
        cpu = now["cpu"] - helpers.get(p, {"cpu": 0.0})["cpu"]
        if cpu > 0.05:
            worked[p] = {**now, "cpu": round(cpu, 2)}
    return r, {"before": before, "after": after}, worked


@pytest.mark.parametrize("name, make", [("huge-page.pdf", _huge_page_pdf), ("huge-scan.png", _huge_png)])
def test_a_huge_page_is_drawn_small_and_costs_the_server_nothing(served, name: str, make) -> None:
    from PIL import Image

    data = make()
    assert len(data) < 2 * 1024 * 1024
    r = httpx.post(f"{served.base}/v1/documents", files={"file": (name, data)}, headers=WRITE, timeout=600)
    assert r.status_code == 201, r.text
    docid = r.json()["docid"]
    r, server, workers = _page(served, docid)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png", r.text[:300]
    image = Image.open(io.BytesIO(r.content))
    assert image.width <= 1100 and image.height <= 3300 and len(r.content) < 2 * 1024 * 1024
    grown = server["after"]["hwm"] - server["before"]["hwm"]
    print(f"\n{name}: server VmHWM {server['before']['hwm']} -> {server['after']['hwm']} MB, CPU "
          f"{server['after']['cpu'] - server['before']['cpu']:.2f} s; helper processes "
          f"{json.dumps(workers)}")
    assert grown < 150, server  # before: +4,051 MB (the PDF) and +2,562 MB (the PNG)
    assert workers and all(w["hwm"] < 3072 for w in workers.values()), workers  # POLICYQA_PAGE_VIEW_MAX_MEMORY_MB
    again = httpx.get(f"{served.base}/v1/documents/{docid}/pages/1", params={"start": 0, "end": 12}, headers=READ,
                      timeout=60)
    assert again.content == r.content  # from the cache of drawn pages
    assert httpx.delete(f"{served.base}/v1/documents/{docid}", headers=WRITE, timeout=120).status_code == 200


def _answer(note: str = "") -> dict:
    return {"rating": "down", "note": note, "answer": {"question": "芜湖市2024年办理法律援助案件多少件？", "answer": "……",
                                                     "refused": True, "mode": "extractive"}}


def test_feedback_is_bounded_in_size_rate_and_file(served) -> None:
    file = served.index / "feedback.jsonl"
    size = lambda: file.stat().st_size if file.exists() else 0  # noqa: E731
    with httpx.Client(base_url=served.base, timeout=60) as client:
        huge = _answer()
        huge["answer"]["answer"] = "长" * 40_000  # 120 KB in a field the schema did not bound (the probe sent 21 MB)
        big = client.post("/v1/feedback", json=huge, headers=WRITE)
        assert big.status_code == 413 and big.json()["error"]["code"] == "too_large" and size() == 0
        long_answer = _answer()
        long_answer["answer"]["answer"] = "x" * 9000  # inside the body limit, over the field's
        r = client.post("/v1/feedback", json=long_answer, headers=WRITE)
        assert r.status_code == 422 and "answer.answer" in r.json()["error"]["message"] and size() == 0
        assert client.post("/v1/feedback", json=_answer("长" * 2001), headers=WRITE).status_code == 422
        # eight a minute per key (refused requests count): the ninth from the read key waits, the write
        # key is still heard
        codes = [client.post("/v1/feedback", json=_answer("少了一件"), headers=READ).status_code for _ in range(9)]
        assert codes == [201] * 8 + [429], codes
        limited = client.post("/v1/feedback", json=_answer(), headers=READ)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert limited.json()["error"]["message_zh"]
        # the file's cap (20 KB here): refused with what to do, and what is stored stays whole
        statuses = []
        while not statuses or (statuses[-1].status_code == 201 and len(statuses) < 5):
            statuses.append(client.post("/v1/feedback", json=_answer("长" * 1900), headers=WRITE))
    full = statuses[-1]
    assert len(statuses) > 1 and full.status_code == 507, [s.text for s in statuses]
    assert "policyqa feedback export" in full.json()["error"]["message"] and full.json()["error"]["message_zh"]
    assert size() <= 0.02 * 1024 * 1024
    assert all(json.loads(line)["rating"] == "down" for line in file.read_text(encoding="utf-8").splitlines())


def _blank_pdf(pages: int) -> bytes:
    """A PDF of blank pages (tiny on disk): every page is rendered and OCRed before it is refused."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(595, 842)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def _upload(served, name: str, data: bytes, out: list) -> None:
    started = time.perf_counter()
    r = httpx.post(f"{served.base}/v1/documents", files={"file": (name, data)}, headers=WRITE, timeout=600)
    out.append((r, time.perf_counter() - started))


def _staging(served) -> int:
    """Uploads being read now (each has its staging file until it is refused or put in place)."""
    return len([p for p in served.uploads.iterdir() if p.name.startswith(".")]) if served.uploads.exists() else 0


def _wait_for(condition, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, "timed out waiting"
        time.sleep(0.05)


def test_a_long_refused_upload_does_not_hold_up_a_small_one(served) -> None:
    small = "芜湖市2024年化解纠纷{}件。".format
    baseline = []
    for i in range(3):
        _upload(served, f"small-{i}.txt", small(100 + i).encode(), baseline)
    assert all(r.status_code == 201 for r, _ in baseline)
    alone = min(t for _, t in baseline)  # warm: the first uploads load the embedder and start the readers
    bound = 3 * alone + 2.0
    big: list = []
    first = threading.Thread(target=_upload, args=(served, "blank-1.pdf", _blank_pdf(40), big))
    first.start()
    _wait_for(lambda: _staging(served) == 1)  # the big one is being read
    done: list = []
    _upload(served, "small-3.txt", small(103).encode(), done)
    (r, took), = done
    assert r.status_code == 201, r.text
    print(f"\nsmall upload alone {alone:.2f} s, beside a long read {took:.2f} s "
          f"(bound {bound:.2f} s)")
    assert first.is_alive() and took < bound, (took, bound)  # it did not wait for the big one
    # the queue's bound (2 here): two long reads fill it; a third write is refused at once
    second = threading.Thread(target=_upload, args=(served, "blank-2.pdf", _blank_pdf(40), big))
    second.start()
    _wait_for(lambda: _staging(served) == 2 or not first.is_alive())
    assert first.is_alive(), "the first long read ended before the second began: make the blank PDFs longer"
    started = time.perf_counter()
    refused = httpx.delete(f"{served.base}/v1/documents/uploads/small-0.txt", headers=WRITE, timeout=60)
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "write_queue_full"
    assert refused.headers["retry-after"] and time.perf_counter() - started < bound
    first.join(timeout=600)
    second.join(timeout=600)
    assert [r.status_code for r, _ in big] == [422, 422], [r.text for r, _ in big]
    assert _staging(served) == 0
    docids = {d["docid"] for d in httpx.get(f"{served.base}/v1/documents", headers=READ, timeout=60).json()["documents"]}
    assert {"uploads/small-0.txt", "uploads/small-3.txt"} <= docids and not any("blank" in d for d in docids)
