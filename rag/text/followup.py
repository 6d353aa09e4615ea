"""Follow-up questions made standalone from the conversation, by rules for the common Chinese forms.

Staff ask the way they talk: "苏州市2023年化解了多少件纠纷？" then "那太仓呢？", "2022年呢？",
"该市有多少名调解员？", "出处在哪一段？". Retrieval and the verifier need the question as it would
be asked alone; the rewritten question is shown to the user ("理解为：…") and is what the answer is
checked against. A question that names its own place is a new topic and is left as it is.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from rag.text.normalize import place_names, search_key, to_traditional
from rag.text.question import WHICH_CITY, analyze_question
from rag.text.words import posseg

#: An elliptical follow-up: a new place, year or topic and nothing else, e.g. "那太仓呢？",
#: "太仓市的呢", "2022年呢？", "换成常熟市呢", "那么如皋又如何？".
_ELLIPSIS = re.compile(r"^(?:那么?|那在|换成|改成|还有|再问一下)?(?P<x>[^，,。？?]{1,20}?)(?:的呢|呢|又如何|如何|怎么样|的情况呢)[？?。]*$")
#: A place referred to, not named, e.g. "该市", "这个城市", "当地", "这座城市".
_PLACE_PRONOUN = re.compile(r"该市|该县|该区|此市|本市|这个城市|这座城市|这个市|那个城市|当地|该地")
#: Asking where the previous answer came from, e.g. "出处在哪一段？", "原文在哪里？", "依据是什么？".
_ASKS_SOURCE = re.compile(r"^(?:那|请问)?(?:这个?|上述|刚才的?)?(?:答案|回答|数据|数字|说法)?的?(?:出处|来源|原文|依据|出自)"
                          r"(?:在哪|是什么|是哪|哪里|哪儿|哪一段|在哪一段|呢)?")
#: Asking which year the previous figure is from, e.g. "这是哪一年的数据？", "是哪年的？".
_ASKS_YEAR_OF = re.compile(r"^(?:这|那|这个|这些)?(?:是|指)?哪一?年的?(?:数据|数字|情况)?[？?。]*$")
#: Punctuation the search key folded to ASCII, back as a Chinese question writes it.
_FULL_WIDTH = str.maketrans({"?": "？", ",": "，", ";": "；", ":": "：", "!": "！", "(": "（", ")": "）"})
#: The place with its administrative suffix as a question writes it, e.g. "太仓市", "太仓".
_PLACE_SUFFIX = "市县区省"


@dataclass(frozen=True)
class Standalone:
    """A turn made standalone: ``question`` is what is answered; ``rewritten`` says whether it differs."""

    question: str
    rewritten: bool


def standalone_question(question: str, history: Sequence[str], answers: Sequence[str] = ()) -> Standalone:
    """``question`` as it would be asked alone, given the user's earlier questions in the
    conversation (as they asked them, oldest first; each is made standalone in turn) and, where
    known, the answers they got (``answers[i]`` answered ``history[i]``): after "哪个城市…？" the
    answer names the city that "该市" then means. Rules only: a question that inherits nothing is
    returned unchanged."""
    resolved: list[str] = []
    for i, turn in enumerate([*history, question]):
        current = _standalone(turn, resolved)
        answer = answers[i] if i < len(answers) else ""
        resolved.append(_with_answered_place(current.question, answer))
    return current


#: Words that point back into the conversation, e.g. "这个比例", "该数据", "其中", "上述", "同比呢".
_POINTS_BACK = re.compile(r"这|那|该|其|此|上述|前者|后者|同比|环比")


def depends_on_context(question: str) -> bool:
    """Whether a question the rules left unchanged still leans on the conversation: a bare "X呢",
    or words pointing back with no place of its own ("直接纠错率呢？", "这个比例是多少？")."""
    q = analyze_question(question)
    return q.elliptical or (not q.places and bool(_POINTS_BACK.search(q.key)))


def _with_answered_place(question: str, answer: str) -> str:
    """A which-place question as its answer settled it ("哪个城市打造了…" answered "天长市：…"
    → "天长市打造了…"), for the next turn to inherit from; any other question as it is."""
    q = analyze_question(question)
    if "place" not in q.kinds or q.places or not answer:
        return question
    names = Counter(place_names(search_key(answer)))
    if not names:
        return question
    city = names.most_common(1)[0][0] + "市"
    return WHICH_CITY.sub(city, question, count=1) if WHICH_CITY.search(question) else city + question


def _standalone(question: str, resolved: Sequence[str]) -> Standalone:
    text = question.strip()
    if not resolved or not text:
        return Standalone(text, False)
    previous = resolved[-1]
    out = _rewrite(text, previous, analyze_question(previous))
    if out is None or out == text:
        return Standalone(text, False)
    out = out.translate(_FULL_WIDTH)
    if analyze_question(text).traditional:
        out = to_traditional(out)
    return Standalone(out, True)


def _rewrite(text: str, previous: str, prev) -> str | None:
    key = search_key(text)
    if _ASKS_SOURCE.match(key) or _ASKS_YEAR_OF.match(key):
        # about the previous answer itself: the same question again (its citation shows the
        # paragraph; the year is in the cited sentence)
        return previous
    q = analyze_question(text)
    prev_key = search_key(previous)
    if (m := _ELLIPSIS.match(key)) and not q.kinds:
        x = m.group("x")
        xq = analyze_question(x)
        place = xq.places[0] if xq.places else _bare_place(x)
        rest = re.sub(r"(?:19|20)\d{2}年?", "", re.sub(re.escape(place) + f"[{_PLACE_SUFFIX}]?", "", x) if place else x)
        if (place or xq.years) and analyze_question(rest.strip("的 ")).content_words:
            return None  # "那太仓的法律顾问呢": a new topic too, which the previous question does not carry
        out = prev_key
        if place:
            out = _replace_places(out, prev.places, _place_as_written(x, place))
        if xq.years:
            out = _replace_years(out, prev, xq.years[0])
        if place or xq.years:
            return out
        return None  # a topic alone ("行政复议呢"): too open to guess
    if q.places or "place" in q.kinds:
        return None  # names its own place, or asks which place: a new question
    if _PLACE_PRONOUN.search(key) and prev.places:
        city = _place_in(prev_key, prev.places[0])
        out = _PLACE_PRONOUN.sub(city, key, count=1)
        return _with_year(out, q, prev)
    if prev.places and q.content_words:
        # the place (and year) of the conversation carry over to a question that names none
        city = _place_in(prev_key, prev.places[0])
        return _with_year(city + key, q, prev)
    return None


def _bare_place(x: str) -> str | None:
    """A place named without its suffix ("常熟", "如皋"): jieba reads "常熟市" as one place word, while
    a topic ("同比", "调解") stays apart from 市."""
    stem = re.sub(r"^(?:在|到)|[的]$", "", x)
    if 2 <= len(stem) <= 4 and len(posseg(stem + "市")) == 1:
        return stem
    return None


def _place_as_written(x: str, stem: str) -> str:
    """"太仓" → "太仓市" (questions about cities name them with 市), keeping a suffix the user wrote."""
    m = re.search(re.escape(stem) + f"[{_PLACE_SUFFIX}]?", x)
    written = m.group(0) if m else stem
    return written if written[-1] in _PLACE_SUFFIX else written + "市"


def _place_in(key: str, stem: str) -> str:
    m = re.search(re.escape(stem) + f"[{_PLACE_SUFFIX}]?", key)
    return m.group(0) if m else stem + "市"


def _replace_places(key: str, stems: Sequence[str], new: str) -> str:
    if not stems:
        return new + key
    pattern = "|".join(re.escape(s) + f"[{_PLACE_SUFFIX}]?" for s in stems)
    return re.sub(pattern, new, key, count=1)


def _replace_years(key: str, prev, year: str) -> str:
    if prev.years:
        return re.sub(re.escape(prev.years[0]) + "年?", year + "年", key, count=1)
    if prev.places:  # after the place: "苏州市化解…" → "苏州市2022年化解…"
        m = re.search(re.escape(prev.places[0]) + f"[{_PLACE_SUFFIX}]?", key)
        if m:
            return key[:m.end()] + year + "年" + key[m.end():]
    return year + "年" + key


def _with_year(key: str, q, prev) -> str:
    if q.years or not prev.years:
        return key
    return _replace_years(key, analyze_question(key), prev.years[0])
