"""Lines of a document's front and back matter that state facts: datelines, document numbers and
labelled fields.

Offices set them as short lines of their own ("京政办发〔2016〕26号", "2016年5月28日", "成文日期 2013-07-02",
"（2024年4月）", "江苏法制报2020年12月21日第4版"), which a layout rule takes for headings (short, no closing
punctuation, a longer line after). They are not: a heading names a section, these lines say when a
document was issued, under which number, where it was published — facts staff ask for
("这份通知是哪天印发的？"), so they are kept as text that is searched and quoted.
"""

from __future__ import annotations

import re

from rag.text.normalize import search_key

#: A document number as offices write it: 京政办发〔2016〕8号, 湘办发[2016]41号, 国办发（2016）19号,
#: 東府〔2021〕54號 (on a search key the brackets are folded to "(" / ")").
DOC_NUMBER = re.compile(r"[\u4e00-\u9fff]{1,12}[〔\[（(【［]\s*(?:19|20)\d{2}\s*[〕\]）)】］]\s*\d{1,4}\s*[号號]")
#: A full date a document is signed or published with: "2016年5月28日", "二〇〇四年四月三十日", "2023-02-08".
FULL_DATE = re.compile(r"(?:19|20)\d{2}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日"
                       r"|[〇○零一二三四五六七八九]{4}\s*年[一二三四五六七八九十]{1,2}月[一二三四五六七八九十]{1,3}日"
                       r"|(?:19|20)\d{2}[-/.]\d{1,2}[-/.]\d{1,2}")
#: The label a page puts before its date: "发布时间：", "印发日期:".
DATE_LABEL = re.compile(r"(?:发布|印发|成文|公布|更新)?(?:时间|日期)\s*[:：]?")
#: A month a bulletin is dated with, on a line of its own: "（2024年4月）", "2023年3月".
_MONTH_LINE = re.compile(r"[（(]?(?:(?:19|20)\d{2}|[〇○零一二三四五六七八九]{4})年(?:\d{1,2}|[一二三四五六七八九十]{1,2})月[）)]?")
#: Labels of the fields a government site lists above a document (on the simplified search key,
#: spaces removed: "索 引 号" is 索引号).
METADATA_LABELS = ("成文日期", "发布日期", "发布机构", "发布单位", "发文单位", "发文日期", "印发日期", "公布日期", "生效日期", "施行日期", "实施日期",
                   "发布时间", "索引号", "发文机关", "发文字号", "文号", "主题分类", "信息来源", "来源", "有效性",
                   "公开方式", "公开范围")


#: Verbs of issuing a document: what "什么时候印发的" asks, and what its own dateline says it was.
ISSUING_VERBS = ("发布", "印发", "公布", "发出", "出台", "下发", "签发")
#: What a document's own dateline or date field states besides the date: that it was issued,
#: signed (落款, 成文) or published on that day — the words a question about it asks with.
DATELINE_STATES = (*ISSUING_VERBS, "落款", "成文", "日期", "时间")
#: A page's counters set beside its date ("浏览次数：", "访问次数：123"): they state nothing.
PAGE_COUNTER = re.compile(r"(?:浏览|访问|点击|阅读)(?:次数|量|数)\s*[:：]?\s*\d*")

#: The longest line that is front matter: a sentence that mentions a date states something else.
_LINE_MAX = 40


def states_metadata(line: str) -> bool:
    """Whether a short line is a dateline, a document number or a labelled field (see the module
    docstring), not a heading."""
    key = re.sub(r"\s+", "", search_key(line))
    return len(key) <= _LINE_MAX and bool(FULL_DATE.search(key) or labels_document(line))


def labels_document(line: str) -> bool:
    """Whether a line only labels its document: a labelled field of the page (发布机构 …, 索引号 …) or
    a bare dateline or document number, with nothing else said."""
    key = re.sub(r"\s+", "", search_key(line)).strip("（）()—-。")
    return bool(FULL_DATE.fullmatch(key) or _MONTH_LINE.fullmatch(key) or DOC_NUMBER.fullmatch(key)
                or key.startswith(METADATA_LABELS))
