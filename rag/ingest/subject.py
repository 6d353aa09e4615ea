"""What a document is about: its city, the organisation that speaks in it, its year.

The verifier reads this to keep facts with their place: a sentence that names no city ("全市共化解
纠纷8850件") speaks for its document's city, never for another. Derived here from the title and the
opening lines; a person can correct it (``policyqa subject``, ``PUT /v1/documents/{docid}/subject``),
and a JSONL record's own ``city``/``year`` fields win over what is derived.
"""

from __future__ import annotations

import re
from collections import Counter

from rag.text import place_names, search_key

#: A plausible year of a policy document, e.g. "2023" in "2023年" or in "rugao-2023.txt".
_YEAR = re.compile(r"(?<!\d)(19[5-9]\d|20[0-4]\d)(?!\d)")
#: The end of an organisation's name after its place, e.g. 如皋市"司法局", 天长市"人民政府".
_ORGANISATION = r"(?:人民政府|人民法院|人民检察院|[\u4e00-\u9fff]{1,6}?(?:局|委员会|办公室|法院|检察院|中心|厅))"
#: How far into a document its subject is looked for: titles and opening lines say who speaks.
_OPENING = 600


def derive_subject(docid: str, title: str, text: str) -> dict[str, str]:
    """``city`` (the place named most, at least twice), ``organisation`` (that city's body named
    first in the title or opening lines) and ``year`` (from the id, the title or the opening)."""
    out: dict[str, str] = {}
    if city := _city(title + "\n" + text):
        out["city"] = city
        if organisation := _organisation(city, title + "\n" + text[:_OPENING]):
            out["organisation"] = organisation
    if year := _year(docid, title, text):
        out["year"] = year
    return out


def _city(text: str) -> str | None:
    counts = Counter(place_names(text[:20000], suffixes="市"))
    if not counts:
        return None
    name, n = counts.most_common(1)[0]
    return name + "市" if n >= 2 else None


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
