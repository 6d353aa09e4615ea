"""Question analysis, done once per question: what it is about and what kind of answer it wants.

The verifier is strict about meaning through this record: a how-many question needs a count of the
asked thing, a who question a person in the asked role, a question about 天长 a sentence that speaks
for 天长. Everything here reads the search key (simplified, folded widths), so traditional input
is analysed the same way as simplified.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.models import AnswerKind, Question
from rag.text.frontmatter import DOC_NUMBER
from rag.text.measures import measure_of
from rag.text.normalize import search_key, to_simplified
from rag.text.places import LEVEL_AFTER_NAME, lies_within, places_in
from rag.text.words import posseg, tokenize
from rag.text.written_as import ASKED_PHRASES

#: A year the question names, e.g. "2023年", "2023" at the end.
_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?:年|$|\D)")

#: Words of how people ask, not of what the documents must say ("获得过什么荣誉" is answered by
#: "被评为…示范市"; "一共有几个" by "已建立…506个"); the answer kind checks the substance.
PHRASING_WORDS = frozenset(
    "何时 什么 多少 哪 哪些 哪个 哪里 哪年 哪天 谁 怎样 如何 是否 什么时候 几 多 吗 呢 请问 有 哪位 为什么 怎么 具体 "
    "主要 情况 内容 方面 包括 年度 时候 时间 一下 介绍 方面 工作 "
    "获得 获评 荣获 被评为 评为 称号 荣誉 名称 名字 叫 叫做 一共 总共 共计 合计 现在 目前 分别 到底 大约 大概 定下 "
    "达到 达 是 了 的 过 多长时间 多长 长时间 多久 要花 花多少 多少钱 要多少 需要 要 控制 "
    "文号 发文字号 文件编号 文件号 日期 这份 这个 这项 这些 这次 那个 那份 该 有何 何种 哪种 作出 做出 针对".split()
)

#: Names a question quotes, e.g. “亭满意”, 「…」, 《…》: the very thing asked about.
QUOTED = re.compile(r"“([^”]{2,30})”|「([^」]{2,30})」|《([^》]{2,60})》|\"([^\"]{2,30})\"")
#: A figure the question itself states, e.g. "出具知识产权类公证书360件", "满意率达到99.25%": not a year.
_STATED_FIGURE = re.compile(r"(?<![\d.])\d+(?:\.\d+)?\s*(?:[%％]|[个项件名次条家批人户元份类期所座倍天])")
#: A date (with its month) that a question states, e.g. "在2020年8月获得了什么称号", "截至11月".
_STATED_DATE = re.compile(r"(?:\d{4}年)?(?<!\d)\d{1,2}月(?:\d{1,2}日)?")
#: An ordinal the question states, e.g. "获评第二批“国际湿地城市”", "第三届": another batch is another fact.
_STATED_ORDINAL = re.compile(r"第(?:[二三四五六七八九十]+|[2-9]|\d{2,})[批届轮期]")
#: A word that makes a clause ask something ("A多少件，B多少份？" asks twice).
ASKS = re.compile(r"多少|几|什么|何时|哪|谁|怎样|如何|是否")
#: Not a question on its own: a name and "呢", e.g. "那常熟呢？", "2022年的呢" (a follow-up).
_ELLIPTICAL = re.compile(r"^(?:那么?|还有)?[^，,。？?]{1,12}?(?:的)?呢[？?。]*$")

# -- answer kinds (on the search key) -------------------------------------------------------------
#: e.g. "多少件", "几个", "比例", "多长时间" (not "哪几个部门": which ones, not how many).
_ASKS_NUMBER = re.compile(r"多少|(?<!哪)几[个项件名次条家批类份期人]|比例|百分|数量|金额|人数|规模|多大|多长|多高|多久")
#: e.g. "满意率是多少", "占比多少", "覆盖率有多高".
_ASKS_RATE = re.compile(r"(?:率|比例|比重|占比|百分比)[^，,；;？?]{0,6}(?:多少|几|多高|多大)")
#: e.g. "何时", "哪一年", "几月".
_ASKS_DATE = re.compile(r"何时|什么时候|什么时间|哪一?年|哪个(?:财政)?年度|哪个年份|什么年份|哪一?天|几月|哪个月|日期")
#: e.g. "谁", "哪位", "姓名".
_ASKS_PERSON = re.compile(r"谁|哪位|什么人|姓名|(?:长|书记|主任|主席|他|她|人)的?(?:叫什么)?名字|(?:长|书记|主任|主席)叫什么")
#: The words asking which city, e.g. "哪个城市", "哪座城市", "哪个市" (its answer names the city).
WHICH_CITY = re.compile(r"哪(?:个|座|一个)?(?:城市|市|县级市|县|区|省|自治区|州|旗|镇|乡|街道)")
#: e.g. "牵头的是哪个部门", "责任单位是", "由哪些单位负责": a body answers it, not a person or a deed.
_ASKS_BODY = re.compile(r"哪(?:个|些|几个|一个|家)?(?:部门|单位|机构|机关)"
                        r"|(?:牵头|责任|主管|负责|主办|承办|实施)(?:单位|部门)(?:是|为|有)(?:哪|什么|谁|[？?]|$)")
#: e.g. "哪个城市", "哪个省", "哪里".
_ASKS_PLACE = re.compile(rf"{WHICH_CITY.pattern}|哪(?:个|座|一个)?(?:地方|地区)|哪里|何地")
#: e.g. "获得过什么荣誉", "被评为什么", and "何时被评为…示范市" (a when-question about an honour:
#: the answer must confer it, not merely mention the words of its title).
_ASKS_HONOUR = re.compile(r"什么(?:荣誉|称号|奖项|表彰)|哪些(?:荣誉|称号|奖项)|(?:获得|荣获|获评|评为)(?:过|了)?(?:什么|哪些)"
                          r"|被评为|获评|荣获|评为|授予|命名为")
#: e.g. "品牌是什么", "叫什么".
_ASKS_NAME = re.compile(r"(?:品牌|名称|名字|口号|目标|理念)(?:是|叫)(?:什么|啥)|叫(?:什么|啥)")
#: e.g. "采取了哪些措施", "有哪些做法", "主要做了什么工作", "设立了哪几个协调小组" (which ones: their
#: names, not how many).
_ASKS_LIST = re.compile(r"(?:哪些|什么)(?:措施|举措|做法|方面|经验|机制|制度|办法|创新|亮点|工作)|(?:采取|做)了?哪些"
                        r"|哪几[个项类种家条]|哪些(?!年|天|月|时候|地方|城市|省|市|县|区)[\u4e00-\u9fff]")
#: e.g. "文号是什么", "发文字号", "文件编号" (京政办发〔2016〕8号 answers it, the title does not).
_ASKS_DOCNO = re.compile(r"文号|发文字号|文件编号|文件号")
#: e.g. "是否", "…了吗？", "有没有".
_ASKS_YESNO = re.compile(r"是否|是不是|有没有|吗[？?]?$")
#: Roles a person question may ask for ("市委书记是谁") or be answered with ("省委书记为天长市颁发了奖牌").
ROLE = re.compile(r"(?:省委|市委|县委|区委|党委|党组|人大|政协)?副?(?:书记|省长|市长|县长|区长|局长|厅长|部长|"
                  r"主任|院长|检察长|主席|秘书长|处长|科长|所长|镇长|乡长|委员(?!会))")
#: The national leaders a report names in its political formulas ("以习近平新时代中国特色社会主义思想为
#: 指导", "习近平总书记系列重要讲话精神"): nobody who did what a local who-question asks about.
POLITICAL_FORMULA = re.compile(r"(?:马克思|列宁|毛泽东|邓小平|江泽民|胡锦涛|习近平)(?:同志)?(?:新时代[^，。；]{0,12}思想|思想|理论"
                               r"|为核心的党中央|总书记[^，。；]{0,24}?(?:讲话|指示|论述|批示|精神|嘱托|要求|部署))")
#: "多少名" → 名: the counting classifier asked for.
_COUNT_OF = re.compile(r"(?:多少|(?<!哪)几)([人名位件起宗个项次场份条家户类种期批元])")
#: A threshold right after the asked unit: "多少人以下", "几天以内", "多少万元以上".
_THRESHOLD = re.compile(r"(?:（含）|\(含\))?(?:以下|以上|以内|之内|左右)")
#: What a count question counts: the words right after "多少个" ("多少个调解组织" -> 调解组织).
_COUNTED_NOUN = re.compile(r"[\u4e00-\u9fff“”]{2,12}?(?=[的是有和、，,？?吗呢]|$)")
#: An administrative level: 市级, 镇一级, 县级市, 街道级 (a figure of one level is no answer for another).
ADMIN_LEVEL = re.compile(r"(省|市|县|区|镇|乡|村|街道)一?级")
#: Parts of speech that head a counted noun phrase (nouns, abbreviations, idioms, verbal nouns), and
#: those that end it (prepositions, particles, pronouns: the predicate follows).
_NOUN = re.compile(r"n[a-z]?$|j$|l$|vn$")
_PHRASE_ENDS = frozenset("p c u uj ul uz ug uv y r vd f".split())
#: Where what a question says of the counted thing begins: a preposition or a locative (会议上, 在…中).
_PREDICATE_STARTS = frozenset("p f".split())
_CLAUSE_END = re.compile(r"[，,；;。？?！!吗呢]")
#: The last word of a body's name, e.g. 司法"局", 诉前调解"中心", 人民"法院".
_ORGANISATION_END = re.compile(r"(?:局|法院|检察院|中心|委员会|办公室|厅|政府|党委|人大|政协)$")
#: Parts of speech a body's name is built from (nouns, places, verbal nouns: 诉前/调解/中心).
_NAME_PARTS = frozenset("n nz ns nt vn j".split())


def analyze_question(text: str) -> Question:
    """The typed analysis of ``text``; a compound question ("A多少件，B多少份？") also gets its parts,
    each analysed alone but about the same places and years as the whole."""
    whole = _analyze(text)
    items = _distributed(text)
    parts = _split(text) if not items else [p for p, _ in items]
    if len(parts) < 2:
        return whole
    analysed = tuple(_analyze(p, inherit=whole) for p in parts)
    if items:
        analysed = tuple(a.model_copy(update={"item": search_key(i)}) for a, (_, i) in zip(analysed, items))
    return whole.model_copy(update={"parts": analysed})


def _analyze(text: str, inherit: Question | None = None) -> Question:
    key = search_key(text)
    named, years = _places(key), _years(key)
    places = _innermost(named)
    if inherit is not None:
        places, years = places or inherit.places, years or inherit.years
    words, phrasing = _words(key, named + years)
    unit = _COUNT_OF.search(key)
    counted, predicate = _counted_noun(key, unit) if unit else ("", ())
    phrase = _counted_before(key, unit) if unit and not counted else ""
    return Question(
        text=text,
        key=key,
        traditional=to_simplified(text) != text,
        places=places,
        years=years,
        organisations=_organisations(key),
        kinds=_kinds(key),
        unit=unit.group(1) if unit else "",
        measure=_measure(key) if not unit else "",
        counted=counted,
        counted_phrase=phrase,
        predicate=predicate,
        roles=tuple(dict.fromkeys(m.group(0) for m in ROLE.finditer(key))),
        levels=tuple(dict.fromkeys(m.group(1) for m in ADMIN_LEVEL.finditer(key))),
        quoted=tuple(next(g for g in m.groups() if g) for m in QUOTED.finditer(text))
        + tuple(_issued_as(text, m) for m in DOC_NUMBER.finditer(key)),
        stated=tuple(m.group(0) for pattern in (_STATED_FIGURE, _STATED_DATE, _STATED_ORDINAL) for m in pattern.finditer(key)),
        content_words=words,
        phrasing_words=phrasing,
        elliptical=bool(_ELLIPTICAL.match(key)) and not ASKS.search(key),
    )


def _issued_as(text: str, m: re.Match) -> str:
    """A document number the question names, as its document must hold it: from the last three
    characters of the issuer's abbreviation ("清水县清府办发〔2008〕5号" → "府办发〔2008〕5号"; where the
    abbreviation begins is not written)."""
    bracket = next(i for i in range(m.start(), m.end()) if not "\u4e00" <= text[i] <= "\u9fff")
    return text[max(m.start(), bracket - 3):m.end()]


def _places(key: str) -> tuple[str, ...]:
    """The places named, of any level, by their short names (天长市 → 天长, 内蒙古自治区 → 内蒙古,
    赵县 stays 赵县), in order: see rag.text.places."""
    return tuple(dict.fromkeys(m.place.short for m in places_in(key, question=True)))


def _organisations(key: str) -> tuple[str, ...]:
    """Bodies the question names: jieba's organisation words, and noun runs ending in 局/中心/法院…"""
    words = posseg(key)
    found = []
    for i, (word, flag) in enumerate(words):
        if flag == "nt" or (_ORGANISATION_END.search(word) and flag in _NAME_PARTS):
            j = i
            while (j > 0 and i - j < 3 and (words[j - 1][1] in _NAME_PARTS or words[j - 1][1].startswith("v"))
                   and sum(len(w) for w, _ in words[j - 1:i + 1]) <= 10):
                j -= 1
            found.append("".join(w for w, _ in words[j:i + 1]))
    return tuple(dict.fromkeys(found))


def _innermost(places: tuple[str, ...]) -> tuple[str, ...]:
    """The places asked about: a place that holds another one named ("自贡市大安区") is only the
    address of the inner one, which a district's document need not repeat."""
    return tuple(p for p in places if not any(q != p and lies_within(q, p) for q in places))


#: A year in Chinese numerals, as 施政报告 and official dates write it: "二零一五年", "二〇二三年".
_CHINESE_YEAR = re.compile(r"([〇○零一二三四五六七八九]{4})年")
_CHINESE_DIGITS = str.maketrans("〇○零一二三四五六七八九", "00012345678" + "9")


#: A span of years in brackets, as a plan's name gives its period: "实施方案（2023—2025年）".
_YEAR_SPAN = re.compile(r"[(（]\s*(?:19|20)\d{2}\s*年?\s*[—–\-~～至到]+\s*(?:19|20)\d{2}\s*年?\s*[)）]")


def _years(key: str) -> tuple[str, ...]:
    """The years asked about. A year inside a document number (清政发〔2014〕2号) or a plan's
    bracketed period names that document or plan, it does not ask about that year: the
    question "按清政发〔2014〕2号，哪一年要完成…" is answered by the sentence stating 2016."""
    key = _YEAR_SPAN.sub(lambda m: " " * len(m.group(0)), DOC_NUMBER.sub(lambda m: " " * len(m.group(0)), key))
    written = {m.group(1).translate(_CHINESE_DIGITS) for m in _CHINESE_YEAR.finditer(key)}
    return tuple(sorted({m.group(1) for m in _YEAR.finditer(key)} | {y for y in written if y[:2] in ("19", "20")}))


def _words(key: str, subject: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Content words (what the question asks about beyond its subject) and phrasing words. Single
    characters count only when nothing longer is left (classifiers like 年/件 are covered by the
    answer kind), unless one names a thing (梨, 猪, 电: "梨的产量" is not any 产量). An everyday wording the lexicon knows ("找到工作", rag/text/written_as.py) is one
    word whatever jieba cuts it into: coverage counts its characters by the wording as a whole."""
    key = without_subject(key, subject, " ")
    key = _ASKING_SPAN.sub(" ", DOC_NUMBER.sub(" ", key))  # a document number names its document (see quoted)
    tokens = [w for w in tokenize(key) if not w.isdigit()] + [p for p in ASKED_PHRASES if p in key]
    words = [w for w in tokens if not _phrasing(w)]
    things = {w for w, flag in posseg(key) if len(w) == 1 and flag == "n" and w not in _GENERIC_CHARACTERS}
    longer = [w for w in words if len(w) > 1 or w in things]
    phrasing = [w for w in tokens if _phrasing(w)]
    return tuple(dict.fromkeys(longer or words)), tuple(dict.fromkeys(phrasing))


#: Single-character nouns that name no particular thing: a level, a person in general, an item.
_GENERIC_CHARACTERS = frozenset("人 市 区 省 县 镇 乡 村 项 钱 事 家 国 党 年 月 日 天 面 点 部 局 委 处 会".split())


def without_subject(key: str, terms: tuple[str, ...], by: str) -> str:
    """``key`` with each subject term (a place's short name, a year) and its level or 年 after it
    replaced ``by`` (自治区 after 内蒙古, 维吾尔自治区 after 新疆, 街道 after a sub-district's name):
    what is asked beyond the place and year."""
    for term in terms:
        key = re.sub(re.escape(search_key(term)) + f"(?:{LEVEL_AFTER_NAME}|年)?", by, key)
    return key


#: How a question asks for a year, a day, an item (哪一年, 哪一天, 哪个月, 哪几项): jieba cuts "一年",
#: "一天" out of them, which no answer need contain.
_ASKING_SPAN = re.compile(r"哪[一几]?[年天日月个位家项次种类条件]|几月几[日号]|几月|几号")


def _phrasing(word: str) -> bool:
    """A phrasing word, a question word fused with its classifier by jieba (几人, 多少件, 哪几个), or a
    phrasing word with one character of its neighbour glued on (败诉率控制 → 率控制)."""
    return (word in PHRASING_WORDS or bool(re.fullmatch(r"(?:哪几|几|多少)[\u4e00-\u9fff]?", word))
            or (len(word) >= 3 and (word[1:] in PHRASING_WORDS or word[:-1] in PHRASING_WORDS)))


#: Words between what a question asks about and its question word: "常住人口(一共)有多少".
_BEFORE_ASK = re.compile(r"(?:是|有|为|共|一共|总共|合计|达到|达|约|大约)*$")
#: A change asked about: "增长多少" is answered by a percentage as well as by an amount.
_CHANGE = re.compile(r"(?:增长|下降|增加|减少|提高|降低|上涨|上升|回落|变化|增幅|降幅)")


def _measure(key: str) -> str:
    """What the figure asked for measures, from the noun right before "是多少"/"有多少" (see
    rag.text.measures), "" when no measure is known or a change or a rate is asked."""
    ask = re.search(r"多少|几", key)
    if ask is None or _CHANGE.search(key) or _ASKS_RATE.search(key):
        return ""
    after = re.match(r"[\u4e00-\u9fff]{2,8}?(?=[？?，,。的]|$)", key[ask.end():])  # "安排了多少专项资金？"
    measure = measure_of(_BEFORE_ASK.sub("", key[:ask.start()])) or (measure_of(after.group(0)) if after else None)
    return measure.name if measure else ""


@dataclass(frozen=True)
class KindRule:
    """One answer kind: the words that ask for it (on the search key) and questions that do; the
    checks of what answers it are rag.answer.verify.KIND_CHECKS. The examples are the unit tests."""

    kind: AnswerKind
    asks: re.Pattern
    examples: tuple[str, ...]


#: Every answer kind a question may ask for, in the order Question.kinds lists them.
ANSWER_KINDS: tuple[KindRule, ...] = (
    KindRule("count", _ASKS_NUMBER, ("清水县2022年化解纠纷多少件？", "清水县有几个调解组织？", "企业开办要多长时间？")),
    KindRule("rate", _ASKS_RATE, ("清水县行政复议纠错率是多少？", "清水县城镇人口占比多少？")),
    KindRule("date", _ASKS_DATE, ("清水县何时被评为示范县？", "清水县哪一年建成法治广场？", "这份通知的印发日期是？")),
    KindRule("person", _ASKS_PERSON, ("清水县县长是谁？", "哪位副县长分管司法工作？", "清水县县长叫什么名字？")),
    KindRule("body", _ASKS_BODY, ("清水县推进法治广场建设，牵头的是哪个部门？", "这项工作的责任单位是？")),
    KindRule("honour", _ASKS_HONOUR, ("清水县获得过什么荣誉？", "清水县何时被评为示范县？")),
    KindRule("name", _ASKS_NAME, ("清水县的营商环境品牌是什么？", "这个平台叫什么？")),
    KindRule("place", _ASKS_PLACE, ("哪个县开展了56场送法进村活动？", "哪个区的纠错率最高？")),
    KindRule("list", _ASKS_LIST, ("清水县采取了哪些措施？", "该通知由哪几个部门联合发布？", "清水县把哪些法律列为学法重点？")),
    KindRule("yesno", _ASKS_YESNO, ("清水县是否实现了企业开办0费用？", "清水县建成法治广场了吗？")),
    KindRule("docno", _ASKS_DOCNO, ("清水县实施方案的文号是什么？", "这份通知的发文字号是？")),
)


def _kinds(key: str) -> tuple[AnswerKind, ...]:
    return tuple(rule.kind for rule in ANSWER_KINDS if rule.asks.search(key))


def _counted_noun(key: str, unit: re.Match) -> tuple[str, tuple[str, ...]]:
    """The head of what is counted and the content words of what the question says of it.

    Chinese noun phrases end in their head (行政执法案卷 → 案卷), after any modifier joined by 的
    (多少件市政府和市政府办公室的规范性文件 → 文件); a verb right before a noun modifies it
    (调解人员 → 人员); the predicate begins with the first other verb, preposition or particle
    (多少个重大行政决策事项放到网上运行了 → 事项, (放到, 网上, 运行))."""
    clause = _CLAUSE_END.split(key[unit.end():], maxsplit=1)[0]
    if _THRESHOLD.match(clause):
        return "", ()  # "多少人以下的企业": a threshold in the unit itself, not a count of what follows
    # a modifier joined by 的 belongs to the phrase only before the predicate: in "第几次常务会议上…学习
    # 党的十九大精神的" the 的 are the predicate's, and the phrase is 常务会议
    words = posseg(clause)
    cut = next((i for i, (word, flag) in enumerate(words) if flag in _PREDICATE_STARTS or (
        flag == "v" and not _NOUN.match(words[i + 1][1] if i + 1 < len(words) else ""))), len(words))
    words = posseg("".join(w for w, _ in words[:cut]).rsplit("的", 1)[-1]) + words[cut:]
    head, end = "", len(words)
    for i, (word, flag) in enumerate(words):
        following = words[i + 1][1] if i + 1 < len(words) else ""
        if flag in _PHRASE_ENDS or (flag == "v" and not _NOUN.match(following)):
            end = i
            break
        if _NOUN.match(flag) and word not in PHRASING_WORDS:
            head = word
    predicate = tuple(w for w, _ in words[end:] if len(w) > 1 and not _phrasing(w) and not w.isdigit())
    if not head and end == 0 and unit.group(1) in "人名位":
        return "", predicate  # "多少人考过了…": the classifier counts the people, a verb follows
    if not head:  # no noun jieba recognises ("调解组织" is tagged a verb): the run up to a stop word
        m = _COUNTED_NOUN.match(key, unit.end())
        head = m.group(0) if m else ""
    return head.strip("“”")[-2:], predicate


#: Words between what is counted and the count: "…文件有几件", "…干警共有几名".
_COPULA = frozenset("有 共有 共 一共 总共 合计 共计 是 为".split())
_PHRASE_NOUN = frozenset("n nz vn j l ng".split())


def _counted_before(key: str, unit: re.Match) -> str:
    """The noun phrase right before the count when nothing after it names what is counted
    ("全年共制定市政府行政规范性文件多少件" → 市政府行政规范性文件; "在编在职干警共有几名" → 干警)."""
    words = posseg(_CLAUSE_END.split(key[:unit.start()])[-1])
    while words and words[-1][0] in _COPULA:
        words.pop()
    run: list[str] = []
    while words and words[-1][1] in _PHRASE_NOUN and words[-1][0] not in PHRASING_WORDS:
        run.insert(0, words.pop()[0])
    phrase = "".join(run)
    if unit.group(1) in "人名位" and not re.search(r"[员警师生者户工]$", phrase):
        return ""  # "行政执法证考试有多少人通过": people are counted, the phrase is the topic
    return phrase if len(phrase) >= 2 else ""


def _split(text: str) -> list[str]:
    """Clauses of a compound question, when at least two of them ask something of their own."""
    parts = [p for p in re.split(r"[，,；;]|(?<=[？?])", text) if p.strip()]
    if len(parts) < 2 or sum(bool(ASKS.search(search_key(p))) for p in parts) < 2:
        return [text]
    return parts


#: Items joined by 、/和/与/及 right before 分别/各: "第一、第二、第三产业增加值分别是多少" asks three figures,
#: "城镇和农村居民人均可支配收入分别是多少" two, "常住人口和户籍人口分别是多少" two.
_ENUMERATION = re.compile(r"((?:[\u4e00-\u9fff]+[、和与及])+)([\u4e00-\u9fff]+?)的?(?:分别|各自|各)")


def _distributed(text: str) -> list[tuple[str, str]]:
    """One question per item of an enumeration before 分别 ("第一、第二、第三产业增加值分别是多少" →
    "第一产业增加值是多少", …), each with its item: each item is a fact of its own that an answer must
    give, in a sentence that names the item.

    Where the items end is read from the last run (before 分别) against the first item, the jieba word
    before the first separator: a last run that ends like the first holds whole items ("户籍人口" after
    "常住人口"), as does one of that word's length ("出口" after "进口"); a longer one starts with an item
    and shares what follows, at least a word ("第三|产业增加值" after "第二"), or, short, ends at 的
    ("梨|的产量"; items of phrases, "新增残疾人就业和开展培训的目标", are not split). Middle items must be of the same length,
    or nothing is distributed."""
    m = _ENUMERATION.search(text)
    if not m:
        return []
    runs = re.split(r"[、和与及]", m.group(1))[:-1]
    last = m.group(2)
    first_word = [w for w, _ in posseg(runs[0])][-1]
    middle = runs[1:]
    cut = last.find("的", 1)
    if 0 < cut <= 4 and len(first_word) <= 4:  # "苹果和梨的产量": a short last item ends at 的
        items, shared = [first_word, *middle, last[:cut]], last[cut:]
        before = text[:m.start()] + runs[0][:-len(first_word)]
        return [(f"{before}{item}{shared}{text[m.end():]}", item) for item in items]
    if (last[-2:] == runs[0][-2:] and len(last) <= len(runs[0])) or len(last) == len(first_word):
        size, shared = len(last), ""
    elif len(last) >= len(first_word) + 2 and "的" not in last:
        size, shared = len(first_word), last[len(first_word):]
    else:
        return []
    if any(len(r) != size for r in middle):
        return []
    items = [runs[0][-size:], *middle, last[:size]]
    before = text[:m.start()] + runs[0][:-size]
    after = text[m.end():]
    return [(f"{before}{item}{shared}{after}", item) for item in items]
