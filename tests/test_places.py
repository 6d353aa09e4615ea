"""Places at every level: the gazetteer's names in questions and documents, and what a document's
place lets it answer for (a district's report never answers for its city)."""

from __future__ import annotations

import pytest

from rag.ingest.subject import derive_subject
from rag.text import analyze_question, lies_within, places_in, search_key, short_of
from rag.text.followup import standalone_question
from rag.text.places import short_name

#: (text, the places it names by their whole names): the examples are the tests.
MENTIONS = [
    ("天长市何时被评为全国法治政府建设示范市？", ["天长市"]),
    ("静海区2023年办理行政复议案件多少件？", ["静海区"]),
    ("内蒙古2022年出台了哪些规章？", ["内蒙古自治区"]),
    ("赵县的常住人口是多少？", ["赵县"]),
    ("那太仓呢？", ["太仓市"]),
    ("那常熟呢？", ["常熟市"]),
    ("天津市南开区2010年地区生产总值", ["天津市", "南开区"]),
    ("天长市铜城镇有多少人口", ["天长市", "铜城镇"]),
    ("巴音郭楞蒙古自治州的牧业", ["巴音郭楞蒙古自治州"]),
    ("澳门特别行政区施政报告", ["澳门特别行政区"]),
    ("清水县人民政府。清水全县", ["清水县", "清水县"]),
    # words that only contain or resemble a place name
    ("该市全年共制定市政府行政规范性文件多少件？", []),
    ("创建示范县，推动资源共享和公安机关改革", []),
    ("推进乡村振兴，所有镇完成依法治镇", []),
    ("坚持和平发展道路", []),
]


@pytest.mark.parametrize(("text", "names"), MENTIONS)
def test_places_named_in_text(text: str, names: list[str]) -> None:
    assert [m.place.name for m in places_in(search_key(text))] == names


@pytest.mark.parametrize(("name", "level", "short"), [
    ("静海区", "county", "静海"), ("巴音郭楞蒙古自治州", "city", "巴音郭楞"), ("新疆维吾尔自治区", "province", "新疆"),
    ("内蒙古自治区", "province", "内蒙古"), ("赵县", "county", "赵县"), ("民和回族土族自治县", "county", "民和"),
])
def test_short_names(name: str, level: str, short: str) -> None:
    assert short_name(name, level) == short
    assert short_of(name) == short


def test_a_district_lies_within_its_city_and_province() -> None:
    assert lies_within("静海区", "天津") and lies_within("静海区", "天津市")
    assert lies_within("太仓市", "苏州") and lies_within("太仓市", "江苏省")
    assert not lies_within("苏州市", "太仓") and not lies_within("静海区", "北京")


def test_question_places_at_every_level() -> None:
    assert analyze_question("新疆维吾尔自治区2017年制定了多少件规章？").places == ("新疆",)
    assert analyze_question("赵县2022年办理行政复议多少件？").places == ("赵县",)
    assert analyze_question("哪个区开展了56场送法进村活动？").kinds == ("place",)
    assert analyze_question("哪个自治区出台了实施方案？").kinds == ("place",)
    assert "docno" in analyze_question("北京市2016年政务公开工作要点的通知文号是什么？").kinds


@pytest.mark.parametrize(("title", "text", "city"), [
    ("天津市南开区2010年政府工作报告", "全区地区生产总值增长。", "南开区"),  # the innermost place of the title
    ("安徽省人民政府关于2022年法治政府建设情况的报告", "", "安徽省"),
    ("东莞市人民政府关于贯彻落实《广东省进一步稳定和扩大就业若干政策措施》的实施意见", "", "东莞市"),  # not the quoted title's
    ("江苏省人民政府：", "苏州市坚持……苏州市全年……苏州市", "苏州市"),  # an addressee is no subject
    ("政府工作报告", "嘉定区2022年……上海市……嘉定区全年……嘉定区", "嘉定区"),
    ("2022年依法行政工作报告", "全市……全市", None),
])
def test_a_documents_place_of_any_level(title: str, text: str, city: str | None) -> None:
    assert derive_subject("x.txt", title, text).get("city") == city


@pytest.mark.parametrize(("previous", "follow_up", "standalone"), [
    ("南开区2010年地区生产总值是多少？", "那静海呢？", "静海区2010年地区生产总值是多少？"),
    ("新疆维吾尔自治区2017年制定了多少件规章？", "那内蒙古呢？", "内蒙古自治区2017年制定了多少件规章？"),
    ("静海区2023年行政复议多少件？", "该区有多少名调解员？", "静海区2023年有多少名调解员？"),
    ("该市全年共制定市政府行政规范性文件多少件？", "那太仓呢？", "太仓市全年共制定市政府行政规范性文件多少件？"),
])
def test_follow_ups_keep_places_of_any_level(previous: str, follow_up: str, standalone: str) -> None:
    assert standalone_question(follow_up, [previous]).question == standalone


def test_a_person_pronoun_is_left_alone_never_glued_to_the_place() -> None:
    asked = standalone_question("他是在哪一天讲话的？", ["静海区区长在2023年法治政府建设会议上讲话了吗？"])
    assert not asked.rewritten and asked.question == "他是在哪一天讲话的？"


def test_the_year_before_or_after_the_one_asked() -> None:
    assert standalone_question("上一年呢？", ["静海区2023年办理行政复议案件多少件？"]).question == "静海区2022年办理行政复议案件多少件？"
    assert standalone_question("次年呢？", ["中江县2022年粮食总产量是多少？"]).question == "中江县2023年粮食总产量是多少？"
    assert not standalone_question("上一年呢？", ["静海区办理行政复议案件多少件？"]).rewritten
