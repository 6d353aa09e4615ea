"""Spreadsheets (.xlsx, .xlsm, .csv): one document per sheet, one sentence per data row (rag.ingest.sheet).

.xlsx is read with openpyxl in read-only mode, which streams the sheet's XML: a 100,000-row sheet
is never held whole (python-calamine reads ~10x faster but loads the whole sheet and gives numbers
without their format: 0.125 where the sheet shows 12.5%; measured in the README). Merged cells are
not in openpyxl's read-only view, so they are read from the sheet's XML first, streamed too.
.xls, .et and .ods reach this loader as .xlsx converted by LibreOffice (rag.ingest.convert).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

from rag.ingest.base import IngestError, Loader, RawDocument, sha256
from rag.ingest.limits import IngestLimits, check_archive
from rag.ingest.sheet import Merge, display, row_of_line, table_lines
from rag.ingest.text import _decode

_REF = re.compile(r"^([A-Z]{1,3})(\d+):([A-Z]{1,3})(\d+)$")
#: Rows per document: a bounded unit for normalisation, chunking and the reader's memory.
ROWS_PER_DOCUMENT = 2000
_MERGE = re.compile(rb'<(?:\w+:)?mergeCell\s[^>]*?ref="([A-Z]{1,3}\d+:[A-Z]{1,3}\d+)"')
_NUMBER = re.compile(r"^[-+]?[\d,]*\.?\d+%?$")


class XlsxLoader(Loader):
    extensions = (".xlsx", ".xlsm")

    def load(self, path: Path, docid: str, limits: IngestLimits) -> Iterator[RawDocument]:
        yield from load_workbook(path, path, docid, limits, "xlsx")


def load_workbook(path: Path, original: Path, docid: str, limits: IngestLimits, fmt: str) -> Iterator[RawDocument]:
    """The sheets of the .xlsx at ``path``; named (errors, source) after ``original``, the file
    the user gave (a .xls converted to ``path``)."""
    import openpyxl

    check_archive(path, limits, original)
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl/zipfile raise anything on a damaged package
        raise IngestError(original, f"not a readable spreadsheet ({type(exc).__name__}: {exc})",
                          "Open it in Excel/WPS and save it again as .xlsx / 请用 Excel 或 WPS 打开后另存为 .xlsx") from exc
    content_hash = sha256(original.read_bytes())
    try:
        sheets = [ws for ws in book.worksheets if hasattr(ws, "iter_rows")]  # chart sheets have no cells
        found = 0
        for ws in sheets:
            ws.reset_dimensions()  # a sheet may claim A1:XFD1048576; rows then hold only their cells
            lines = table_lines(_rows(ws, original, limits), _merges(path, ws._worksheet_path))
            many = len(sheets) > 1
            for doc in blocks(lines, f"{docid}#{ws.title}" if many else docid, original, content_hash,
                              ws.title if many else None, {"format": fmt, "sheet": ws.title}):
                found += 1
                yield doc
    finally:
        book.close()
    if not found:
        raise IngestError(original, "no sheet holds any value", "Check the file's content / 请检查表格内容是否为空")


def blocks(lines: Iterator[str], docid: str, source: Path, content_hash: str, sheet: str | None,
           metadata: dict[str, str]) -> Iterator[RawDocument]:
    """One table's lines as documents of at most ``ROWS_PER_DOCUMENT`` rows each, yielded as read:
    a 100,000-row sheet is never one 10 MB text that normalisation would hold many times over.
    One block keeps ``docid``; several are ``docid#<first row>-<last row>``."""
    titles: list[str] = []
    rows: list[str] = []
    pending: tuple[list[str], int, int] | None = None  # a full block, held until it is known not to be the last
    title = None

    def document(lines: list[str], first: int, last: int, alone: bool) -> RawDocument:
        return RawDocument(docid=docid if alone else f"{docid}#{first}-{last}", source=str(source),
                           text="\n".join(lines), content_hash=content_hash, title=title,
                           metadata={**metadata, "rows": f"{first}-{last}"})

    for line in lines:
        number = row_of_line(line)
        if number is None and not rows and pending is None:
            titles.append(line)
            continue
        if title is None:
            title = _title(titles, source, sheet)
        rows.append(line)
        if len(rows) == ROWS_PER_DOCUMENT:
            if pending is not None:
                yield document(*pending, alone=False)
            pending = (titles + rows, row_of_line(rows[0]) or 0, number or 0)
            titles, rows = [], []
    if pending is not None:
        yield document(*pending, alone=not rows)
    if rows:
        yield document(titles + rows, row_of_line(rows[0]) or 0, row_of_line(rows[-1]) or 0, alone=pending is None)


def _rows(ws, original: Path, limits: IngestLimits) -> Iterator[tuple[int, list[str], bool]]:
    for number, row in enumerate(ws.iter_rows(), 1):
        cells, numbers = [], 0
        for cell in row:
            value = cell.value
            cells.append(display(value, getattr(cell, "number_format", None)))
            numbers += isinstance(value, (int, float)) and not isinstance(value, bool)
        while cells and not cells[-1]:
            cells.pop()
        if len(cells) > limits.sheet_max_columns:
            raise IngestError(original, f"sheet '{ws.title}' row {number} has a value in column {len(cells)}, over "
                              f"the limit of {limits.sheet_max_columns} columns",
                              "Remove the stray cells far to the right, or raise POLICYQA_INGEST_SHEET_MAX_COLUMNS"
                              f" / 表格列数超过{limits.sheet_max_columns}列，请删除右侧多余的单元格")
        yield number, cells, bool(numbers) and numbers == sum(1 for c in cells if c)


def _merges(path: Path, member: str) -> list[Merge]:
    """The merged ranges of one sheet. They stand after all its rows in the XML, so the member is
    scanned as bytes in blocks for ``<mergeCell ref=…>`` (a full XML parse of a 100,000-row sheet
    would cost as much as reading it); the ranges themselves are few."""
    out, tail = [], b""
    with zipfile.ZipFile(path) as archive, archive.open(member.lstrip("/")) as xml:
        while block := xml.read(1 << 20):
            data = tail + block
            last = 0
            for m in _MERGE.finditer(data):
                last = m.end()
                if ref := _REF.match(m.group(1).decode("ascii")):
                    out.append(Merge(int(ref.group(2)), _column(ref.group(1)), int(ref.group(4)), _column(ref.group(3))))
            tail = data[max(last, len(data) - 200):]
    return out


def _column(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


def _title(titles: list[str], original: Path, sheet: str | None) -> str:
    """The table's own title row(s), else the file's name; with the sheet's name when a
    workbook has several."""
    title = " ".join(titles) if titles else original.stem
    return f"{title}（{sheet}）" if sheet and sheet not in title else title


class CsvLoader(Loader):
    extensions = (".csv",)

    def load(self, path: Path, docid: str, limits: IngestLimits) -> Iterator[RawDocument]:
        data = path.read_bytes()
        text, encoding = _decode(path, data)
        dialect = _dialect(text[:20_000])
        rows = ((n, row, _numeric(row)) for n, row in enumerate(csv.reader(io.StringIO(text), dialect), 1))

        def bounded():
            for number, cells, numeric in rows:
                while cells and not cells[-1].strip():
                    cells.pop()
                if len(cells) > limits.sheet_max_columns:
                    raise IngestError(path, f"row {number} has {len(cells)} columns, over the limit of "
                                      f"{limits.sheet_max_columns}", "Check the file's delimiter, or raise "
                                      f"POLICYQA_INGEST_SHEET_MAX_COLUMNS / 表格列数超过{limits.sheet_max_columns}列")
                yield number, cells, numeric

        found = 0
        for doc in blocks(table_lines(bounded()), docid, path, sha256(data), None,
                          {"format": "csv", "encoding": encoding, "sheet": ""}):
            found += 1
            yield doc
        if not found:
            raise IngestError(path, "the table holds no value", "Check the file's content / 请检查表格内容是否为空")


def _dialect(sample: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",\t;|")
    except csv.Error:  # one column, or too little to tell: plain commas
        return csv.excel


def _numeric(cells: list[str]) -> bool:
    values = [c.strip() for c in cells if c.strip()]
    return bool(values) and all(_NUMBER.match(v) for v in values)
