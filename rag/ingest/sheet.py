"""A table's rows as sentences that keep their header: "第5行：区县：巴川，案件数：12，年份：2023。"

A figure in a spreadsheet means nothing without its column's name and its row's subject, so every
data row becomes one line that names both, and that line is what retrieval finds, the answer quotes
and the verifier checks. A unit the header gives in brackets follows each figure
(案件数（件） 57 → 案件数：57件). The line starts with its row number in the sheet (``ROW_LABEL``), which
citations read back to show 第N行. What stands above the header is handled as offices lay tables
out: title rows (one value across the table, usually a merged cell) become the table's title
lines; a header with merged group cells ("案件数" over "民事" and "刑事") is two rows deep and the
labels are joined ("案件数（民事）"); merged cells in the data give every row they cover their value.
Rows are streamed: only the rows before the header and the current row are held.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

#: The label a row line starts with; citations parse the row back from it (``row_of_line``).
ROW_LABEL = "第{}行："
_ROW_LABEL = re.compile(r"^第(\d{1,7})行：")
#: Between one cell and the next in a row sentence (not ；, which ends a sentence for the verifier:
#: "案件数：12；" alone would be a quote that no longer says which district it is about).
_CELL_SEP, _LABEL_SEP, _END = "，", "：", "。"
#: A unit a header names in brackets (案件数（件）, 金额(万元)): said after each figure of its column,
#: where the verifier and the reader look for it ("57件").
_UNIT = re.compile(r"[（(]\s*((?:万|亿|千|百)?(?:人次|平方米|立方米|公里|千米|公顷|小时|千瓦时|千瓦|个百分点|"
                   r"[人名位件起宗个项次场份条家户类种期批元吨亩天月年岁篇所座台辆套株米%％]))\s*[）)]\s*$")
_FIGURE = re.compile(r"^[-+]?[\d,]*\.?\d+$")
#: How many leading rows may be titles before the header (a report's name, its unit, its date).
_MAX_TITLE_ROWS = 4


@dataclass(frozen=True)
class Merge:
    """A merged cell range, 1-based and inclusive (openpyxl's and Excel's own numbering)."""

    min_row: int
    min_col: int
    max_row: int
    max_col: int


def row_of_line(line: str) -> int | None:
    """The sheet row a row line (see ``ROW_LABEL``) stands for, None for any other line."""
    m = _ROW_LABEL.match(line)
    return int(m.group(1)) if m else None


def column_letter(col: int) -> str:
    """Excel's name of a 1-based column: 1 → A, 28 → AB."""
    out = ""
    while col:
        col, r = divmod(col - 1, 26)
        out = chr(65 + r) + out
    return out


class _Filler:
    """Gives the cells a merged range covers the value of its top-left cell, row by row."""

    def __init__(self, merges: Sequence[Merge]) -> None:
        self._merges = [m for m in merges if m.max_row > m.min_row or m.max_col > m.min_col]
        self._values: dict[Merge, str] = {}

    def fill(self, number: int, cells: list[str]) -> list[str]:
        for m in self._merges:
            if not m.min_row <= number <= m.max_row:
                continue
            if number == m.min_row:
                self._values[m] = cells[m.min_col - 1] if m.min_col <= len(cells) else ""
            value = self._values.get(m, "")
            if len(cells) < m.max_col:
                cells.extend([""] * (m.max_col - len(cells)))
            for c in range(m.min_col - 1, m.max_col):
                cells[c] = value
        return cells

    def spans_columns(self, number: int, width: int) -> bool:
        """Whether a merge on this row groups several columns without spanning the whole table
        (a group header over sub-headers)."""
        return any(m.min_row <= number <= m.max_row and 1 < m.max_col - m.min_col + 1 < width for m in self._merges)


def _distinct(cells: Sequence[str]) -> list[str]:
    seen: list[str] = []
    for c in cells:
        if c and c not in seen:
            seen.append(c)
    return seen


def _join_labels(upper: str, lower: str) -> str:
    if not upper or upper == lower:
        return lower
    if not lower:
        return upper
    return f"{upper}（{lower}）"


@dataclass(frozen=True)
class Table:
    """What stands above a sheet's data: its title lines and its column labels."""

    titles: tuple[str, ...]
    labels: tuple[str, ...]


def sentence(number: int, labels: Sequence[str], cells: Sequence[str]) -> str | None:
    """The line of one data row, None for a row with no value. A column without a label is named
    by its letter (B列); a horizontally merged cell is said once."""
    parts: list[str] = []
    for i, value in enumerate(cells):
        if not value:
            continue
        label = labels[i] if i < len(labels) and labels[i] else f"{column_letter(i + 1)}列"
        if (unit := _UNIT.search(label)) and _FIGURE.match(value):  # 案件数（件） 57 → 案件数：57件
            label, value = label[:unit.start()], value + unit.group(1)
        part = f"{label}{_LABEL_SEP}{value}"
        if not parts or parts[-1] != part:
            parts.append(part)
    if not parts:
        return None
    return ROW_LABEL.format(number) + _CELL_SEP.join(parts) + _END


def table_lines(rows: Iterable[tuple[int, list[str], bool]], merges: Sequence[Merge] = ()) -> Iterator[str]:
    """The lines of one sheet: its title lines, then one sentence per data row.

    ``rows`` are ``(row number, displayed cell texts, whether the row holds a number)`` in sheet
    order (blank rows may be missing or empty). The header is the first row after the titles; a
    row that holds a number is data, so a sheet without a header row gets column letters.
    """
    filler = _Filler(merges)
    it = iter(rows)
    ahead: list[tuple[int, list[str], bool]] = []  # the first rows with a value, where titles and header are
    for number, cells, numeric in it:
        cells = filler.fill(number, [" ".join(c.split()) for c in cells])
        if _distinct(cells):
            ahead.append((number, cells, numeric))
            if len(ahead) == _MAX_TITLE_ROWS + 2:
                break
    wide = any(len(_distinct(cells)) > 1 for _, cells, _ in ahead)  # a one-column list has no title rows
    titles: list[str] = []
    while wide and ahead and len(titles) < _MAX_TITLE_ROWS and len(_distinct(ahead[0][1])) == 1 and not ahead[0][2]:
        titles.append(_distinct(ahead.pop(0)[1])[0])
    head = ahead[:1]
    if ahead and not ahead[0][2] and len(ahead) > 1 and filler.spans_columns(ahead[0][0], len(ahead[0][1])) \
            and not ahead[1][2]:
        head = ahead[:2]  # a group header over sub-headers
    labels = _labels(head)
    yield from titles
    for number, cells, _ in ahead[len(head) if labels else 0:]:
        if (line := sentence(number, labels, cells)) is not None:
            yield line
    for number, cells, _ in it:
        if (line := sentence(number, labels, filler.fill(number, [" ".join(c.split()) for c in cells]))) is not None:
            yield line


def _labels(head: list[tuple[int, list[str], bool]]) -> list[str]:
    """Column labels from the header rows read (one, or two under a group header); none when
    the first row after the titles already holds numbers (no header)."""
    header = [cells for _, cells, numeric in head if not numeric]
    if not header:
        return []
    if len(header) == 1:
        return header[0]
    upper, lower = header
    width = max(len(upper), len(lower))
    upper, lower = upper + [""] * (width - len(upper)), lower + [""] * (width - len(lower))
    return [_join_labels(u, lo) for u, lo in zip(upper, lower)]


# -- cells as the sheet shows them ---------------------------------------------------------------

_QUOTED = re.compile(r'"([^"]*)"')
_NOISE = re.compile(r"\[[^\]]*\]|_.|\*.|\\")  # [Red], [$-804], alignment padding, escapes
_CORE = re.compile(r"[#0?][#0?,]*(?:\.[#0?]*)?")
_DATE_TOKEN = re.compile(r"yyyy|yy|mmmm|mmm|mm|m|dddd|ddd|dd|d|hh|h|ss|s|am/pm", re.IGNORECASE)


def display(value: object, number_format: str | None = "General") -> str:
    """The text a cell shows: a number with its format's decimals, percent sign, thousands
    separators and literal text (0.125 in "0.0%" shows 12.5%), a date as its format writes it
    (2023年1月5日, 2023/1/5), text as it is. The common format codes, not Excel's whole language."""
    if value is None:
        return ""
    fmt = (number_format or "General").split(";")[0]
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return _date(value, fmt)
    if isinstance(value, (int, float)):
        return _number(value, fmt)
    return str(value)


def _general(value: float) -> str:
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.15g}"


def _number(value: float, fmt: str) -> str:
    plan = _number_plan(fmt)
    if plan is None:
        return _general(value)
    prefix, suffix, decimals, thousands, percent = plan
    number = f"{abs(value) * (100 if percent else 1):{',' if thousands else ''}.{decimals}f}"
    sign = "-" if value < 0 and float(number.replace(",", "")) else ""
    return f"{sign}{prefix}{number}{suffix}".strip()


@lru_cache(maxsize=256)
def _number_plan(fmt: str) -> tuple[str, str, int, bool, bool] | None:
    """(prefix, suffix, decimals, thousands separators, percent) of a number format; None for General."""
    code = _NOISE.sub("", fmt)
    core = _CORE.search(_QUOTED.sub(lambda m: " " * len(m.group(0)), code))  # digits inside quotes are text
    if core is None or code.strip().lower() in ("", "general", "@"):
        return None
    digits = core.group(0)
    return (_unquote(code[:core.start()]), _unquote(code[core.end():]),
            len(digits.split(".")[1]) if "." in digits else 0, "," in digits, "%" in _QUOTED.sub("", code))


def _unquote(text: str) -> str:
    return _QUOTED.sub(r"\1", text)


def _date(value: dt.date | dt.time, fmt: str) -> str:
    plan = _date_plan(fmt)
    if plan is None:
        if isinstance(value, dt.datetime):
            return value.strftime("%Y-%m-%d %H:%M" if (value.hour, value.minute, value.second) != (0, 0, 0)
                                  else "%Y-%m-%d")
        return value.isoformat()
    return "".join(text if minute is None else _date_part(value, text, minute) for text, minute in plan).strip()


@lru_cache(maxsize=256)
def _date_plan(fmt: str) -> tuple[tuple[str, bool | None], ...] | None:
    """A date format as (literal text, None) and (token, whether an m is minutes) pieces; None
    for General or a format without date tokens."""
    code = _NOISE.sub("", fmt)
    if code.lower() == "general" or not _DATE_TOKEN.search(_QUOTED.sub("", code)):
        return None
    tokens = list(re.finditer(r'"[^"]*"|' + _DATE_TOKEN.pattern, code, re.IGNORECASE))
    parts = [t for t in tokens if not t.group(0).startswith('"')]
    out: list[tuple[str, bool | None]] = []
    pos = 0
    for t in tokens:
        out.append((code[pos:t.start()], None))
        pos = t.end()
        tok = t.group(0)
        if tok.startswith('"'):
            out.append((tok[1:-1], None))
            continue
        i = parts.index(t)
        low = tok.lower()
        after_hour = i > 0 and parts[i - 1].group(0).lower().startswith("h")
        before_second = i + 1 < len(parts) and parts[i + 1].group(0).lower().startswith("s")
        out.append((low, low in ("m", "mm") and (after_hour or before_second)))
    out.append((code[pos:], None))
    return tuple(out)


def _date_part(value: dt.date | dt.time, token: str, minute: bool) -> str:
    def get(name: str) -> int:  # a date has no hour, a time no year
        return getattr(value, name, 0)

    if minute:
        return f"{get('minute'):0{len(token)}d}"
    if token.startswith("y"):
        return f"{get('year'):04d}" if token == "yyyy" else f"{get('year') % 100:02d}"
    if token.startswith("m"):
        return {"m": str(get("month")), "mm": f"{get('month'):02d}"}.get(token, str(get("month")))
    if token.startswith("d"):
        return {"d": str(get("day")), "dd": f"{get('day'):02d}"}.get(token, str(get("day")))
    if token.startswith("h"):
        return f"{get('hour'):0{len(token)}d}"
    if token.startswith("s"):
        return f"{get('second'):0{len(token)}d}"
    return ""
