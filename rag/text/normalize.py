"""Turn extracted text into the stored text of a document, and derive the search key from it.

The stored text is what users see quoted, so normalisation only removes noise (converter artefacts,
web boilerplate, wrapped lines, inconsistent widths) and never changes the script: traditional text
stays traditional. Matching across scripts and widths uses :func:`search_key`, which is
length-preserving so an offset in the key is the same offset in the stored text.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

from rag.text.doc_kinds import ends_in_document_kind
from rag.text.offsets import Traced

#: Bumped whenever the stored text or search key of the same input would change; recorded in the
#: index manifest so an index built by another version is rebuilt instead of silently mismatched.
NORMALIZER_VERSION = "4"

CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_CHAR = re.compile(f"[{CJK}]")
_CJK_OR_PUNCT = f"{CJK}\u3000-\u303f\uff00-\uffef“”‘’"

# Pinyin glosses left by some traditional-script converters: 設(shè), 發(fā), 優(yōu), 區(qū).
_PINYIN = "a-zāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜüńňǹḿ"
_PINYIN_GLOSS = re.compile(
    f"(?<=[{CJK}])[(（]([{_PINYIN}]{{1,6}})[)）]"
)
_CR = re.compile(r"\r\n?")  # Windows "\r\n" and old Mac "\r" line ends
_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_HSPACE = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")

# ASCII punctuation written inside Chinese text is made full-width, as the documents themselves
# mostly write it; inside numbers and Latin text (1,000 / 3.5 / http://) it is left alone.
_ASCII_TO_FULL = {",": "，", ":": "：", ";": "；", "?": "？", "!": "！"}
_PUNCT_IN_CJK = re.compile(f"(?<=[{_CJK_OR_PUNCT}])[,:;?!]|[,:;?!](?=[{CJK}])")
_PAREN = re.compile(r"\(([^()\n]{0,80})\)")
#: One half of a bracket pair read in the other width, as OCR reads "（一）" as "(一）": the pair is made full-width.
_MIXED_PAREN = re.compile(r"\((?=[^()（）\n]{0,80}）)|(?<=（)([^()（）\n]{0,80})\)")

_BOILERPLATE = [
    re.compile(p)
    for p in (
        r"^.{0,12}首页$",
        r"^(手机新闻网|新闻客户端|手机版|客户端|网站地图|返回顶部|打印本页|关闭窗口|【打印】|【关闭】|【返回顶部】)$",
        r"^\[?(责任编辑|编辑|责编|校对|审核|来源|作者|浏览次数|点击数)[:：][^\]]{0,30}\]?$",
        r"^标签[:：].{0,80}$",
        r"^(声明|免责声明|版权声明)[:：]",
        r"^(上一篇|下一篇)[:：]",
        r"^分享到[:：]?",
        r"^(Copyright|版权所有|©)",
        r"^(首页|当前位置|您当前的位置|您的位置)\s*[>＞»:：]",
        r"^字号[:：]?\s*[大中小\s]+$",
    )
]

_SENTENCE_END = "。！？；：!?;…”’」』）)"
#: A gap between the cells of a table row, as PDF text layers ("行政复议 办理行政复议案件215件",
#: "2022年 2023年") and the docx reader ("项目 | 完成数") write it: such a line is a row, not a
#: wrapped line of a paragraph, and is never joined to its neighbours.
TABLE_CELL_GAP = re.compile(f"[{CJK}\\d%）)] +[{CJK}\\d（(]| \\| ")
#: Heading starts: 一、 （一） (一) 1. 1、 第X章/条 【…】. Used here so a wrapped line is never
#: joined onto a heading, and by the chunker to build section paths.
HEADING_START = re.compile(
    r"^(?:[一二三四五六七八九十百]+、|[（(][一二三四五六七八九十百]+[）)]|\d{1,2}[.．、](?!\d)"
    r"|第[一二三四五六七八九十百零〇\d]+[章节条款部分编]|【[^】]{1,20}】|[（(]\d{1,2}[）)]|[①-⑳])"
)


#: Marks where a page begins while pages are normalised together (a private-use character, never
#: in stored text): a page break is not a paragraph break, so pages are joined first and the
#: offsets of the markers give each page's start in the stored text (see normalize_pages).
PAGE_BREAK = "\ue000"


def normalize_pages(pages: Sequence[Traced]) -> tuple[Traced, list[int]]:
    """Stored text of a paged document and the offset where each page starts in it.

    A sentence running over a page break is joined like any wrapped line; a page with no text
    starts where the next one does.
    """
    marked: list[Traced] = []
    carry = 0
    for i, page in enumerate(pages):
        lines = page.split("\n")
        first = next((j for j, line in enumerate(lines) if line.text.strip()), None)
        if first is None:
            carry += 1 if i else 0
            continue
        if i or carry:
            line = lines[first].lstrip()
            lines[first] = line.inserted(PAGE_BREAK * ((1 if i else 0) + carry), at=line.origin[0]) + line
        carry = 0
        marked.append(Traced.join("\n", lines))
    text = normalize_traced(Traced.join("\n", marked))
    pieces = text.split(PAGE_BREAK)
    starts, at = [0], 0
    for n, piece in enumerate(pieces):
        if n:
            starts.append(at)
        at += len(piece)
    starts.extend([at] * (len(pages) - len(starts)))  # blank pages at the end
    return Traced.join("", pieces), starts[:max(len(pages), 1)]


def normalize_text(raw: str) -> str:
    """Return the stored text for extracted ``raw`` text: one paragraph per line, no blank lines."""
    return normalize_traced(Traced.of(raw)).text


def normalize_traced(raw: Traced) -> Traced:
    """:func:`normalize_text` keeping, for every stored character, where it came from in ``raw``."""
    text = raw.sub(_CR, "\n").nfc()
    text = text.sub(_ZERO_WIDTH, "")
    text = text.translate(_FULLWIDTH_ALNUM)
    text = text.sub(_PINYIN_GLOSS, "")
    text = text.sub(_PUNCT_IN_CJK, lambda m: _ASCII_TO_FULL[m.group(0)])
    text = text.sub(_PAREN, _full_width_paren)
    text = text.sub(_MIXED_PAREN, lambda m: "（" if m.group(0) == "(" else m.group(1) + "）")
    lines = [line.sub(_HSPACE, " ").strip() for line in text.split("\n")]
    paragraphs = _join_wrapped_lines(lines)
    kept: list[Traced] = []
    marks = ""  # page-start markers of a dropped paragraph move to the next kept one
    for p in paragraphs:
        bare = p.text.replace(PAGE_BREAK, "")
        if not bare or is_boilerplate(bare):
            marks += PAGE_BREAK * p.text.count(PAGE_BREAK)
            continue
        kept.append(p.inserted(marks, at=p.origin[0]) + p if marks else p)
        marks = ""
    joined = Traced.join("\n", kept)
    return joined + joined.inserted(marks) if marks else joined


def is_boilerplate(line: str) -> bool:
    """True for web-page navigation, editor tags and disclaimers that carry no policy content."""
    return any(p.search(line) for p in _BOILERPLATE)


def _full_width_paren(m: re.Match[str]) -> str:
    inner = m.group(0)[1:-1]
    before = m.string[m.start() - 1] if m.start() > 0 else ""
    if _CJK_CHAR.search(inner) or (before and _CJK_CHAR.match(before)):
        return f"（{inner}）"
    return m.group(0)


_FULLWIDTH_ALNUM = {
    **{0xFF10 + i: 0x30 + i for i in range(10)},
    **{0xFF21 + i: 0x41 + i for i in range(26)},
    **{0xFF41 + i: 0x61 + i for i in range(26)},
    0xFF05: ord("%"),
    0xFF0E: ord("."),
}


#: A paragraph's first line is indented by two characters (首行缩进), which extraction strips (or,
#: in a scan, never reads): it reaches the wrap width two characters short.
_INDENT = 2
#: Punctuation no paragraph begins with (typesetting never starts a line with it; OCR does, when it
#: reads the end of a row as a box of its own): such a line continues the one before.
_CONTINUATION = re.compile("[，。、；：？！）」』”’,;:?!)]")


def _join_wrapped_lines(lines: list[Traced]) -> list[Traced]:
    """Re-join lines that a PDF, a scan or a hard-wrapping editor broke mid-sentence.

    A line is a wrap when the document shows a wrap width (several lines of nearly the same length),
    the line reaches it (a paragraph's first line two characters short, for its indent), does not
    end a sentence, and the next line is not a heading; a line that starts with a comma or a
    closing mark always continues the one before — except after a first line that ends in the name of a
    kind of document (…统计公报), which is the title. Blank lines always end a paragraph. Chinese needs no space at the join; Latin text gets one.
    """
    rows = [bool(TABLE_CELL_GAP.search(line.text)) for line in lines]
    width = _wrap_width([line.text for line, row in zip(lines, rows) if not row])
    out: list[Traced] = []
    joinable = False
    for traced, row in zip(lines, rows):
        line = traced.text
        if not line:
            out.append(traced)
            joinable = False
            continue
        continues = bool(_CONTINUATION.match(line.lstrip(PAGE_BREAK)))  # "，督促…" never starts a paragraph
        titled = len(out) == 1 and ends_in_document_kind(out[0].text)  # the title line ends in its kind
        if (joinable or continues) and not row and out and out[-1].text and not titled \
                and not HEADING_START.match(line.lstrip(PAGE_BREAK)):
            prev = out[-1].text
            # Latin words get a space at the join; a number wrapped inside Chinese text does not
            # ("挽回经济损失13" + "57万元" is 1357万元, not "13 57")
            digits = prev[-1].isdigit() and line[0].isdigit() and has_cjk(prev[-12:] + line[:12])
            sep = " " if prev[-1].isascii() and line[0].isascii() and prev[-1].isalnum() and not digits else ""
            out[-1] = out[-1] + out[-1].inserted(sep) + traced
            first = False
        else:
            out.append(traced)
            first = True
        joinable = (
            width is not None
            and not row
            and len(line) >= width - 2 - (_INDENT if first else 0)
            and line[-1] not in _SENTENCE_END
        )
    return out


def _wrap_width(lines: list[str]) -> int | None:
    """The line length a hard-wrapped document keeps hitting, or None if it is not wrapped."""
    lengths = Counter(len(line) for line in lines if len(line) >= 15)
    if not lengths:
        return None
    best, count = max(
        ((n, sum(lengths.get(m, 0) for m in (n - 1, n, n + 1))) for n in lengths),
        key=lambda pair: (pair[1], pair[0]),
    )
    total = sum(lengths.values())
    return best + 1 if count >= 2 and count >= 0.3 * total else None


@lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s.json")


def to_simplified(text: str) -> str:
    """Traditional → simplified with OpenCC (phrase-aware)."""
    return _t2s().convert(text)


@lru_cache(maxsize=1)
def _s2t():
    import opencc

    return opencc.OpenCC("s2tw.json")  # 為/裡/著 as traditional documents write them, not 爲/裏


def to_traditional(text: str) -> str:
    """Traditional characters as Taiwan writes them (answers to traditional questions)."""
    return _s2t().convert(text)


_KEY_FOLD = str.maketrans(
    {
        "，": ",", "。": ".", "：": ":", "；": ";", "？": "?", "！": "!", "（": "(", "）": ")",
        "「": "“", "」": "”", "『": "‘", "』": "’", "\u3000": " ",
        # document numbers: 〔2023〕 / （2023） / [2023] / ［2023］ / ﹝2023﹞ are the same number
        "〔": "(", "〕": ")", "[": "(", "]": ")", "［": "(", "］": ")", "﹝": "(", "﹞": ")",
    }
)


def search_key(text: str) -> str:
    """Simplified, width-folded, lower-cased form of ``text`` with the same length.

    Used for keyword indexing and for locating quotes: ``search_key(s)[i:j]`` corresponds to
    ``s[i:j]``. OpenCC may convert a phrase to a different length; then it falls back to converting
    character by character, which keeps the length.
    """
    folded = text.translate(_FULLWIDTH_ALNUM).translate(_KEY_FOLD).lower()
    simplified = to_simplified(folded)
    if len(simplified) != len(folded):
        simplified = "".join(c if len(s := to_simplified(c)) != 1 else s for c in folded)
    return simplified


def has_cjk(text: str) -> bool:
    return bool(_CJK_CHAR.search(text))


#: A sentence: up to and including its end mark (and a closing quote/bracket after it), or a line,
#: e.g. "共化解纠纷8850件。" / "（一）大力推进全面依法治市工作\n".
_SENT_END = re.compile(r"[^。！？；!?;\n]*(?:[。！？；!?;]+[”’」』）)]*|\n|$)")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Sentence spans of ``text``, stripped of surrounding whitespace."""
    spans = []
    for m in _SENT_END.finditer(text):
        s, e = m.start(), m.end()
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            spans.append((s, e))
    return spans
