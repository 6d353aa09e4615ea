"""Follow-up questions made standalone from the user's earlier questions, by rules."""

from __future__ import annotations

import pytest

from rag.text.followup import standalone_question as S

SUZHOU = "苏州市2023年全市人民调解组织共化解纠纷多少件？"


@pytest.mark.parametrize("follow_up, standalone", [
    ("那太仓呢？", "太仓市2023年全市人民调解组织共化解纠纷多少件？"),        # another city
    ("太仓市的呢", "太仓市2023年全市人民调解组织共化解纠纷多少件？"),
    ("2022年呢？", "苏州市2022年全市人民调解组织共化解纠纷多少件？"),        # another year
    ("那常熟市2020年呢？", "常熟市2020年全市人民调解组织共化解纠纷多少件？"),
    ("该市有多少个调解组织？", "苏州市2023年有多少个调解组织？"),           # a place referred to
    ("有多少个调解组织？", "苏州市2023年有多少个调解组织？"),               # no place: the conversation's
    ("出处在哪一段？", SUZHOU),                                          # about the previous answer
    ("这是哪一年的数据？", SUZHOU),
    ("行政复议呢？", "苏州市2023年行政复议多少件？"),                     # a topic alone: asked the same way
    ("调解成功率呢？", "苏州市2023年调解成功率是多少？"),                 # a rate is asked as a rate
])
def test_follow_ups_inherit_place_year_and_topic(follow_up: str, standalone: str) -> None:
    got = S(follow_up, [SUZHOU])
    assert got.rewritten and got.question == standalone


@pytest.mark.parametrize("history, follow_up, standalone", [
    # only what happened to it: the thing the previous question counted
    (["清水县2022年地区生产总值预计完成多少？"], "增长多少？", "清水县2022年地区生产总值增长多少？"),
    (["清水县2022年地区生产总值预计完成多少？"], "比上年下降了多少？", "清水县2022年地区生产总值比上年下降了多少？"),
    # "这项工作", "该方案": the document the previous question named, asked the same way
    (["清水县促进残疾人就业行动实施方案的就业目标是多少？"], "这项工作的培训目标呢？",
     "清水县促进残疾人就业行动实施方案的培训目标多少？"),
    # "这项政策" of a question naming no document: what the previous question asked something of
    (["清水县在职职工总数多少人以下的企业暂免征收残疾人保障金？"], "这项政策实施期限到什么时候？",
     "清水县企业暂免征收残疾人保障金政策实施期限到什么时候？"),
    (["清水县2023年开展了多少场送法进村活动？"], "这项工作由哪个部门牵头？", "清水县2023年送法进村活动工作由哪个部门牵头？"),
    # "他们" after a question about a place is that place; the place never sits beside the pronoun
    (["清水县2023年的政府工作报告是哪天作的？"], "他们2022年地区生产总值完成多少？", "清水县2022年地区生产总值完成多少？"),
    (["清水县2023年的政府工作报告是哪天作的？", "他们2022年地区生产总值完成多少？"], "略阳县的呢？",
     "略阳县2022年地区生产总值完成多少？"),
])
def test_follow_ups_name_what_they_point_back_at(history: list[str], follow_up: str, standalone: str) -> None:
    got = S(follow_up, history)
    assert got.rewritten and got.question == standalone


def test_a_pointing_follow_up_that_names_its_own_place_is_left_as_it_is() -> None:
    got = S("嘉兴这项任务由哪个单位负责？", ["清水县2023年政府工作报告提出的目标是多少？"])
    assert not got.rewritten


@pytest.mark.parametrize("question", [
    "天长市何时被评为全国法治政府建设示范市？",        # names its own place: a new topic
    "哪个城市打造了“亭满意”营商环境品牌？",            # asks which place
    "那太仓的法律顾问呢？",                            # another place and another topic: not the old question
    "同比呢？",                                        # points back at the previous figure: for the model
])
def test_new_questions_are_not_polluted_by_history(question: str) -> None:
    got = S(question, [SUZHOU])
    assert not got.rewritten and got.question == question


def test_after_a_which_city_question_its_answer_says_what_the_city_is() -> None:
    asked = ["哪个城市打造了“亭满意”营商环境品牌？"]
    answered = ["天长市：1、以打造“亭满意”营商环境为抓手，营造全市依法用权氛围[4]"]
    assert S("该市何时被评为全国法治政府建设示范市？", asked, answered).question == "天长市何时被评为全国法治政府建设示范市？"
    assert not S("该市何时被评为全国法治政府建设示范市？", asked).rewritten  # without the answer: nothing to go on
    refused = ["所提供的文件中没有关于这个问题的信息。"]
    assert not S("该市何时被评为全国法治政府建设示范市？", asked, refused).rewritten


def test_chains_of_follow_ups_and_traditional_script() -> None:
    assert S("2022年呢？", [SUZHOU, "那太仓呢？"]).question == "太仓市2022年全市人民调解组织共化解纠纷多少件？"
    assert S("那太倉呢？", [SUZHOU]).question == "太倉市2023年全市人民調解組織共化解糾紛多少件？"
    assert S("那太仓呢？", []).question == "那太仓呢？"  # no history, nothing to inherit


def test_a_town_that_opens_a_question_is_its_subject_and_is_carried() -> None:
    """Staff name a town or sub-district by itself ("金龙街道…"): it is the question's place, a
    follow-up about another one replaces it, and "这个街道"/"他们" stand for it."""
    from rag.text import analyze_question

    first = "清河街道2022年累计开展了多少场法治宣传活动？"
    assert analyze_question(first).places == ("清河",)
    assert analyze_question("城镇居民人均可支配收入是多少？").places == ()
    assert S("这个街道给几个社区配备了兼职法律顾问？", [first]).question == "清河街道2022年给几个社区配备了兼职法律顾问？"
    assert S("那坡子街街道呢？", [first]).question == "坡子街街道2022年累计开展了多少场法治宣传活动？"
    assert S("他们组织开展了几次中心组理论学习扩大会议？", [first, "那坡子街街道呢？"]).question == \
        "坡子街街道2022年组织开展了几次中心组理论学习扩大会议？"


def test_he_after_asking_who_delivered_a_report_is_that_report() -> None:
    history = ["清水县2023年政府工作报告是谁作的？"]
    assert S("他说2022年城镇居民人均可支配收入是多少？", history).question == "清水县2023年政府工作报告中2022年城镇居民人均可支配收入是多少？"
    assert S("他是在哪一天作的报告？", history).question == "清水县2023年政府工作报告是在哪一天作的报告？"
    # about the person themself, or after a question that named no document: left as it is
    assert not S("他是什么身份？", history).rewritten
    assert not S("她是哪一年当选的？", ["清水县县长是谁？"]).rewritten
