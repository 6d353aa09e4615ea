"""Any file a user drops in: a bad one is that file's error (named, with what to do), never the run's."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from rag.config import Settings
from rag.ingest import IngestError, Ingestor, ingest_file, read_file
from rag.ingest.limits import check_archive
from tests.files import LIMITS, PARA, docx_bomb, docx_file, malformed_docx, messy_folder, pdf_with_lines
from tests.ofd_files import ofd_file

ROOT = Path(__file__).resolve().parent.parent


def test_malformed_content_types_docx_is_a_named_error(tmp_path: Path) -> None:
    path = malformed_docx(tmp_path / "no-namespace.docx")
    result = ingest_file(path, path.name, LIMITS)
    assert not result.documents
    (err,) = result.errors
    assert err.path == str(path) and "docx" in err.problem and "save it again" in err.remedy


def test_docx_bomb_is_refused_before_inflating(tmp_path: Path) -> None:
    path = docx_bomb(tmp_path / "bomb.docx")
    assert path.stat().st_size < 2 * 1024 * 1024
    with pytest.raises(IngestError, match="zip bomb"):
        check_archive(path, LIMITS)
    (err,) = ingest_file(path, path.name, LIMITS).errors
    assert "zip bomb" in err.problem and "POLICYQA_INGEST_ARCHIVE_MAX_RATIO" in err.remedy


def test_archive_limits_come_from_settings(tmp_path: Path) -> None:
    path = docx_file(tmp_path / "ok.docx", [PARA], [["a", "b"]])
    assert ingest_file(path, path.name, LIMITS).ok
    few = Settings(ingest_archive_max_members=3).ingest_limits()
    assert "members" in ingest_file(path, path.name, few).errors[0].problem
    small = Settings(ingest_archive_max_total_mb=0.001).ingest_limits()
    assert "inflates to" in ingest_file(path, path.name, small).errors[0].problem


def test_pdf_page_limit(tmp_path: Path) -> None:
    path = pdf_with_lines(tmp_path / "a.pdf", [PARA])
    limits = Settings(ingest_pdf_max_pages=0 + 1).ingest_limits()
    assert ingest_file(path, path.name, limits).ok
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(path))
    writer.add_blank_page()
    writer.write(tmp_path / "b.pdf")
    (err,) = ingest_file(tmp_path / "b.pdf", "b.pdf", limits).errors
    assert "2 pages, over the limit of 1" in err.problem


def test_file_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text(PARA * 30_000, encoding="utf-8")  # ~2.6 MB
    (err,) = ingest_file(path, path.name, Settings(ingest_max_file_mb=1).ingest_limits()).errors
    assert "over the 1 MB limit" in err.problem


def test_any_parser_exception_becomes_that_files_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever a third-party library raises (here: a KeyError from inside the HTML parser)."""
    import rag.ingest.html as html_loader

    def boom(*_a, **_k):
        raise KeyError("something deep inside lxml")

    monkeypatch.setattr(html_loader, "BeautifulSoup", boom)
    path = tmp_path / "page.html"
    path.write_text(f"<p>{PARA}</p>", encoding="utf-8")
    (err,) = ingest_file(path, path.name, LIMITS).errors
    assert "KeyError" in err.problem and "page.html" in str(err)


def test_a_jsonl_cut_off_halfway_fails_as_a_whole(tmp_path: Path) -> None:
    """Otherwise the records after the cut would look deleted and be dropped from the index."""
    import gzip

    lines = "".join(f'{{"docid": "n{i}", "text": "{PARA}"}}\n' for i in range(200)).encode()
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(gzip.compress(lines)[:-40])
    result = ingest_file(path, path.name, LIMITS)
    assert not result.documents and result.errors[-1].path == str(path)


def test_jsonl_docids_are_validated(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join([
        '{"docid": "ok/1", "text": "正文一"}', '{"docid": "../../../etc/passwd", "text": "x"}',
        '{"docid": "a\\u0000b", "text": "x"}', '{"docid": "' + "长" * 5000 + '", "text": "x"}',
        '{"docid": "/abs", "text": "x"}']), encoding="utf-8")
    result = ingest_file(path, path.name, LIMITS)
    assert [d.docid for d in result.documents] == ["ok/1"]
    assert len(result.errors) == 4 and all("docid" in e.problem for e in result.errors)


def test_messy_folder_every_bad_file_named(tmp_path: Path) -> None:
    expected = messy_folder(tmp_path / "messy")
    assert len([v for v in expected.values() if v]) >= 23
    with Ingestor(LIMITS) as ingestor:
        results = {Path(r.path).name: r for r in ingestor.ingest_paths([tmp_path / "messy"])}
    assert set(results) == set(expected)
    for name, word in expected.items():
        result = results[name]
        if word is None:
            assert result.ok, (name, result.errors)
        else:
            assert not result.documents, name
            assert result.errors and all(name in str(e) for e in result.errors), (name, result.errors)
            assert any(word.lower() in str(e).lower() for e in result.errors), (name, word, result.errors)
    assert any("page 2 of 2 cannot be read" in w for w in results["missing-page.ofd"].warnings)


def test_isolated_reader_survives_a_parser_crash_and_a_hang(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    good = tmp_path / "good.txt"
    good.write_text(PARA, encoding="utf-8")
    with Ingestor(LIMITS) as ingestor:  # how long a fresh reader takes for a good file on this machine now
        started = time.monotonic()
        assert ingestor.ingest_file(good, "good.txt").ok
        limit = max(1.0, round(4 * (time.monotonic() - started), 1))
    with Ingestor(Settings(ingest_timeout_s=limit).ingest_limits()) as ingestor:
        assert ingestor.ingest_file(good, "good.txt").ok
        pid = ingestor._worker.pid
        # a file the (real) reader process cannot finish: a pipe that never delivers data
        fifo = tmp_path / "stuck.txt"
        os.mkfifo(fifo)
        (err,) = ingestor.ingest_file(fifo, "stuck.txt").errors
        assert f"no progress for {limit:g} s" in err.problem and "POLICYQA_INGEST_TIMEOUT_S" in err.remedy
        assert ingestor.ingest_file(good, "good.txt").ok and ingestor._worker.pid != pid


def test_isolated_reader_reports_a_segfault(tmp_path: Path) -> None:
    import signal
    import threading
    import time

    path = tmp_path / "wait.txt"
    os.mkfifo(path)
    with Ingestor(LIMITS) as ingestor:
        ingestor.ingest_file(Path(__file__), "warm.py")  # start the reader process
        pid = ingestor._worker.pid

        def crash_once_reading() -> None:
            """Opening the pipe's write end without blocking succeeds only once the reader has it
            open: then the reader is inside the file, waiting for data, and gets its SIGSEGV."""
            while True:
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
                    break
                except OSError:
                    time.sleep(0.05)  # polling interval of a readiness wait
            os.kill(pid, signal.SIGSEGV)
            os.close(fd)

        threading.Thread(target=crash_once_reading, daemon=True).start()
        (err,) = ingestor.ingest_file(path, "wait.txt").errors
        assert "crashed" in err.problem and "SIGSEGV" in err.problem


def test_a_parsers_own_warnings_are_the_files_note_not_stray_output(tmp_path: Path, capfd) -> None:
    """pypdf logs "EOF marker not found" on a damaged PDF; a library may also ``warnings.warn``:
    both belong to that file's error or document, not to the top of the output."""
    import logging
    import warnings

    (tmp_path / "garbage.pdf").write_bytes(b"%PDF-1.7\n" + os.urandom(4000))
    (err,) = ingest_file(tmp_path / "garbage.pdf", "garbage.pdf", LIMITS).errors
    assert any("EOF marker not found" in n for n in err.notes) and "EOF marker not found" in str(err)
    assert "EOF marker" not in capfd.readouterr().err

    def chatty(path, docid, limits):  # a loader whose library warns, then reads the file fine
        warnings.warn("font cmap incomplete", UserWarning)
        logging.getLogger("somelib.parser").warning("odd xref\nentry")
        yield from read_text(path, docid, limits)

    from rag.ingest import _read as read_text
    good = tmp_path / "good.txt"
    good.write_text(PARA, encoding="utf-8")
    import rag.ingest as ingest_module

    monkey = pytest.MonkeyPatch()
    monkey.setattr(ingest_module, "_read", chatty)
    try:
        (doc,) = ingest_file(good, "good.txt", LIMITS).documents
    finally:
        monkey.undo()
    assert "the parser said: UserWarning: font cmap incomplete" in doc.warnings
    assert "the parser said: somelib: odd xref entry" in doc.warnings  # one line
    assert "odd xref" not in capfd.readouterr().err


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The real ``policyqa`` with its stdout to a pipe (as ``> log``, cron or ``tee`` give it)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "80"}
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], env=env, capture_output=True, text=True,
                          timeout=600, cwd=cwd)


@pytest.mark.full
def test_cli_ingest_piped_names_every_file_in_full_on_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "a-long-folder-name-that-a-table-would-cut" / "messy"
    expected = messy_folder(folder)
    run = _cli("ingest", str(folder), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    for name, word in expected.items():
        path = str(folder / name)
        (line,) = [ln for ln in lines if ln.split("\t")[0] == path]  # the full path, once
        fields = line.split("\t")
        if word is None:
            assert fields[1] in ("ok", "warnings"), line
        else:
            assert fields[1] == "failed" and word.lower() in line.lower(), (name, line)
    assert any("missing-page.ofd\twarnings" in ln and "page 2 of 2 cannot be read" in ln for ln in lines), lines
    assert "EOF marker not found" not in run.stderr  # it is truncated.pdf's and garbage.pdf's note
    assert any("truncated.pdf" in ln and "EOF marker not found" in ln for ln in lines)
    assert "RapidOCR" not in run.stderr and "Traceback" not in run.stdout + run.stderr

    as_json = _cli("ingest", "--json", str(folder), cwd=tmp_path)
    assert as_json.returncode == 0, as_json.stderr
    records = {r["path"]: r for r in map(json.loads, as_json.stdout.splitlines())}
    assert set(records) == {str(folder / name) for name in expected}
    for name, word in expected.items():
        record = records[str(folder / name)]
        if word is None:
            assert record["documents"] >= 1 and record["chunks"] >= 1 and not record["errors"], record
        else:
            assert record["status"] == "failed" and any(word.lower() in e.lower() for e in record["errors"]), record


@pytest.mark.full
def test_cli_index_names_every_bad_file_and_goes_on(tmp_path: Path) -> None:
    expected = messy_folder(tmp_path / "messy")
    env = {**os.environ, "POLICYQA_INDEX_DIR": str(tmp_path / "index"), "POLICYQA_EMBEDDING_MODEL": "use-m3"}
    run = subprocess.run([sys.executable, "-m", "rag.cli", "index", str(tmp_path / "messy")], env=env,
                         capture_output=True, text=True, timeout=600, cwd=tmp_path)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert "Traceback" not in out
    lines = out.splitlines()
    for name, word in expected.items():
        if word:  # the full path and its error on one line, in a log as on a terminal
            path = str(tmp_path / "messy" / name)
            assert any(path in ln and word.lower() in ln.lower() for ln in lines if "error" in ln), (name, out)
    assert all("truncated.pdf" in ln or "garbage.pdf" in ln for ln in lines if "EOF marker" in ln), out
    good = [n for n, w in expected.items() if w is None]
    # + the one record of cut.jsonl.gz before its cut: kept, and the file is still reported as failed
    assert f"{len(good) + 1} documents" in out, out
    strict = subprocess.run([sys.executable, "-m", "rag.cli", "index", "--strict", str(tmp_path / "messy")], env=env,
                            capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert strict.returncode == 1 and "Traceback" not in strict.stdout + strict.stderr


# -- fuzzing: mutated real files are documents or IngestErrors, never another exception ----------

def _seeds(folder: Path) -> dict[str, bytes]:
    return {
        ".docx": docx_file(folder / "s.docx", [PARA, "（一）大力推进全面依法治市工作"], [["项目", "数量"], ["调解", "8850件"]]).read_bytes(),
        ".pdf": pdf_with_lines(folder / "s.pdf", [PARA, "第二行文字"]).read_bytes(),
        ".html": (f"<html><head><title>天长市</title></head><body><nav>首页</nav><div class='content'><h1>通知</h1>"
                  f"<p>{PARA}</p><table><tr><td>项目</td><td>8850件</td></tr></table></div></body></html>").encode("utf-8"),
        ".txt": (PARA + "\n" + PARA).encode("gb18030"),
        ".ofd": ofd_file(folder / "s.ofd", [[PARA, ["项目", "数量"], ["调解", "8850件"]], ["第二页的文字。"]]).read_bytes(),
    }


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict[str, bytes]:
    return _seeds(tmp_path_factory.mktemp("seeds"))


def _mutate(data: bytes, draw) -> bytes:
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        if not out:
            break
        at = draw(st.integers(0, len(out) - 1))
        if kind == "flip":
            out[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del out[at:]
        elif kind == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=64))
        else:
            del out[at:at + draw(st.integers(1, 256))]
    return bytes(out)


def _mutate_docx_member(data: bytes, draw) -> bytes:
    """Mutate the XML inside the zip too, so the fuzz reaches python-docx, not only the zip reader."""
    with zipfile.ZipFile(io.BytesIO(data)) as zin:
        names = zin.namelist()
        name = draw(st.sampled_from(names))
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zout:
            for n in names:
                body = zin.read(n)
                zout.writestr(n, _mutate(body, draw) if n == name else body)
    return buf.getvalue()


FUZZ = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])


@pytest.mark.full
@pytest.mark.parametrize("ext", [".docx", ".pdf", ".html", ".txt", ".ofd"])
@FUZZ
@given(data=st.data())
def test_fuzzed_files_are_documents_or_ingest_errors(ext: str, data, seeds, tmp_path_factory) -> None:
    seed = seeds[ext]
    if ext in (".docx", ".ofd") and data.draw(st.booleans()):
        mutated = _mutate_docx_member(seed, data.draw)
    else:
        mutated = _mutate(seed, data.draw)
    path = tmp_path_factory.getbasetemp() / f"fuzz{ext}"
    path.write_bytes(mutated)
    for item in read_file(path, path.name, LIMITS):  # raises nothing, or the test fails
        assert isinstance(item, IngestError) or item.text.strip()
