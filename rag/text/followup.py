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

from rag.text.doc_kinds import DOCUMENT_KINDS
from rag.text.normalize import search_key, to_traditional
from rag.text.places import Gazetteer, Mention, places_in
from rag.text.question import ASKS, WHICH_CITY, analyze_question, without_subject
from rag.text.words import posseg

#: An elliptical follow-up: a new place, year or topic and nothing else, e.g. "那太仓呢？",
#: "太仓市的呢", "2022年呢？", "换成常熟市呢", "那么如皋又如何？".
_ELLIPSIS = re.compile(r"^(?:那么?|那在|换成|改成|还有|再问一下)?(?P<x>[^，,。？?]{1,20}?)(?:的呢|呢|又如何|如何|怎么样|的情况呢)[？?。]*$")
#: A place referred to, not named, e.g. "该市", "这个城市", "当地", "这座城市", "这个街道", and "他们"
#: after a question about a place (its government: "他们2022年地区生产总值完成多少？").
_PLACE_PRONOUN = re.compile(r"该(?:市|县|区|省|自治区|州|旗|镇|乡|街道|地)|此市|本市|这个(?:城市|市|县|区|省|镇|乡|街道)|这座城市"
                            r"|那个城市|当地|[他她]们")
#: The thing the previous question was about, referred to: "这项工作", "该方案", "这份报告".
_THING_PRONOUN = re.compile(r"(?:这|那|该|此)(?:项|个|份|一)?(?:工作|方案|文件|报告|政策|措施|规定|办法|通知|计划|项目|活动|行动|任务)")
#: Of those, the ones naming a document: without a document named before, they mean the previous
#: answer's document, which the rules do not know (the place is carried, the pronoun left).
_DOCUMENT_NOUNS = ("方案", "文件", "报告", "规定", "办法", "通知", "计划")
#: A year named by where it stands from the one asked about: "上一年呢？" after a question about 2023.
_RELATIVE_YEAR = {w: -1 for w in ("上一年", "前一年", "上年", "去年", "头一年", "上一年度")} | {
    w: 1 for w in ("下一年", "后一年", "次年", "第二年", "下一年度")}
#: A person referred to, not named ("他", "她"): resolved only to the deliverer of a document the
#: previous question asked about; otherwise such a follow-up is left as it is.
_PERSON_PRONOUN = re.compile(r"[他她](?!们|人|国|乡|方)")
#: A follow-up about the person themself ("他是什么身份？", "她叫什么名字？"), not what they reported.
_ABOUT_THE_PERSON = re.compile(r"身份|职务|职位|名字|姓名|什么人|是谁|多大|年龄|哪里人|简历|籍贯|性别")
#: What a person said, right after the pronoun: "他说", "他提到", "她在报告中讲".
_SPEECH_VERB = re.compile(r"^(?:在报告(?:里|中))?(?:说|讲|提到|表示|指出|介绍)(?:了|过)?的?")
#: Asking where the previous answer came from, e.g. "出处在哪一段？", "原文在哪里？", "依据是什么？".
_ASKS_SOURCE = re.compile(r"^(?:那|请问)?(?:这个?|上述|刚才的?)?(?:答案|回答|数据|数字|说法)?的?(?:出处|来源|原文|依据|出自)"
                          r"(?:在哪|是什么|是哪|哪里|哪儿|哪一段|在哪一段|呢)?"
                          r"|^(?:那|请问)?(?:这|这个|这些|上述|刚才的?)?(?:是|出自|来自)?哪(?:个|份|一份|一个)?(?:文件|报告|材料|文档)"
                          r"(?:说的|里的|上的|中的|讲的|提到的)?")
#: Asking which year the previous figure is from, e.g. "这是哪一年的数据？", "是哪年的？".
_ASKS_YEAR_OF = re.compile(r"^(?:这|那|这个|这些)?(?:是|指)?哪一?年的?(?:数据|数字|情况)?[？?。]*$")
#: Punctuation the search key folded to ASCII, back as a Chinese question writes it.
_FULL_WIDTH = str.maketrans({"?": "？", ",": "，", ";": "；", ":": "：", "!": "！", "(": "（", ")": "）"})


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


def asks_source(question: str) -> bool:
    """Whether a turn asks where the previous answer came from ("出处在哪？", "这是哪个文件说的？")."""
    return bool(_ASKS_SOURCE.match(search_key(question.strip())))


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
    names = Counter(m.place.name for m in places_in(search_key(answer)))
    if not names:
        return question
    city = names.most_common(1)[0][0]
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
    prev_key = search_key(previous)
    own_place = bool(analyze_question(text).places)  # "清河这项任务…" names its own place: left as it is
    if not own_place and _THING_PRONOUN.search(key) and (named := _document_of(prev_key)):
        # "这项工作的职业技能培训目标呢？" after a question naming a plan: that plan, asked the same way
        out = _THING_PRONOUN.sub(lambda m: named, key, count=1)
        ask = ASKS.search(prev_key)
        return re.sub(r"(?:的)?呢[?？。]*$", "", out) + prev_key[ask.start():] if ask and _ELLIPSIS.match(key) else out
    if (not own_place and (m := _THING_PRONOUN.search(key)) and not m.group(0).endswith(_DOCUMENT_NOUNS) and prev.places
            and (about := _what_it_was_about(prev_key, prev))):
        # "这项政策实施期限到什么时候？" after "清水县…多少人以下的企业暂免征收某某费？": that policy
        city = _place_in(prev_key, prev.places[-1])
        return _with_year(city + key[:m.start()] + about + m.group(0)[-2:] + key[m.end():], analyze_question(text), prev)
    q = analyze_question(text)
    if (m := _ELLIPSIS.match(key)) and not q.kinds and (shift := _RELATIVE_YEAR.get(m.group("x").strip("的 "))):
        # "上一年呢？": the year before the one asked about (nothing to count from: left alone)
        return _replace_years(prev_key, prev, str(int(prev.years[0]) + shift)) if prev.years else None
    if (m := _ELLIPSIS.match(key)) and not q.kinds:
        x = m.group("x")
        xq = analyze_question(x)
        place = xq.places[0] if xq.places else _bare_place(x)
        rest = re.sub(r"(?:19|20)\d{2}年?", "", x.replace(_place_as_written(x, place), "").replace(place, "") if place else x)
        if (place or xq.years) and analyze_question(rest.strip("的 ")).content_words:
            return None  # "那太仓的法律顾问呢": a new topic too, which the previous question does not carry
        out = prev_key
        if place:
            out = _replace_places(out, prev.places, _place_as_written(x, place))
        if xq.years:
            out = _replace_years(out, prev, xq.years[0])
        if place or xq.years:
            return out
        return _same_ask(x, prev_key, prev)  # a topic alone ("城镇化率呢"): asked the same way, same place and year
    if q.places or "place" in q.kinds:
        return None  # names its own place, or asks which place: a new question
    if ((m := _PERSON_PRONOUN.search(key)) and prev.places and "person" in prev.kinds and not _ABOUT_THE_PERSON.search(key)
            and (named := _document_of(prev_key))):
        # "他说2022年城镇居民人均可支配收入是多少？" after "清水区2023年政府工作报告是谁作的？": the
        # person is the one who delivered that report, so what "he said" is what the report says
        rest = _SPEECH_VERB.sub("", key[m.end():], count=1)
        return key[:m.start()] + named + ("中" if rest and not rest.startswith(("是", "在")) else "") + rest
    if _PERSON_PRONOUN.search(key):
        return None  # "他是什么身份？": about a person the rules cannot name; never "某市他…"
    if _PLACE_PRONOUN.search(key) and prev.places:
        city = _place_in(prev_key, prev.places[-1])
        out = _PLACE_PRONOUN.sub(city, key, count=1)
        return _with_year(out, q, prev)
    if q.content_words and not _names_a_thing(key) and (topic := _topic_of(prev_key)):
        # "增长多少？" after "清水县2022年地区生产总值预计完成多少？": what the previous one counted
        return topic + key
    if prev.places and q.content_words:
        # the place (and year) of the conversation carry over to a question that names none
        city = _place_in(prev_key, prev.places[-1])
        return _with_year(city + key, q, prev)
    return None


def _names_a_thing(key: str) -> bool:
    """Whether a question names what it asks about, or only what happened to it: a short verb and
    the question word, nothing counted after it ("增长多少？", "比上年下降了多少", "占比多少")."""
    ask = ASKS.search(key)
    if ask is None or not _ASK_TAIL.fullmatch(key[ask.end():]) or len(key[:ask.start()]) > 8:
        return True
    return any(flag.startswith(("n", "j")) for _, flag in posseg(key[:ask.start()]))


#: What may follow the question word of a question naming no thing: a classifier, the end.
_ASK_TAIL = re.compile(r"(?:少)?[个项件名次条家批人户元份类期所座倍天亿万%]?[?？。!！]*")


def _topic_of(prev_key: str) -> str | None:
    """What the previous question was about: its words before its question word, less the verbs
    and particles that asked it ("清水县2022年地区生产总值预计完成|多少" → "清水县2022年地区生产总值")."""
    ask = ASKS.search(prev_key)
    words = posseg(prev_key[:ask.start()] if ask else prev_key)
    while words and not words[-1][1].startswith(("n", "j")):
        words.pop()
    topic = "".join(w for w, _ in words)
    return topic if len(topic) >= 4 else None


def _what_it_was_about(prev_key: str, prev) -> str | None:
    """What the previous question asked something of, without its place, year and question: the
    longer of its clause before the question word and its clause after it ("清水县在职职工总数|多少人
    以下的|企业暂免征收某某费" → "企业暂免征收某某费")."""
    ask = ASKS.search(prev_key)
    if ask is None:
        return None
    before = without_subject(prev_key[:ask.start()], prev.subject_terms, "")
    after = _ASK_REST.sub("", prev_key[ask.end():]).rstrip("?？。")
    before = re.sub(r"(?:是|有|为|共|一共|达到|达)+$", "", before)  # "…保障金|是|多少"
    about = max((before.strip("的 ，,"), after.strip("的 ，,")), key=len)
    return about if len(about) >= 4 else None


#: What follows a question word before what it asks of: "多少|人以下的企业…", "几|项"…
_ASK_REST = re.compile(r"^(?:少)?[个项件名次条家批人户元份类期所座倍天场起宗位种]?(?:[(（]含[)）])?(?:以下|以上|以内|之内|左右)?的?")


def _document_of(prev_key: str) -> str | None:
    """The document the previous question named, with its place: "清水县促进残疾人就业行动实施方案"."""
    m = _NAMED_DOCUMENT.search(prev_key)
    return m.group(0) if m else None


#: A document named in a question: words up to the name of its kind (see rag.text.doc_kinds).
_NAMED_DOCUMENT = re.compile(f"[^，,。？?；;：:]{{2,40}}?(?:{'|'.join(DOCUMENT_KINDS)})")


def _same_ask(topic: str, prev_key: str, prev) -> str | None:
    """"城镇化率呢？" after "云和县2022年末常住人口是多少？": the topic asked as the previous question
    asked, of its place and year ("云和县2022年城镇化率是多少？"); a rate is asked "是多少", whatever
    the unit before. Without a place to keep it is too open to guess."""
    ask = ASKS.search(prev_key)
    if not prev.places or ask is None or _POINTS_BACK.search(topic):
        return None  # "同比呢", "这个比例呢" point back at the previous figure: not a topic of their own
    tail = "是多少?" if re.search(r"(?:率|比例|比重|占比)$", topic) else prev_key[ask.start():]
    year = f"{prev.years[0]}年" if prev.years else ""
    return _place_in(prev_key, prev.places[-1]) + year + topic.strip("的 ") + tail


def _bare_place(x: str) -> str | None:
    """A place named without its level word ("常熟", "静海", "内蒙古"): a short name in the gazetteer,
    while a topic ("同比", "调解") is none."""
    stem = re.sub(r"^(?:在|到)|[的]$", "", x)
    return stem if 2 <= len(stem) <= 8 and Gazetteer.load().get(stem) else None


def _whole(mention: Mention) -> str:
    """A place as a standalone question names it: whole (太仓 → 太仓市, 静海 → 静海区)."""
    return mention.written if mention.written == mention.place.name else mention.place.name


def _place_as_written(x: str, stem: str) -> str:
    """"太仓" → "太仓市", "静海" → "静海区": questions name places whole; a level word the user
    wrote is kept."""
    return _place_in(search_key(x), stem)


def _place_in(key: str, stem: str) -> str:
    m = next((m for m in places_in(key, question=True) if stem in (m.place.short, m.written)), None)
    if m is not None:
        return _whole(m)
    places = Gazetteer.load().get(stem)
    return places[0].name if places else stem


def _replace_places(key: str, stems: Sequence[str], new: str) -> str:
    m = next((m for m in places_in(key, question=True) if m.place.short in stems or m.written in stems), None)
    if m is not None:
        return key[:m.start] + new + key[m.end:]
    if _PLACE_PRONOUN.search(key):  # "该市全年共制定…" then "那太仓呢？": 太仓 is what 该市 was
        return _PLACE_PRONOUN.sub(new, key, count=1)
    return new + key


def _replace_years(key: str, prev, year: str) -> str:
    if prev.years:
        return re.sub(re.escape(prev.years[0]) + "年?", year + "年", key, count=1)
    if prev.places:  # after the place: "苏州市化解…" → "苏州市2022年化解…"
        m = next((m for m in places_in(key, question=True) if m.place.short == prev.places[-1]), None)
        if m:
            return key[:m.end] + year + "年" + key[m.end:]
    return year + "年" + key


def _with_year(key: str, q, prev) -> str:
    if q.years or not prev.years:
        return key
    return _replace_years(key, analyze_question(key), prev.years[0])
