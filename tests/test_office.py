"""Spreadsheets and the formats LibreOffice converts, fast tier: rows as sentences that keep their
header (pure and through real .xlsx/.csv files), citations to sheet and row, and the converter's
own failures (not installed, a file that hangs it) with a stand-in for LibreOffice. The real
LibreOffice round trip is tests/test_office_convert.py (full tier)."""

from __future__ import annotations

import datetime as dt
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from rag.answer.extractive import draft_extractive
from rag.answer.verify import Passage, verify
from rag.chunk import chunk_document
from rag.ingest import Ingestor, build_document, ingest_file
from rag.ingest.sheet import Merge, display, row_of_line, sentence, table_lines
from rag.ingest.spreadsheet import XlsxLoader
from rag.models import Citation, Hit
from rag.text import analyze_question
from rag.ui.app import citation_label
from tests.files import LIMITS, docx_file, xlsx_file

TITLE = "2023年重庆市各区县行政复议案件统计"


def _lines(rows, merges=()):
    return list(table_lines([(n, cells, all(c.isdigit() for c in cells if c) and any(cells)) for n, cells in rows],
                            merges))


def test_each_row_keeps_its_header_and_says_its_row() -> None:
    lines = _lines([(1, ["区县", "案件数", "年份"]), (2, ["铜梁区", "12", "2023"]), (3, []), (4, ["潼南区", "", "2023"])])
    assert lines == ["第2行：区县：铜梁区，案件数：12，年份：2023。", "第4行：区县：潼南区，年份：2023。"]
    assert [row_of_line(x) for x in lines] == [2, 4] and row_of_line("区县：铜梁区") is None


def test_title_rows_above_the_header_and_a_merged_group_header() -> None:
    rows = [(1, [TITLE, "", "", ""]), (2, ["单位：件", "", "", ""]), (3, ["区县", "案件数", "", "结案率"]),
            (4, ["", "民事", "刑事", ""]), (5, ["铜梁区", "12", "3", "95%"]), (6, ["", "7", "1", ""])]
    merges = [Merge(1, 1, 1, 4), Merge(2, 1, 2, 4), Merge(3, 2, 3, 3), Merge(3, 1, 4, 1), Merge(3, 4, 4, 4),
              Merge(5, 1, 6, 1)]  # the district merged over two data rows: both rows are about it
    assert _lines(rows, merges) == [
        TITLE, "单位：件",
        "第5行：区县：铜梁区，案件数（民事）：12，案件数（刑事）：3，结案率：95%。",
        "第6行：区县：铜梁区，案件数（民事）：7，案件数（刑事）：1。"]


def test_a_sheet_without_header_names_columns_by_letter_and_a_list_has_no_title() -> None:
    assert _lines([(1, ["1", "12"]), (2, ["2", "13"])]) == ["第1行：A列：1，B列：12。", "第2行：A列：2，B列：13。"]
    assert _lines([(1, ["名单"]), (2, ["张三"]), (3, ["李四"])]) == ["第2行：名单：张三。", "第3行：名单：李四。"]


def test_a_unit_in_the_header_follows_each_figure() -> None:
    assert sentence(4, ["区县", "行政复议案件（件）", "金额(万元)", "备注（说明）"], ["大足区", "57", "1,200.5", "无"]) == \
        "第4行：区县：大足区，行政复议案件：57件，金额：1,200.5万元，备注（说明）：无。"


def test_cells_show_as_the_sheet_formats_them() -> None:
    cases = [(0.125, "0.0%", "12.5%"), (1234567.5, "#,##0.00", "1,234,567.50"), (12, '0"件"', "12件"),
             (12.0, "General", "12"), (0.1 + 0.2, "General", "0.3"), (-3.5, "0.00", "-3.50"), (5, '"¥"#,##0', "¥5"),
             (2023, "0", "2023"), (True, "General", "TRUE"), ("文字", "@", "文字"), (None, "General", ""),
             (dt.date(2023, 1, 5), 'yyyy"年"m"月"d"日"', "2023年1月5日"),
             (dt.datetime(2023, 1, 5, 9, 30), "yyyy/m/d h:mm", "2023/1/5 9:30"),
             (dt.datetime(2023, 1, 5), "yyyy-mm-dd", "2023-01-05"), (dt.datetime(2023, 1, 5), "General", "2023-01-05"),
             (dt.datetime(2023, 3, 1), '[$-804]yyyy"年"m"月"', "2023年3月"), (dt.time(9, 5), "hh:mm:ss", "09:05:00")]
    assert [display(v, f) for v, f, _ in cases] == [want for _, _, want in cases]


def _workbook(path: Path) -> Path:
    return xlsx_file(path, {
        "汇总": [[TITLE], ["区县", "年份", "行政复议案件（件）", "结案率", "统计日期"],
                 ["永川区", 2023, 41, 0.88, dt.date(2023, 12, 31)], ["大足区", 2023, 57, 0.955, dt.date(2023, 12, 31)]],
        "说明": [["项目", "内容"], ["口径", "含行政复议和行政应诉"]],
    }, merges={"汇总": ["A1:E1"]}, formats={"汇总": {"D3": "0.0%", "D4": "0.0%", "E3": 'yyyy"年"m"月"d"日"',
                                                   "E4": 'yyyy"年"m"月"d"日"'}})


def test_an_xlsx_is_a_document_per_sheet_with_rows_as_shown(tmp_path: Path) -> None:
    result = ingest_file(_workbook(tmp_path / "案件统计.xlsx"), "案件统计.xlsx", LIMITS)
    assert result.ok, result.errors
    cases, notes = result.documents
    assert (cases.docid, cases.title, cases.metadata["sheet"]) == ("案件统计.xlsx#汇总", f"{TITLE}（汇总）", "汇总")
    assert cases.text.split("\n") == [
        TITLE,
        "第3行：区县：永川区，年份：2023，行政复议案件：41件，结案率：88.0%，统计日期：2023年12月31日。",
        "第4行：区县：大足区，年份：2023，行政复议案件：57件，结案率：95.5%，统计日期：2023年12月31日。"]
    assert notes.docid == "案件统计.xlsx#说明" and notes.text == "第2行：项目：口径，内容：含行政复议和行政应诉。"


def test_a_csv_in_gbk_is_read_like_a_sheet(tmp_path: Path) -> None:
    path = tmp_path / "调解.csv"
    path.write_bytes("区县,调解纠纷（件）\n铜梁区,2140\n璧山区,1890\n".encode("gbk"))
    doc, = ingest_file(path, path.name, LIMITS).documents
    assert doc.text == "第2行：区县：铜梁区，调解纠纷：2140件。\n第3行：区县：璧山区，调解纠纷：1890件。"
    assert doc.metadata["encoding"].lower().startswith("gb") and doc.metadata["sheet"] == ""


def test_a_row_is_its_own_passage_and_its_citation_carries_sheet_and_row(tmp_path: Path) -> None:
    raw = next(XlsxLoader().load(_workbook(tmp_path / "案件统计.xlsx"), "案件统计.xlsx", LIMITS))
    doc = build_document(raw)
    chunks = chunk_document(doc)
    rows = [c for c in chunks if row_of_line(c.text) is not None]
    assert [c.text for c in rows] == doc.text.split("\n")[1:]  # never two rows in one passage
    passages = [Passage(i, Hit(chunk=c, title=doc.title, score=1.0), {}, sheet="汇总") for i, c in enumerate(chunks, 1)]
    for question, figure, row in (("大足区2023年的结案率是多少？", "95.5%", 4), ("永川区2023年的结案率是多少？", "88.0%", 3)):
        q = analyze_question(question)
        answer = verify(q, draft_extractive(q, passages), passages, "extractive")
        assert not answer.refused and figure in answer.answer, answer
        cite = answer.citations[0]
        assert (cite.sheet, cite.row, cite.location) == ("汇总", row, f"汇总 第{row}行")
        assert doc.text[cite.start:cite.end] == cite.quote  # the verifier's own check: quoted verbatim
        assert f"汇总 第{row}行" in citation_label(cite)


def test_citation_location_reads_page_or_sheet_and_row() -> None:
    base = {"n": 1, "docid": "d", "chunk_id": "d#0", "title": "t", "section": "", "quote": "q", "start": 0, "end": 1}
    assert Citation(**base, page=3).location == "第3页"
    assert Citation(**base, sheet="案件", row=5).location == "案件 第5行"
    assert Citation(**base, sheet="", row=5).location == "第5行"  # a .csv has no sheet name
    assert Citation(**base).location == ""


# -- the converter's own failures, with a stand-in for LibreOffice's soffice ----------------------

_FAKE = '''
import os, sys, time
args = sys.argv[1:]
target, out = args[args.index("--convert-to") + 1], args[args.index("--outdir") + 1]
inputs = args[args.index("--outdir") + 2:]
open(os.environ["FAKE_SOFFICE_PIDS"], "a").write(f"{os.getpid()}\\n")
os.makedirs(out, exist_ok=True)
for path in inputs:
    data = open(path, "rb").read()
    if data.startswith(b"HANG"):
        time.sleep(600)
    name = os.path.splitext(os.path.basename(path))[0] + "." + target
    print(f"convert {path} -> {os.path.join(out, name)} using filter : fake", flush=True)
    open(os.path.join(out, name), "wb").write(data)
'''


def _fake_soffice(tmp_path: Path, monkeypatch) -> tuple[Path, Path]:
    script = tmp_path / "fake-soffice"
    script.write_text(f"#!{sys.executable}\n{_FAKE}", encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    pids = tmp_path / "pids"
    monkeypatch.setenv("FAKE_SOFFICE_PIDS", str(pids))
    return script, pids


def test_a_file_that_hangs_the_converter_is_stopped_and_named_and_the_rest_converted(tmp_path: Path, monkeypatch) -> None:
    script, pids = _fake_soffice(tmp_path, monkeypatch)
    limits = LIMITS.__class__(**{**LIMITS.__dict__, "converter": str(script), "convert_timeout_s": 1.0,
                                 "convert_cache_dir": str(tmp_path / "cache")})
    folder = tmp_path / "in"
    folder.mkdir()
    docx_file(folder / "a.doc", ["铜梁区2023年受理行政复议案件128件。"], [["项目", "数量"], ["复议", "128件"]])  # the stand-in "converts" by copying
    (folder / "b-hangs.doc").write_bytes(b"HANG" + os.urandom(100))
    docx_file(folder / "c.doc", ["潼南区2023年办理法律援助案件356件。"], [["项目", "数量"], ["援助", "356件"]])
    with Ingestor(limits) as ingestor:
        results = {Path(r.path).name: r for r in ingestor.ingest_paths([folder])}
    assert "128件" in results["a.doc"].documents[0].text and results["a.doc"].documents[0].metadata["format"] == "doc"
    assert "356件" in results["c.doc"].documents[0].text  # converted by a fresh run after the hang
    error, = results["b-hangs.doc"].errors
    assert "b-hangs.doc" in str(error) and "no progress for 1 s" in str(error) and "转换超时" in str(error)
    started = [int(p) for p in pids.read_text().split()]
    assert len(started) == 2  # one batch for the folder, one more for what the hang left
    for pid in started:  # none is left running
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()


def test_without_libreoffice_the_error_names_the_file_and_what_to_install(tmp_path: Path) -> None:
    limits = LIMITS.__class__(**{**LIMITS.__dict__, "converter": "policyqa-no-such-soffice",
                                 "convert_cache_dir": str(tmp_path / "cache")})
    path = docx_file(tmp_path / "通知.wps", ["铜梁区2023年受理行政复议案件128件。"], [["项目", "数量"], ["复议", "128件"]])
    error, = ingest_file(path, path.name, limits).errors
    assert str(path) in str(error) and "apt install libreoffice-writer-nogui libreoffice-calc-nogui" in str(error)
    assert "LibreOffice" in error.problem and "安装 LibreOffice" in error.remedy


_READ_BIG = '''
import sys, time
from pathlib import Path
from rag.config import Settings
from rag.ingest import read_file
started, docs, rows, first = time.perf_counter(), 0, 0, None
for doc in read_file(Path(sys.argv[1]), "big.xlsx", Settings().ingest_limits()):
    first = first or time.perf_counter() - started
    docs += 1
    rows += doc.text.count("\\n") + 1
# VmHWM, not ru_maxrss: that one keeps the peak of the (forked) parent across exec
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(docs, rows, first, time.perf_counter() - started, peak // 1024)
'''


@pytest.mark.full
def test_a_sheet_of_100000_rows_streams_in_bounded_memory(tmp_path: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    ws = book.create_sheet("明细")
    ws.append(["编号", "区县", "案件数（件）", "备注"])
    for i in range(100_000):
        ws.append([f"NO{i:06d}", f"区县{i % 300}", i % 97, f"备注文字{i}"])
    book.save(tmp_path / "big.xlsx")
    out = subprocess.run([sys.executable, "-c", _READ_BIG, str(tmp_path / "big.xlsx")], capture_output=True, text=True,
                         check=False, timeout=900, env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
    assert out.returncode == 0, out.stderr
    docs, rows, first, total, peak_mb = out.stdout.split()
    assert (int(docs), int(rows)) == (50, 100_000)  # documents of 2,000 rows, each sent as it is read
    assert float(first) < float(total) / 5
    # whole, the 100,000 rows' text normalised at once peaked at ~1.4 GB; streamed, the process stays
    # near what its imports take (~190 MB)
    assert int(peak_mb) < 400, (peak_mb, out.stdout)


def test_a_cache_that_cannot_be_written_is_named_not_a_crash(tmp_path: Path, monkeypatch) -> None:
    script, _ = _fake_soffice(tmp_path, monkeypatch)
    (tmp_path / "not-a-folder").write_text("x", encoding="utf-8")
    limits = LIMITS.__class__(**{**LIMITS.__dict__, "converter": str(script),
                                 "convert_cache_dir": str(tmp_path / "not-a-folder" / "cache")})
    path = docx_file(tmp_path / "通知.doc", ["铜梁区2023年受理行政复议案件128件。"], [["项目", "数量"], ["复议", "128件"]])
    with Ingestor(limits) as ingestor:
        error, = ingestor.ingest_file(path, path.name).errors
    assert str(path) in str(error) and "POLICYQA_CONVERT_CACHE_DIR" in str(error)


_CONVERTING_CALLER = '''
import sys
from pathlib import Path
from rag.config import Settings
from rag.ingest import Ingestor
limits = Settings(converter=sys.argv[1], convert_cache_dir=sys.argv[2]).ingest_limits()
with Ingestor(limits) as ingestor:
    ingestor.prepare([Path(sys.argv[3])])
'''


def test_libreoffice_ends_with_the_process_that_asked_for_the_conversion(tmp_path: Path, monkeypatch) -> None:
    """The caller is SIGKILLed while a conversion hangs: the converter process and the office it
    started (never the caller's child: the converter's) end too."""
    import signal

    from tests.procs import descendants, kill_and_check_children, wait_until

    script, pids = _fake_soffice(tmp_path, monkeypatch)
    (tmp_path / "hang.doc").write_bytes(b"HANG" + os.urandom(100))
    caller = subprocess.Popen([sys.executable, "-c", _CONVERTING_CALLER, str(script), str(tmp_path / "cache"),
                               str(tmp_path / "hang.doc")], env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
    try:
        wait_until(lambda: pids.exists() and pids.read_text().strip(), 120, "the office started", caller)
        office = int(pids.read_text().split()[0])
        assert office in descendants(caller.pid)
        assert office in kill_and_check_children(caller, signal.SIGKILL)
    finally:
        caller.kill()
        caller.wait()


def test_copies_of_a_file_are_converted_once_and_each_read(tmp_path: Path, monkeypatch) -> None:
    script, pids = _fake_soffice(tmp_path, monkeypatch)
    limits = LIMITS.__class__(**{**LIMITS.__dict__, "converter": str(script), "convert_cache_dir": str(tmp_path / "c")})
    folder = tmp_path / "in"
    folder.mkdir()
    docx_file(folder / "a.doc", ["铜梁区2023年受理行政复议案件128件。"], [["项目", "数量"], ["复议", "128件"]])
    (folder / "a-copy.wps").write_bytes((folder / "a.doc").read_bytes())
    (folder / "hang.doc").write_bytes(b"HANG" + os.urandom(10))
    (folder / "hang-copy.doc").write_bytes((folder / "hang.doc").read_bytes())
    docx_file(folder / "z.doc", ["潼南区2023年办理法律援助案件356件。"], [["项目", "数量"], ["援助", "356件"]])
    limits = LIMITS.__class__(**{**limits.__dict__, "convert_timeout_s": 1.0})
    with Ingestor(limits) as ingestor:
        results = {Path(r.path).name: r for r in ingestor.ingest_paths([folder])}
    assert results["a.doc"].ok and results["a-copy.wps"].ok and results["z.doc"].ok
    for name in ("hang.doc", "hang-copy.doc"):
        assert name in str(results[name].errors[0]) and "no progress" in str(results[name].errors[0])
    assert len(pids.read_text().split()) == 2  # the hang stops the first run, a second does z.doc: no copy again
