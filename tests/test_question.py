"""The typed question analysis every stage reads: answer kinds, places, years, organisations,
content vs phrasing words, quoted names, stated figures, parts; traditional input alike."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from rag.text import analyze_question as Q
from rag.text.question import ANSWER_KINDS

RAG = Path(__file__).resolve().parents[1] / "rag"


@pytest.mark.parametrize("question, kinds", [
    ("苏州市2023年人民调解组织化解纠纷多少件？", ("count",)),
    ("常熟市行政复议直接纠错率是多少？", ("count", "rate")),
    ("天长市何时被评为全国法治政府建设示范市？", ("date", "honour")),  # the answer must confer it
    ("常熟市是哪一年哪个月发布白皮书的？", ("date",)),
    ("天长市市委书记是谁？", ("person",)),
    ("天长市获得过什么荣誉？", ("honour",)),
    ("天长市的营商环境品牌是什么？", ("name",)),
    ("哪个城市打造了“亭满意”营商环境品牌？", ("place",)),
    ("苏州市在政务诚信建设方面采取了哪些措施？", ("list",)),
    ("太仓市是否实现了企业开办0费用？", ("yesno",)),
    ("天长市法治建设情况怎么样？", ()),
    ("该通知是由哪几个部门联合发布的？", ("body", "list")),  # which ones (their names, bodies), not how many
])
def test_each_answer_kind(question: str, kinds: tuple) -> None:
    assert Q(question).kinds == kinds


def test_places_years_and_organisations() -> None:
    q = Q("如皋市司法局2023年有多少名干警参加教育整顿？")
    assert q.places == ("如皋",) and q.years == ("2023",) and q.organisations == ("如皋市司法局",)
    assert Q("哪个城市获评首批“国际湿地城市”？").places == ()  # 城市 names no place
    assert Q("北京市2022年行政复议案件有多少件？").subject_terms == ("北京", "2022")


def test_traditional_input_is_analysed_like_simplified() -> None:
    trad, simp = Q("天長市何時被評為全國法治政府建設示範市？"), Q("天长市何时被评为全国法治政府建设示范市？")
    assert trad.traditional and not simp.traditional
    assert (trad.places, trad.kinds, trad.content_words) == (simp.places, simp.kinds, simp.content_words)


def test_content_words_leave_out_how_it_was_asked() -> None:
    q = Q("天长市获得过什么荣誉？")
    assert q.content_words == () and "获得" in q.phrasing_words
    assert Q("在太仓市开办企业要花多少钱、多长时间？").content_words == ("开办", "企业")
    assert "几人" not in Q("天长市行政执法证考试通过了几人？").content_words


def test_a_place_leaves_its_level_and_peoples_out_of_the_content_words() -> None:
    # 自治区 after 内蒙古, 维吾尔自治区 after 新疆, 街道 after a sub-district are the place, not what is asked
    assert Q("內蒙古自治區的實施方案要求推動什麼普遍落實？").content_words == ("实施", "方案", "实施方案", "要求", "推动", "普遍", "落实")
    assert "自治区" not in Q("新疆维吾尔自治区2017年开展了哪些普法活动？").content_words
    assert Q("金龙街道2023年调解纠纷多少件？").content_words[0] != "街道"
    # and the words of a choice ("多了还是少了") or of "关于" are not asked about
    assert not {"还是", "关于"} & set(Q("关于粮食产量，比上年是多了还是少了？").content_words)


@pytest.mark.parametrize("question, parts", [
    ("清水县第一、第二、第三产业增加值分别是多少？", ["清水县第一产业增加值是多少？", "清水县第二产业增加值是多少？", "清水县第三产业增加值是多少？"]),
    ("清水县城镇和农村居民人均可支配收入分别是多少？", ["清水县城镇居民人均可支配收入是多少？", "清水县农村居民人均可支配收入是多少？"]),
    ("清水县常住人口和户籍人口分别是多少？", ["清水县常住人口是多少？", "清水县户籍人口是多少？"]),
    ("清水县进口和出口分别增长多少？", ["清水县进口增长多少？", "清水县出口增长多少？"]),
    ("清水县苹果和梨的产量各是多少吨？", ["清水县苹果的产量是多少吨？", "清水县梨的产量是多少吨？"]),
    ("市委和市政府分别印发了什么文件？", []),  # 市委/市政府: no shared head of a word, whole items of two lengths
    ("全县有多少个乡镇和街道？", []),  # no 分别
])
def test_an_enumeration_before_分别_asks_one_fact_per_item(question: str, parts: list[str]) -> None:
    assert [p.text for p in Q(question).parts] == parts


def test_count_unit_and_what_is_counted() -> None:
    q = Q("太仓市目前已建立多少个调解组织？")
    assert (q.unit, q.counted) == ("个", "组织")
    assert Q("滁州市抽查了多少份行政执法案卷？").counted == "案卷"  # the head of the noun phrase
    # after a modifier joined by 的, before the predicate; a verb before a noun modifies it
    assert Q("如皋市今年清理了多少件市政府和市政府办公室的规范性文件？").counted == "文件"
    assert Q("2023年苏州市委常委会一共研究了多少次法治领域的事项？").counted == "事项"
    assert Q("苏州市有多少名拟提拔的县处职领导干部参加了任前法律法规考试？").counted == "干部"
    assert Q("天长市的诉前调解中心一共有多少名调解人员？").counted == "人员"
    assert Q("如皋市出具了多少件知识产权类公证书？").counted == "证书"


def test_what_a_count_question_says_of_the_counted_thing() -> None:
    q = Q("苏州市有多少个重大行政决策事项放到网上运行了？")
    assert (q.counted, q.predicate) == ("事项", ("放到", "网上", "运行"))
    assert Q("太仓市有多少名行政执法人员通过资格审查？").predicate == ("通过", "资格", "审查")
    assert Q("苏州市全市人民调解组织共化解纠纷多少件？").predicate == ()  # nothing after the count
    # 多少人 and a verb: the classifier counts the people; what they did is the predicate
    assert (Q("天长市有多少人考过了行政执法证考试？").counted, Q("天长市有多少人考过了行政执法证考试？").predicate) == (
        "", ("考过", "行政", "执法", "考试"))


def test_a_word_is_found_with_one_character_inserted_not_two() -> None:
    from rag.text import found

    assert found("可办率", "政务服务可网办率达98.6%")  # 网上可办率 as the report writes it
    assert not found("可办率", "可以网上办理的比率")
    assert not found("调处", "调解处理")  # a two-character word matches only as written
    assert not found("败诉率", "败诉案件比率")


def test_coverage_counts_each_character_of_the_question_once() -> None:
    from rag.text import coverage, search_key

    q = Q("如皋市把2024年的行政诉讼败诉率控制在多少以内？")
    assert {"行政诉讼", "行政", "诉讼"} <= set(q.content_words)  # a compound with its parts
    sentence = search_key("紧盯败诉率7%以内的目标，全力压降行政败诉案件。")
    # 行政 of 行政诉讼 is held, 诉讼 is not: 6 of the 8 characters (the compound is not weighed twice)
    assert coverage(q.content_words, sentence, "") == 6 / 8
    assert coverage(("法律援助",), search_key("法律援助中心"), "") == 1.0
    assert coverage(("法律援助", "覆盖率"), "", search_key("法律援助覆盖率")) == 0.5  # context counts half
    assert "rate" in Q("常熟市法律援助联系点的覆盖率有多高？").kinds


def test_a_count_classifier_before_市_is_no_place_and_levels_are_read() -> None:
    assert Q("苏州市2023年制定了多少件市政府行政规范性文件？").places == ("苏州",)  # not 少件
    assert Q("苏州市有多少名拟提拔的县处职领导干部？").places == ("苏州",)  # not 拔的
    assert Q("太仓市建成了几个省级民主法治示范村？").places == ("太仓",)  # not 几个
    assert Q("如皋市镇一级审查了多少份政府合同？").levels == ("镇",)
    assert Q("苏州市级机关开展了多少期法治开讲？").levels == ("市",)


def test_roles_quoted_names_and_stated_figures() -> None:
    assert Q("天长市市委书记是谁？").roles == ("市委书记",)
    assert Q("太仓市依法治市委员会设立了哪几个协调小组？").roles == ()  # a committee, not its members
    assert "哪几个" not in Q("太仓市依法治市委员会设立了哪几个协调小组？").content_words
    assert Q("《苏州市优化营商环境条例》何时施行？").quoted == ("苏州市优化营商环境条例",)
    assert Q("哪个城市出具知识产权类公证书360件？").stated == ("360件",)
    assert Q("常熟市在2020年8月获得了什么称号？").stated == ("2020年8月",)
    assert Q("太仓市截至11月受理调处矛盾纠纷多少件？").stated == ("11月",)
    assert Q("那常熟呢？").elliptical and not Q("常熟市呢，有多少件？").elliptical


def test_compound_questions_have_parts_about_the_same_place() -> None:
    q = Q("天长市行政执法证考试通过了几人，特邀行政执法监督员聘了几名？")
    assert q.compound and [p.places for p in q.parts] == [("天长",), ("天长",)]
    assert q.parts[1].unit == "名" and "监督员" in q.parts[1].content_words
    assert not Q("天长市，何时被评为示范市？").compound  # only one clause asks something


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return {n for n in names if n.startswith("rag.")}


# each layer and the layers above it, which it must never import
LAYERS = [("text", ["ingest", "chunk", "index", "retrieve", "answer", "api", "ui", "service"]),
          ("ingest", ["index", "retrieve", "answer", "api", "ui", "service"]),
          ("index", ["retrieve", "answer", "api", "ui", "service"]),
          ("retrieve", ["answer", "api", "ui", "service"]),
          ("answer", ["api", "ui", "service"])]


@pytest.mark.parametrize("layer, above", LAYERS)
def test_layers_import_one_way(layer: str, above: list[str]) -> None:
    files = list((RAG / layer).rglob("*.py"))
    assert files
    for path in files:
        wrong = {m for m in _imports(path) if m.split(".")[1] in above}
        assert not wrong, f"{path.relative_to(RAG)} imports {wrong} from a higher layer"


@pytest.mark.parametrize("rule, question", [pytest.param(r, q, id=f"{r.kind}-{i}")
                                            for r in ANSWER_KINDS for i, q in enumerate(r.examples)])
def test_every_answer_kind_is_asked_by_its_examples(rule, question: str) -> None:
    assert rule.kind in Q(question).kinds
