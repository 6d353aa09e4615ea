"""How documents write what questions say in other words: the lexicon word coverage reads through.

Why: whether a sentence is about what was asked is judged by the question's content words
(rag/text/match.py). Staff ask in everyday words and abbreviations ("物价涨了多少", "县人代会",
"新开了多少家企业") and reports answer in their own register ("居民消费价格上涨", "人民代表大会",
"新登记企业"): a word-for-word judge refuses those answers as "no sentence says so". Each entry says
how a question may put a thing and how government documents write it; the entries are the certain
ones of this register (an abbreviation for its full name, an everyday word for the official term),
grouped by kind, each group with examples that are its tests (tests/test_written_as.py). Anything
looser than "the documents' word for the same thing" is for the reader (rag/answer/reader.py).

An asked phrase of several jieba words ("找到工作", "当被告") becomes one content word of the question
where it occurs (rag/text/question.py), so it is covered as a whole; the documents' wordings are
searched in the sentence's search key (simplified, lower case, so these are too).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Wording:
    """One thing as questions ask it and as documents write it."""

    asked: tuple[str, ...]
    written: tuple[str, ...]


@dataclass(frozen=True)
class WordingGroup:
    """A kind of rewording, its entries and examples: (question, a sentence that covers it only
    through this group, a sentence that does not cover it)."""

    name: str
    why: str
    entries: tuple[Wording, ...]
    examples: tuple[tuple[str, str, str], ...]


def _w(asked: str, written: str) -> Wording:
    return Wording(tuple(asked.split()), tuple(written.split()))


GROUPS: tuple[WordingGroup, ...] = (
    WordingGroup(
        "abbreviation",
        "a body, a meeting or an indicator asked by its short name, written in full (or the reverse)",
        (
            _w("人代会 人大会", "人民代表大会 人代会"),
            _w("人大", "人民代表大会 人大"),
            _w("政协", "政治协商会议 政协"),
            _w("常委会", "常务委员会 常委会"),
            _w("常务会", "常务会议 常务会"),
            _w("发改委 发改", "发展和改革委员会 发展改革委 发展改革 发改"),
            _w("人社局 人社部门 人社", "人力资源和社会保障 人力资源社会保障 人社"),
            _w("住建局 住建部门 住建", "住房和城乡建设 住房城乡建设 住建"),
            _w("市监局 市场监管局", "市场监督管理局 市场监管局"),
            _w("国资委", "国有资产监督管理委员会 国资委"),
            _w("规上", "规模以上 规上"),
            _w("社零额 社零", "社会消费品零售总额"),
            _w("gdp", "生产总值 gdp"),
            _w("cpi", "居民消费价格 cpi"),
            _w("一产", "第一产业 一产"),
            _w("二产", "第二产业 二产"),
            _w("三产", "第三产业 三产"),
            _w("固投", "固定资产投资"),
            _w("国企", "国有企业 国企"),
            _w("民企", "民营企业 民企"),
            _w("外企", "外资企业 外商投资企业 外企"),
            _w("低保", "最低生活保障 低保"),
            _w("医保", "医疗保险 医疗保障 医保"),
            _w("社保", "社会保险 社会保障 社保"),
            _w("两法衔接", "行政执法与刑事司法衔接 两法衔接"),
            _w("复议", "行政复议 复议"),
        ),
        (
            ("县人代会是哪一天开幕的？", "县第九届人民代表大会第四次会议于3月6日开幕。", "县政府常务会议于3月6日召开。"),
            ("规上企业有多少家？", "年末全市规模以上工业企业512家。", "年末全市建筑业资质等级以上单位512家。"),
        ),
    ),
    WordingGroup(
        "comparison",
        "a comparison with the year before and a way of doing, as statistics and reports write them",
        (
            _w("上年", "同比 去年 上一年 上年"),
            _w("比上年", "同比 比上年"),
            _w("去年", "上年 同比 去年"),
            _w("花钱", "费用 支出 花钱"),
            _w("网上", "网办 线上 网上"),
        ),
        (
            ("网上能办的事项有多少？", "全程网办事项1280项。", "全县政务服务事项1280项。"),
        ),
    ),
    WordingGroup(
        "everyday",
        "an everyday word for the official term a report uses for the same thing",
        (
            _w("物价", "居民消费价格 消费价格 价格指数 物价"),
            _w("收成", "产量 收成"),
            _w("新开 新办 新成立", "新登记 新设立 新注册 新增 新开 新办 新成立"),
            _w("找到工作 找到了工作 找工作 上岗", "就业 上岗"),
            _w("工资", "工资 薪酬 工资性收入"),
            _w("老百姓", "群众 居民 人民 百姓"),
            _w("看病", "就医 医疗 诊疗 看病"),
            _w("上学", "入学 就学 上学"),
            _w("官司", "诉讼 案件 官司"),
            _w("打官司", "诉讼 打官司"),
            _w("当被告", "被告 应诉"),
            _w("输了 打输", "败诉"),
            _w("赢了 打赢", "胜诉"),
            _w("上访", "信访 上访"),
            _w("案子", "案件 案子"),
            _w("法治课 法律课", "法治讲座 法治专题讲座 专题学法 学法 讲座 法治课"),
            _w("讲课", "授课 讲座 讲课"),
            _w("出台", "制定 印发 出台 发布"),
            _w("花了 花费", "支出 投入 费用 花费"),
            _w("投了", "投资 投入"),
            _w("卖了 卖出", "销售 售出 零售"),
            _w("游客", "游客 旅游人数 旅游人次 接待"),
            _w("修路", "道路 公路 修路"),
            _w("老人", "老年人 老龄 老人"),
            _w("小孩 孩子", "儿童 少年 学生 孩子"),
            _w("穷人 贫困户", "贫困 脱贫 困难群众"),
            _w("外贸", "进出口 对外贸易 外贸"),
            _w("吵架 闹矛盾", "矛盾纠纷 纠纷"),
            _w("罚了 罚钱", "罚款 罚没"),
            _w("年底", "年末 年底"),
            _w("排第几 排名第几", "位居 位列 排名 居"),
        ),
        (
            ("2022年全市物价涨了多少？", "全年全市居民消费价格比上年上涨2.4%。", "全年全市粮食总产量比上年增长2.4%。"),
            ("2022年全区有多少下岗失业的人重新找到了工作？", "下岗失业人员再就业2165人。", "年末城镇登记失业人员1396人。"),
            ("去年县政府当被告的官司输了几场？", "以县政府为被告的行政诉讼案件败诉2件。", "县政府召开常务会议2次。"),
        ),
    ),
)



def _table() -> dict[str, tuple[str, ...]]:
    table: dict[str, tuple[str, ...]] = {}
    for group in GROUPS:
        for entry in group.entries:
            for asked in entry.asked:
                table[asked] = tuple(dict.fromkeys(table.get(asked, ()) + entry.written))
    return table


#: Asked word → how documents may write it (every entry of every group).
WRITTEN_AS: dict[str, tuple[str, ...]] = _table()
#: Every asked wording, longest first: each one a question holds is one of its content words.
ASKED_PHRASES: tuple[str, ...] = tuple(sorted(WRITTEN_AS, key=len, reverse=True))
