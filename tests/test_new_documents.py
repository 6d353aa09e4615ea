"""Kinds of failure seen on documents nobody tuned on, as pure functions over made-up passages:
places at every level, years of reports, non-answers (a heading, a title, a document number), 文号
and date questions, answers assembled from one document, quotes repaired only with their figures."""

from __future__ import annotations

from rag.answer.extractive import draft_extractive
from rag.answer.verify import Passage, locate_quote, verify
from rag.models import Chunk, Hit
from rag.text import analyze_question as Q


def _passage(n: int, text: str, docid: str, title: str, heading: str = "", **meta: str) -> Passage:
    chunk = Chunk(docid=docid, ordinal=n, section=(heading,) if heading else (), start=100 * n,
                  end=100 * n + len(text), text=text)
    return Passage(n, Hit(chunk=chunk, title=title, score=1.0), meta,
                   heading_start=0 if heading else None)


def _answer(question: str, passages: list[Passage]):
    q = Q(question)
    return verify(q, draft_extractive(q, passages), passages, "extractive")


DISTRICT = _passage(1, "2023年，全区办理行政复议案件128件，纠错率12%。", "jinghai-2023.txt",
                    "天津市静海区2023年度法治政府建设情况报告", city="静海区", year="2023")
COUNTY = _passage(2, "全县开展送法进村活动56场，覆盖群众1.2万人次。", "x-county-2022.txt",
                  "某县2022年法治政府建设年度报告", city="清水县", year="2022")


def test_a_districts_figure_answers_for_the_district_never_for_its_city() -> None:
    assert "128件" in _answer("静海区2023年办理行政复议案件多少件？", [DISTRICT]).answer
    assert _answer("天津市2023年办理行政复议案件多少件？", [DISTRICT]).refused  # the title says 天津市静海区


def test_a_which_place_answer_names_the_place_the_sentence_leaves_out() -> None:
    answer = _answer("哪个县开展了56场送法进村活动？", [COUNTY])
    assert not answer.refused and answer.answer.startswith("清水县：")


def test_a_report_answers_for_its_year_and_the_year_before_not_for_others() -> None:
    looks_back = _passage(1, "全县粮食总产量达到35.2万吨。", "x-2023.txt", "2023年政府工作报告", city="清水县", year="2023")
    assert "35.2万吨" in _answer("清水县2022年粮食总产量是多少万吨？", [looks_back]).answer
    assert _answer("清水县2021年粮食总产量是多少万吨？", [looks_back]).refused
    assert _answer("清水县2024年粮食总产量是多少万吨？", [looks_back]).refused
    # an annual report is titled with the year it reports on: it does not speak for the year before
    annual = _passage(1, "全年共办理行政复议案件128件。", "x-2023.txt", "清水县2023年度法治政府建设情况报告",
                      city="清水县", year="2023")
    assert "128件" in _answer("清水县2023年办理行政复议案件多少件？", [annual]).answer
    assert _answer("清水县2022年办理行政复议案件多少件？", [annual]).refused


def test_a_heading_that_asks_the_question_is_no_answer() -> None:
    heading = _passage(1, "三、如何申请延期缴纳税款？\n纳税人因疫情影响不能按期缴纳税款的，可以申请延期缴纳。",
                       "notice.txt", "关于疫情期间税收征管的通知", city="清水县")
    answer = _answer("清水县如何申请延期缴纳税款？", [heading])
    assert "三、如何申请延期缴纳税款" not in answer.answer


def test_the_title_or_a_document_number_is_no_answer_unless_a_number_is_asked() -> None:
    notice = _passage(1, "清水县人民政府关于印发法治政府建设实施方案的通知\n清政发〔2022〕3号\n"
                      "到2025年，全县法治政府建设率先突破。", "notice.txt",
                      "清水县人民政府关于印发法治政府建设实施方案的通知", city="清水县", year="2022")
    assert "清政发〔2022〕3号" in _answer("清水县法治政府建设实施方案的文号是什么？", [notice]).answer
    answer = _answer("清水县法治政府建设实施方案的通知内容是什么？", [notice])
    assert answer.refused or "清政发" not in answer.answer


def test_a_document_number_question_prefers_the_documents_own_number() -> None:
    notice = _passage(1, "东府〔2021〕54号\n为贯彻落实《广东省进一步稳定和扩大就业若干政策措施的通知》（粤府〔2021〕13号），提出如下意见。",
                      "dg.txt", "东莞市人民政府关于贯彻落实稳定和扩大就业政策措施的实施意见", city="东莞市", year="2021")
    answer = _answer("东莞市贯彻落实稳定和扩大就业政策措施的实施意见文号是什么？", [notice])
    assert "东府〔2021〕54号" in answer.answer and "粤府" not in answer.answer


def test_dates_answer_at_the_grain_asked() -> None:
    plan = _passage(1, "今年政务公开工作要突出重点。\n到 2020 年，全市政务公开工作总体水平迈上新台阶。\n2016年5月28日",
                    "bj.txt", "北京市2016年政务公开工作要点", city="北京市", year="2016")
    assert "2020" in _answer("北京市提出到哪一年全市政务公开工作总体水平迈上新台阶？", [plan]).answer  # spaced figures
    assert "5月28日" in _answer("北京市2016年政务公开工作要点印发的日期是？", [plan]).answer  # a bare date line
    assert "今年政务公开" not in _answer("北京市政务公开工作要点的日期是？", [plan]).answer


def test_a_which_year_answer_names_the_document_it_rests_on() -> None:
    report = _passage(1, "第十届澳门国际旅游博览会成功举办。", "macau-2023.txt", "二〇二三年财政年度施政报告",
                      city="澳门特别行政区", year="2023")
    answer = _answer("澳门哪个财政年度的施政报告回顾说第十届澳门国际旅游博览会成功举办？", [report])
    assert not answer.refused and "二〇二三年财政年度施政报告" in answer.answer


def test_further_sentences_come_from_the_first_ones_document() -> None:
    first = _passage(1, "自3月29日至今无本地病例，累计确诊病例46例。", "macau-2021.txt", "二〇二一年财政年度施政报告",
                     heading="新冠肺炎疫情防控", city="澳门特别行政区", year="2021")
    other = _passage(2, "面对新冠肺炎疫情，特区政府推出两轮经济援助措施。", "macau-2023.txt", "二〇二三年财政年度施政报告",
                     city="澳门特别行政区", year="2023")
    answer = _answer("澳门2020年累计确诊新冠肺炎病例多少例？", [first, other])
    assert "46例" in answer.answer and "[2]" not in answer.answer


def test_a_count_with_yu_or_duo_is_a_count() -> None:
    hubei = _passage(1, "省委、省政府主要领导同志先后研究法治政府建设工作30余次。", "hubei.txt", "湖北省人民政府关于2023年度法治政府建设情况的报告",
                     city="湖北省", year="2023")
    assert "30余次" in _answer("湖北省主要领导同志2023年先后研究法治政府建设工作多少次？", [hubei]).answer


def test_a_repaired_quote_keeps_its_figures() -> None:
    source = "为贯彻落实《广东省人民政府的通知》（粤府〔2021〕13号），强化就业优先政策。"
    assert locate_quote("东府〔2021〕54号", source) is None


def test_a_refusal_names_the_check_that_stood_in_the_way() -> None:
    """The Answer says which named check refused and why, in plain Chinese."""
    cases = {
        "北京市2023年办理行政复议案件多少件？": "subject",  # no passage about 北京
        "天津市2023年办理行政复议案件多少件？": "place",  # the district's sentence, not the city's
        "静海区2023年办理行政复议案件的日期是哪一天？": "day",  # no day of a month
        "静海区2023年办理行政复议案件由哪位局长负责？": "person",
    }
    for question, check in cases.items():
        answer = _answer(question, [DISTRICT])
        assert answer.refused and answer.refused_by == check, (question, answer.refused_by)
        assert answer.reason and all("\u4e00" <= ch <= "\u9fff" or not ch.isalpha() for ch in answer.reason)
    assert _answer("静海区2023年办理行政复议案件多少件？", [DISTRICT]).reason is None


def test_a_date_written_as_web_pages_write_it_and_a_threshold_in_the_unit() -> None:
    page = _passage(1, "发布时间：2023-02-08\n在职职工总数30人（含）以下的企业暂免征收残疾人就业保障金。", "jd.txt",
                    "嘉定区人民政府2022年度法治政府建设情况报告", city="嘉定区", year="2022")
    assert "2023-02-08" in _answer("嘉定区人民政府2022年度法治政府建设情况报告的发布日期是？", [page]).answer
    assert Q("嘉定区在职职工总数多少人以下的企业暂免征收残疾人保障金？").counted == ""
    assert "30人" in _answer("嘉定区在职职工总数多少人以下的企业暂免征收残疾人保障金？", [page]).answer


def test_a_per_head_figure_is_no_total() -> None:
    bulletin = _passage(1, "全县实现生产总值（GDP）951435万元。按常住人口计算人均地区生产总值为74331元。", "yh.txt",
                        "2022年云和县国民经济和社会发展统计公报", city="云和县", year="2022")
    answer = _answer("云和县2022年全年地区生产总值是多少？", [bulletin])
    assert "74331" not in answer.answer
    assert "74331元" in _answer("云和县2022年人均地区生产总值是多少？", [bulletin]).answer


def test_a_sentence_naming_another_year_is_about_that_year() -> None:
    bulletin = _passage(1, "初步核算，全县实现生产总值951435万元。最终计算2021年全县生产总值现价总量为972846万元。", "yh.txt",
                        "2022年云和县国民经济和社会发展统计公报", city="云和县", year="2022")
    answer = _answer("云和县2022年全年生产总值是多少？", [bulletin])
    assert "951435万元" in answer.answer and "972846" not in answer.answer
    assert "972846万元" in _answer("云和县2021年全年生产总值是多少？", [bulletin]).answer


def test_a_count_stands_by_what_the_question_counts_named_before_the_count() -> None:
    assert Q("如皋市全年共制定市政府行政规范性文件多少件？").counted_phrase == "市政府行政规范性文件"
    assert Q("天长市行政执法证考试有多少人通过？").counted_phrase == ""  # people are counted
    other = _passage(1, "今年共清理市政府、市政府办公室规范性文件75 件，统一公开行政规范性文件 130 件。", "rg.txt",
                     "如皋市2023年法治政府建设情况报告", city="如皋市", year="2023")
    assert _answer("如皋市全年共制定市政府行政规范性文件多少件？", [other]).refused_by == "counted"
    asked = _passage(1, "全年共制定市政府行政规范性文件15件，市政府部门行政规范性文件40件。", "sz.txt",
                     "苏州市2023年法治政府建设情况报告", city="苏州市", year="2023")
    assert "15件" in _answer("苏州市政府全年出台的行政规范性文件有几件？", [asked]).answer
