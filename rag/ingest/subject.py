"""What a document is about: its place, the organisation that speaks in it, its year.

The verifier reads this to keep facts with their place: a sentence that names no place ("全区共化解
纠纷8850件") speaks for its document's place, never for another. The place is of any level (a
province, a city, a county, a district: rag.text.places) and is kept under the key ``city`` that
indexes, filters and people already use. Derived here from the title and the opening lines; a
person can correct it (``policyqa subject``, ``PUT /v1/documents/{docid}/subject``), and a JSONL
record's own ``city``/``year`` fields win over what is derived.
"""

from __future__ import annotations

import re
from collections import Counter

from rag.text import search_key
from rag.text.places import LEVELS, Mention, Place, places_in, repeated_short_names

#: A plausible year of a policy document, e.g. "2023" in "2023年" or in "rugao-2023.txt".
_YEAR = re.compile(r"(?<!\d)(19[5-9]\d|20[0-4]\d)(?!\d)")
#: The end of an organisation's name after its place, e.g. 如皋市"司法局", 天长市"人民政府".
_ORGANISATION = r"(?:人民政府|人民法院|人民检察院|[\u4e00-\u9fff]{1,6}?(?:局|委员会|办公室|法院|检察院|中心|厅))"
#: How far into a document its subject is looked for: titles and opening lines say who speaks.
_OPENING = 600


def derive_subject(docid: str, title: str, text: str) -> dict[str, str]:
    """``city`` (the place it is about, of any level: see _city), ``organisation`` (that place's
    body named first in the title or opening lines) and ``year`` (from the id, the title or the
    opening)."""
    out: dict[str, str] = {}
    if city := _city(title, text):
        out["city"] = city
        if organisation := _organisation(city, title + "\n" + text[:_OPENING]):
            out["organisation"] = organisation
    if year := _year(docid, title, text):
        out["year"] = year
    return out


def _city(title: str, text: str) -> str | None:
    """The place a document is about: the innermost place its title names (天津市南开区… → 南开区;
    a place inside a 《quoted title》 is another document's), else the innermost its front lines name
    (a work report titled only 政府工作报告 is given "——2023年4月25日在交城县第十七届人民代表大会…上",
    by "清水县人民政府县长…"), else the place its text names most (at least twice, or the only place it names: a 施政报告
    that names "香港" once and no other place is Hong Kong's) or a place inside
    that one named nearly as often (a district's report names its district more than its city), else
    the short name it repeats as a word of its own (大同 in "推动大同高质量发展", a text that never
    writes 大同市)."""
    salutation = title.rstrip().endswith((":", "："))  # "江苏省人民政府：" addresses, it does not name
    for lines in ("" if salutation else title, _front_lines(text)):
        named = [m for m in places_in(search_key(lines)) if not _in_book_title(lines, m)]
        if named:
            return _innermost(named[0].place, [m.place for m in named])
    key = search_key(text[:20000])
    mentions = places_in(key)
    counts = Counter(m.place for m in mentions)
    if not counts:
        repeated = repeated_short_names(key)
        return repeated.name if repeated else None
    top, n = counts.most_common(1)[0]
    if n < 2 and (len(counts) > 1 or _in_book_title(key, mentions[0])):
        return None  # several places each named once, or one in another document's title
    inner = [(c, p) for p, c in counts.items() if p.inside(top) and c * 2 >= n and c >= 2]
    return max(inner, key=lambda cp: (cp[0], LEVELS.index(cp[1].level)))[1].name if inner else top.name


#: Front lines: the short lines above a document's body (subtitle, speaker, issuer, dateline), at
#: most this many, each at most this long; the first long line is the body.
_FRONT_LINES, _FRONT_MAX = 4, 60


def _front_lines(text: str) -> str:
    lines = [line.strip() for line in text[:_OPENING].split("\n") if line.strip()]
    front = []
    for line in lines[:_FRONT_LINES]:
        if len(line) > _FRONT_MAX or line.endswith(("：", ":")):  # the body, or its salutation (各位代表：)
            break
        front.append(line)
    return "\n".join(front)


def _innermost(first: Place, places: list[Place]) -> str:
    """The deepest of ``places`` lying within ``first`` (天津市 then 南开区 → 南开区), else ``first``.
    A town named after it lies within it (鲤城区人民政府金龙街道办事处 → 金龙街道): the gazetteer
    holds no towns, and a town is only recognised after its county or before its own office."""
    inner = [p for p in places if p.inside(first) or (p.level == "town" and first.level != "town")]
    return max(inner, key=lambda p: LEVELS.index(p.level)).name if inner else first.name


def _in_book_title(text: str, mention: Mention) -> bool:
    return text.rfind("《", 0, mention.start) > text.rfind("》", 0, mention.start)


def _organisation(city: str, opening: str) -> str | None:
    """e.g. "2023年，如皋市司法局坚持…" → 如皋市司法局 (in the document's own script)."""
    key = search_key(opening)
    m = next((m for m in re.finditer(re.escape(search_key(city)) + _ORGANISATION, key)
              if key.rfind("《", 0, m.start()) <= key.rfind("》", 0, m.start())), None)  # not inside a 《title》
    if not m:
        return None
    return opening[m.start():m.end()] if len(key) == len(opening) else m.group(0)


def _year(docid: str, title: str, text: str) -> str | None:
    for source in (docid, title):
        if m := _YEAR.search(source):
            return m.group(1)
    years = Counter(_YEAR.findall(text[:300]))
    return years.most_common(1)[0][0] if years else None
