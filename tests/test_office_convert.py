"""The formats LibreOffice converts, end to end with the real LibreOffice (full tier).

One folder is made by real tools once for the module: python-docx and openpyxl write .docx/.xlsx,
LibreOffice converts them to .doc .rtf .odt .xls .ods (a Kingsoft .wps is a Word 97 file and an
.et an Excel 97 one: the .doc and .xls saved under those names), LibreOffice saves a .doc with a
password, plus the other bad files. One ``policyqa index`` run reads it all (one converter batch
per target format); every good file's fact is then answered with its citation (page-less
documents: the file; spreadsheets: sheet and row), every bad one is named, in the CLI, the API
upload and the UI's upload handler.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from rag.config import Settings
from tests.conftest import start_server
from tests.files import docx_file, encrypted, wide_xlsx, xlsx_file, zip_named

pytestmark = pytest.mark.full

#: file -> (its fact, the question, the figure the answer must give)
DOCUMENTS = {
    "复议.doc": ("铜梁区2023年受理行政复议案件128件。", "铜梁区2023年受理行政复议案件多少件？", "128件"),
    "援助.wps": ("潼南区2023年办理法律援助案件356件。", "潼南区2023年办理法律援助案件多少件？", "356件"),
    "普法.rtf": ("荣昌区2023年开展普法宣传活动87场。", "荣昌区2023年开展普法宣传活动多少场？", "87场"),
    "调解.odt": ("璧山区2023年调解矛盾纠纷2140件。", "璧山区2023年调解矛盾纠纷多少件？", "2140件"),
}
#: file -> (the district asked about, its rate as the sheet shows it, the row it stands in)
SHEETS = {"统计.xls": ("大足区", "95.5%", 4), "统计.et": ("綦江区", "91.2%", 5), "统计.ods": ("江津区", "88.8%", 6),
          "统计.xlsx": ("合川区", "97.1%", 7), "统计.csv": ("永川区", "90.4%", 3)}
_OTHERS = ["万州区", "涪陵区", "渝中区", "江北区", "南岸区", "北碚区", "渝北区", "巴南区", "长寿区", "开州区"]
BAD = {"密码.doc": "password", "压缩包.wps": "zip archive", "宽表.xlsx": "16384", "密码.xlsx": "password"}


def _sheet_rows(district: str, rate: str, row: int) -> list[list]:
    others = iter(_OTHERS[row:] + _OTHERS[:row])
    rows: list[list] = [["2023年重庆市各区县行政复议案件统计"], ["区县", "年份", "行政复议案件（件）", "结案率"]]
    while len(rows) < row - 1:
        rows.append([next(others), 2023, 10 + len(rows), 0.5])
    rows.append([district, 2023, 60 + row, float(rate.rstrip("%")) / 100])
    rows.append([next(others), 2023, 99, 0.6])
    return rows


def _soffice_convert(soffice: str, profile: Path, target: str, sources: list[Path], out: Path) -> None:
    subprocess.run([soffice, "--headless", "--norestore", f"-env:UserInstallation={profile.as_uri()}",
                    "--convert-to", target, "--outdir", str(out), *map(str, sources)],
                   check=True, capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def office(tmp_path_factory):
    """The folder, indexed by one CLI run: ``.folder``, ``.settings``, ``.out`` (the run's output)."""
    from types import SimpleNamespace

    soffice = shutil.which("soffice")
    assert soffice, "LibreOffice is needed: apt install libreoffice-writer-nogui libreoffice-calc-nogui"
    root = tmp_path_factory.mktemp("office")
    made, folder, profile = root / "made", root / "folder", root / "lo-profile"
    made.mkdir()
    folder.mkdir()
    for name, (fact, _, _) in DOCUMENTS.items():  # a .docx per format, converted by LibreOffice
        docx_file(made / f"{Path(name).stem}.docx", [fact, "其他事项另行通知。"], [["项目", "数量"], ["合计", "见正文"]])
    for name, (district, rate, row) in SHEETS.items():
        sheet = xlsx_file(made / f"{Path(name).suffix[1:]}.xlsx", {"汇总": _sheet_rows(district, rate, row)},
                          merges={"汇总": ["A1:D1"]},
                          formats={"汇总": {f"D{r}": "0.0%" for r in range(3, row + 2)}})
        if name.endswith(".xlsx"):
            shutil.copy(sheet, folder / name)
        elif name.endswith(".csv"):
            (folder / name).write_text("\n".join(",".join(str(c) if not isinstance(c, float) or c > 1 else f"{c:.1%}"
                                                          for c in r) for r in _sheet_rows(district, rate, row)),
                                       encoding="utf-8")
    for target, stems in (("doc", ["复议", "援助"]), ("rtf", ["普法"]), ("odt", ["调解"])):
        for stem in stems:
            _soffice_convert(soffice, profile, target, [made / f"{stem}.docx"], made)
            shutil.copy(made / f"{stem}.{target}", folder / (f"{stem}.wps" if stem == "援助" else f"{stem}.{target}"))
    for target, stem in (("xls", "xls"), ("xls", "et"), ("ods", "ods")):
        _soffice_convert(soffice, profile, target, [made / f"{stem}.xlsx"], made / stem)
        shutil.copy(made / stem / f"{stem}.{target}", folder / f"统计.{stem}")
    subprocess.run(["/usr/bin/python3", str(Path(__file__).with_name("lo_password.py")), shutil.which("soffice.bin")
                    or str(Path(os.path.realpath(soffice)).with_name("soffice.bin")), str(root / "pw-profile"),
                    str(made / "复议.docx"), str(folder / "密码.doc"), "MS Word 97", "secret"], check=True, timeout=300)
    zip_named(folder / "压缩包.wps")
    wide_xlsx(folder / "宽表.xlsx")
    encrypted(made / "xlsx.xlsx", folder / "密码.xlsx")

    env = {**os.environ, "POLICYQA_INDEX_DIR": str(root / "index"), "POLICYQA_EMBEDDING_MODEL": "use-m3",
           "POLICYQA_CONVERT_CACHE_DIR": str(root / "converted")}
    run = subprocess.run([sys.executable, "-m", "rag.cli", "index", str(folder)], env=env, capture_output=True,
                         text=True, check=False, timeout=900, cwd=root)
    settings = Settings(index_dir=root / "index", embedding_model="use-m3", convert_cache_dir=root / "converted",
                        answer_mode="extractive")
    return SimpleNamespace(folder=folder, settings=settings, out=run.stdout + run.stderr, code=run.returncode,
                           root=root, made=made, env=env)


def test_one_index_run_reads_every_format_and_names_every_bad_file(office) -> None:
    assert office.code == 0, office.out
    assert "Traceback" not in office.out
    lines = office.out.splitlines()
    for name, word in BAD.items():
        path = str(office.folder / name)
        assert any(path in ln and word in ln.lower() for ln in lines), (name, office.out)
    assert f"{len(DOCUMENTS) + len(SHEETS)} documents" in office.out, office.out
    cached = sorted(p.suffix for p in (office.root / "converted").glob("*.*x"))
    assert cached == [".docx"] * 4 + [".xlsx"] * 3, cached  # each converted once, by content hash


def test_every_converted_document_answers_its_fact(office) -> None:
    from rag.service import PolicyQA

    qa = PolicyQA.open(settings=office.settings)
    try:
        for name, (fact, question, figure) in DOCUMENTS.items():
            answer = qa.ask(question)
            assert not answer.refused and figure in answer.answer, (name, answer)
            cite = answer.citations[0]
            assert cite.docid == name and cite.quote in fact and cite.row is None, (name, cite)
        for name, (district, rate, row) in SHEETS.items():
            answer = qa.ask(f"{district}2023年的结案率是多少？")
            assert not answer.refused and rate in answer.answer, (name, answer)
            cite = answer.citations[0]
            assert cite.docid == name and cite.row == row, (name, cite)
            assert cite.location == (f"汇总 第{row}行" if not name.endswith(".csv") else f"第{row}行"), cite
            assert district in cite.quote and rate in cite.quote
    finally:
        qa.close()


def test_api_and_ui_uploads_convert_a_doc_and_name_a_protected_one(office, tmp_path: Path) -> None:
    from tests.conftest import copy_index

    settings = copy_index(office.settings, tmp_path / "api", convert_cache_dir=tmp_path / "api-cache")
    base, stop = start_server(settings)
    try:
        with httpx.Client(base_url=base, timeout=600) as api:
            doc = office.folder / "复议.doc"
            r = api.post("/v1/documents", files={"file": ("复议上传.doc", doc.read_bytes())})
            assert r.status_code == 201, r.text  # converted by the server's own LibreOffice (an empty cache)
            assert r.json()["docid"] == "uploads/复议上传.doc" and r.json()["documents"][0]["chunks"] > 0, r.text
            r = api.post("/v1/documents", files={"file": ("密码.doc", (office.folder / "密码.doc").read_bytes())})
            assert r.status_code == 422 and "密码.doc" in r.text and "password" in r.text, r.text
            answer = api.post("/v1/answer", json={"question": "大足区2023年的结案率是多少？"}).json()
            assert answer["citations"][0]["row"] == 4 and answer["citations"][0]["sheet"] == "汇总", answer
    finally:
        stop()
    from rag.service import PolicyQA
    from rag.models import LOCAL
    from rag.ui.app import _add_one

    qa = PolicyQA.open(settings=copy_index(office.settings, tmp_path / "ui", convert_cache_dir=tmp_path / "ui-cache"))
    try:
        upload_root = tmp_path / "gradio"
        upload_root.mkdir()
        for name in ("密码.doc", "压缩包.wps", "统计.et"):
            shutil.copy(office.folder / name, upload_root / name)
        assert "密码.doc" in (said := _add_one(qa, upload_root / "密码.doc", upload_root.resolve(), LOCAL)) and "密码" in said
        assert "压缩包.wps" in (said := _add_one(qa, upload_root / "压缩包.wps", upload_root.resolve(), LOCAL))
        assert "zip archive" in said
        assert "已收录为 uploads/统计.et" in _add_one(qa, upload_root / "统计.et", upload_root.resolve(), LOCAL)
    finally:
        qa.close()


def test_the_cli_shows_sheet_and_row(office) -> None:
    run = subprocess.run([sys.executable, "-m", "rag.cli", "ask", "大足区2023年的结案率是多少？"], env=office.env,
                         capture_output=True, text=True, check=False, timeout=600, cwd=office.root)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "95.5%" in run.stdout and "汇总 第4行" in run.stdout, run.stdout
