"""The verifier as a pure function: quotes, facts, subjects, citation numbers, scripts."""

from __future__ import annotations

from rag.answer.chain import parse_llm_output
from rag.answer.verify import REFUSAL, Draft, Passage, extract_facts, locate_quote, parse_cited_text, verify
from rag.models import Chunk, Hit
from rag.text import analyze_question as Q

TIANCHANG = ("在2019年全国法治政府建设示范创建活动中，在省司法厅、滁州市司法局和天长市委、市政府高度重视下，该市取得了可喜成绩，"
             "2020年8月被评为首批“全国法治政府建设示范市（县、区）”。受中央全面依法治国委员会委托，省委书记为天长市颁发了奖牌。")
RUGAO = "做優知識產權全鏈條保護公證服務平臺，出具知識產權類公證書360件，同比增長63%。"
SUZHOU = "2023年，全市人民调解组织共化解纠纷246357件，其中，村（社区）人民调解委员会化解纠纷119712件，大量纠纷就地化解。"


def _passage(n: int, text: str, docid: str, title: str, offset: int = 100, **meta: str) -> Passage:
    chunk = Chunk(docid=docid, ordinal=n, section=("一、测试",), start=offset, end=offset + len(text), text=text)
    return Passage(n, Hit(chunk=chunk, title=title, score=1.0), meta)


PASSAGES = [
    _passage(1, TIANCHANG, "tianchang-2021.txt", "天长市法治创建工作案例", city="天长市", year="2021"),
    _passage(2, RUGAO, "rugao-2023.txt", "rugao-2023", offset=500, city="如皋市", year="2023"),
    _passage(3, SUZHOU, "suzhou-2023.txt", "suzhou-2023", offset=900, city="苏州市", year="2023"),
]


def test_exact_quote_maps_to_offsets() -> None:
    span = locate_quote("2020年8月被评为首批“全国法治政府建设示范市（县、区）”", TIANCHANG)
    assert span is not None
    assert TIANCHANG[span[0]:span[1]] == "2020年8月被评为首批“全国法治政府建设示范市（县、区）”"


def test_width_and_script_shifted_quote_found_verbatim_in_source_script() -> None:
    span = locate_quote("出具知识产权类公证书360件,同比增长63%", RUGAO)
    assert span is not None and RUGAO[span[0]:span[1]] == "出具知識產權類公證書360件，同比增長63%"


def test_truncated_quote_repaired_to_its_sentence_only_if_unambiguous() -> None:
    span = locate_quote("受中央全面依法治国委员会委托省委书记为天长市颁发奖牌", TIANCHANG)  # words dropped
    assert span is not None and TIANCHANG[span[0]:span[1]] == "受中央全面依法治国委员会委托，省委书记为天长市颁发了奖牌。"
    assert locate_quote("天长市获评国家生态文明建设示范市", TIANCHANG) is None  # fabricated


def test_fabricated_quote_and_invented_number_are_removed() -> None:
    draft = Draft(sentences=(("天长市2020年8月被评为首批全国法治政府建设示范市。", (1,)),
                             ("天长市共有人口63万。", (1,))),
                  quotes=((1, "2020年8月被评为首批“全国法治政府建设示范市（县、区）”"),))
    answer = verify(Q("天长市何时被评为示范市？"), draft, PASSAGES, "llm")
    assert not answer.refused
    assert "2020年8月" in answer.answer and "63万" not in answer.answer
    assert answer.answer.endswith("[1]")
    (c,) = answer.citations
    assert (c.docid, c.n, c.end - c.start) == ("tianchang-2021.txt", 1, len(c.quote))
    assert TIANCHANG[c.start - 100:c.end - 100] == c.quote  # offsets into the stored document text


def test_number_not_in_quote_removes_the_sentence() -> None:
    draft = Draft(sentences=(("如皋市出具知识产权类公证书380件。", (2,)),), quotes=((2, RUGAO),))
    assert verify(Q("如皋市出具了多少件知识产权类公证书？"), draft, PASSAGES, "llm").refused


def test_out_of_range_citation_dropped() -> None:
    draft = Draft(sentences=(("天长市2020年8月被评为首批示范市。", (7,)),), quotes=((7, TIANCHANG),))
    answer = verify(Q("天长市何时被评为示范市？"), draft, PASSAGES, "llm")
    assert answer.refused and answer.answer == REFUSAL
    assert [c.n for c in answer.related] == [1, 2, 3] and not answer.citations


def test_subject_must_be_covered() -> None:
    draft = Draft(sentences=(("全市人民调解组织共化解纠纷246357件。", (3,)),), quotes=((3, SUZHOU),))
    assert not verify(Q("苏州市2023年人民调解组织化解纠纷多少件？"), draft, PASSAGES, "llm").refused
    assert verify(Q("北京市人民调解组织化解纠纷多少件？"), draft, PASSAGES, "llm").refused
    assert verify(Q("苏州市2022年人民调解组织化解纠纷多少件？"), draft, PASSAGES, "llm").refused


def test_answer_follows_question_script_quotes_stay_verbatim() -> None:
    draft = Draft(sentences=(("天长市2020年8月被评为首批全国法治政府建设示范市。", (1,)),),
                  quotes=((1, "2020年8月被评为首批“全国法治政府建设示范市（县、区）”"),))
    trad = verify(Q("天長市何時被評為示範市？"), draft, PASSAGES, "llm")
    assert "天長市" in trad.answer and "評為" in trad.answer
    assert trad.citations[0].quote.startswith("2020年8月被评为首批")
    rugao = Draft(sentences=(("出具知識產權類公證書360件。", (2,)),), quotes=((2, RUGAO),))
    simp = verify(Q("如皋市出具了多少件知识产权类公证书？"), rugao, PASSAGES, "llm")
    assert "知识产权" in simp.answer and "知識產權" in simp.citations[0].quote


def test_facts_and_subjects_extracted() -> None:
    assert extract_facts("2020年8月被评为“全国法治政府建设示范市”，增长63%，共三十五项[1]") == [
        "2020", "8", "“全国法治政府建设示范市”", "63%", "三十五"]
    assert Q("北京市2022年行政复议案件有多少件？").subject_terms == ("北京", "2022",)
    assert Q("天長市何時被評為全國法治政府建設示範市？").subject_terms == ("天长",)


def test_parse_generated_text() -> None:
    assert parse_cited_text("天长市2020年8月获评。[1] 如皋市增长63%[2][3]。") == (
        ("天长市2020年8月获评。", (1,)), ("如皋市增长63%。", (2, 3)))
    draft = parse_llm_output("回答：天长市于2020年8月被评为首批示范市[1]。\n依据：\n[1] 「2020年8月被评为首批“全国法治政府建设示范市（县、区）”」")
    assert draft.sentences == (("天长市于2020年8月被评为首批示范市。", (1,)),)
    assert draft.quotes == ((1, "2020年8月被评为首批“全国法治政府建设示范市（县、区）”"),)
    assert parse_llm_output("资料中没有相关信息。").sentences == ()
    # a cited sentence without its own quote offers itself as one
    assert parse_llm_output("天长市2020年8月被评为首批示范市[1]。").quotes == ((1, "天长市2020年8月被评为首批示范市。"),)


def test_terse_cited_claim_gets_the_one_sentence_holding_its_facts() -> None:
    text = "截至目前，全市共有196名行政执法机关工作人员参加了行政执法证考试，171人通过考试。建设规范化执法场所。"
    passages = [_passage(1, text, "tianchang-2021.txt", "天长市法治创建工作案例", city="天长市")]
    answer = verify(Q("天长市有多少人参加行政执法证考试？"), Draft(sentences=(("196名。", (1,)),), quotes=()), passages, "llm")
    assert not answer.refused and answer.citations[0].quote.startswith("截至目前，全市共有196名")
    wrong = verify(Q("天长市有多少人参加行政执法证考试？"), Draft(sentences=(("200名。", (1,)),), quotes=()), passages, "llm")
    assert wrong.refused


def test_quote_must_be_about_what_was_asked() -> None:
    text = "組織開展專項整治行動，排查問題線索35條，已全部交辦整改。2023年，基層司法所牽頭化解各類矛盾糾紛948件。"
    passages = [_passage(1, text, "rugao-2023.txt", "rugao-2023", city="如皋市", year="2023")]
    quote = "2023年，基層司法所牽頭化解各類矛盾糾紛948件。"
    wrong = Draft(sentences=(("948件。", (1,)),), quotes=((1, quote),))
    assert verify(Q("如皋市2023年排查问题线索多少条？"), wrong, passages, "llm").refused
    right = Draft(sentences=(("排查问题线索35条。", (1,)),), quotes=((1, "排查問題線索35條"),))
    assert not verify(Q("如皋市2023年排查问题线索多少条？"), right, passages, "llm").refused


def test_half_of_a_two_part_question_says_which_part_is_missing() -> None:
    question = "苏州市2023年人民调解组织化解纠纷多少件，行政执法案卷评查抽取了多少份案卷？"
    half = Draft(sentences=(("化解纠纷246357件[3]。", (3,)),), quotes=((3, SUZHOU),))
    partial = verify(Q(question), half, PASSAGES, "llm")
    assert not partial.refused and "246357" in partial.answer
    assert partial.notes == ("所提供的文件中没有“行政执法案卷评查抽取了多少份案卷”的信息，以上只回答了问题的其余部分。",)
    unrelated = Draft(sentences=(("化解纠纷246357件[3]。", (3,)),), quotes=((3, SUZHOU),))
    assert verify(Q("苏州市行政复议纠错多少件，行政执法案卷评查抽取了多少份案卷？"), unrelated, PASSAGES, "llm").refused
    # the same sentence fully answers the one-part question
    assert not verify(Q("苏州市2023年人民调解组织化解纠纷多少件？"), half, PASSAGES, "llm").refused
    both = _passage(4, "全市行政执法案卷评查共抽取案卷160份。", "suzhou-2023.txt", "suzhou-2023", offset=1200,
                    city="苏州市", year="2023")
    full = Draft(sentences=(("化解纠纷246357件[3]，抽取案卷160份[4]。", (3, 4)),),
                 quotes=((3, SUZHOU), (4, "全市行政执法案卷评查共抽取案卷160份。")))
    answered = verify(Q(question), full, [*PASSAGES, both], "llm")
    assert not answered.refused and not answered.notes


def test_a_sentence_naming_no_place_speaks_for_its_own_documents_city() -> None:
    """A Suzhou paragraph that mentions Taicang does not make Suzhou's figure Taicang's."""
    text = "太仓市、昆山市等地积极参与。" + SUZHOU
    suzhou = [_passage(1, text, "suzhou-2023.txt", "suzhou-2023", city="苏州市", year="2023")]
    claim = Draft(sentences=(("全市人民调解组织共化解纠纷246357件", (1,)),), quotes=((1, SUZHOU[:38]),))
    assert verify(Q("太仓市2023年人民调解组织共化解纠纷多少件？"), claim, suzhou, "llm").refused
    assert not verify(Q("苏州市2023年人民调解组织共化解纠纷多少件？"), claim, suzhou, "llm").refused
    named = "2023年，太仓市人民调解组织共化解纠纷8850件。"
    passage = [_passage(1, named, "suzhou-2023.txt", "suzhou-2023", city="苏州市", year="2023")]
    ok = verify(Q("太仓市2023年人民调解组织共化解纠纷多少件？"),
                Draft(sentences=((named, (1,)),), quotes=((1, named),)), passage, "llm")
    assert not ok.refused and "8850件" in ok.answer  # the sentence itself names Taicang


def test_a_quoted_name_in_the_question_must_be_in_the_support() -> None:
    assert Q("哪个城市打造了“亭满意”营商环境品牌？").quoted == ("亭满意",)
    assert Q("《苏州市优化营商环境条例》何时施行？").quoted == ("苏州市优化营商环境条例",)
    text = "（二）打造最优营商环境，构筑最佳比较优势。"
    passage = [_passage(1, text, "suzhou-2023.txt", "suzhou-2023", city="苏州市", year="2023")]
    draft = Draft(sentences=((text, (1,)),), quotes=((1, text),))
    assert verify(Q("哪个城市打造了“亭满意”营商环境品牌？"), draft, passage, "llm").refused


def test_answer_types_a_sentence_must_fit() -> None:
    from rag.answer.verify import fits_answer_type
    from rag.text.normalize import search_key as k

    # how many: a year or a numeral naming something is no count; the asked unit must be counted
    assert not fits_answer_type(Q("常熟市人民调解委员会受理调处矛盾纠纷多少件？"), k("2015年以来，本市按照人民调解工作方针开展工作。"))
    assert not fits_answer_type(Q("常熟市有多少名行政执法人员通过资格审查？"), k("落实行政执法“三项制度”，加强资格管理。"))
    assert fits_answer_type(Q("太仓市企业开办的费用和时间是多少？"), k("企业开办“0费用,0.5天”速度领跑全省。"))
    assert not fits_answer_type(Q("天长市有多少个行政执法主体向社会公布？"), k("聘请了10名政府特邀行政执法监督员。"))
    assert fits_answer_type(Q("天长市行政执法证考试有多少人通过？"), k("共有196名工作人员参加考试，171人通过考试。"))
    assert fits_answer_type(Q("滁州市2025年抽查了多少份行政执法案卷？"), k("共抽查案卷417份。"))  # the head noun counts
    assert not fits_answer_type(Q("太仓市目前已建立多少个调解组织？"), k("5级调解组织建设，充分发挥13个专业调委会、293个调解室作用。"))
    # a rate wants a percentage
    assert not fits_answer_type(Q("苏州市行政复议直接纠错率是多少？"), k("发布“2022年度苏州市行政复议十大案例”。"))
    assert fits_answer_type(Q("常熟市行政复议直接纠错率是多少？"), k("复议直接纠错率7.9%。"))
    # figures and dates the question states must be there
    assert Q("哪个城市出具知识产权类公证书360件？").stated == ("360件",)
    assert not fits_answer_type(Q("常熟市在2020年8月获得了什么称号？"), k("2018年获评首批“国际湿地城市”。"))
    # who: a person in the asked role, or a role as the answer
    assert not fits_answer_type(Q("如皋市司法局局长是谁？"), k("如皋市司法局坚持以习近平新时代中国特色社会主义思想为指导。"))
    assert fits_answer_type(Q("谁为天长市颁发了奖牌？"), k("受中央全面依法治国委员会委托，省委书记为天长市颁发了奖牌。"))


def test_which_city_is_answered_with_the_documents_subject() -> None:
    text = "五是反映了全市生态环境建设情况，2018年获评首批“国际湿地城市”。"
    passage = [_passage(1, text, "changshu-2020.txt", "新闻发布厅第六十七期", city="常熟市", year="2020")]
    answer = verify(Q("哪个城市获评首批“国际湿地城市”？"), Draft(sentences=((text, (1,)),), quotes=((1, text),)), passage, "llm")
    assert not answer.refused and answer.answer.startswith("常熟市：") and answer.citations[0].quote in text
    assert Q("哪个城市获评首批“国际湿地城市”？").subject_terms == ()  # "城市" names no place


def test_honour_and_name_questions_want_a_conferral_and_a_quoted_name() -> None:
    from rag.answer.verify import anchored, fits_answer_type
    from rag.text.normalize import search_key as k

    assert Q("天长市获得过什么荣誉？").content_words == () and anchored(Q("天长市获得过什么荣誉？"))
    assert fits_answer_type(Q("天长市获得过什么荣誉？"), k("2020年8月被评为首批“全国法治政府建设示范市（县、区）”。"))
    assert not fits_answer_type(Q("天长市获得过什么荣誉？"), k("天长市召开2021年度联席会议。"))
    assert fits_answer_type(Q("天长市的营商环境品牌是什么？"), k("1、以打造“亭满意”营商环境为抓手"))
    assert not fits_answer_type(Q("天长市的营商环境品牌是什么？"), k("持续优化营商环境。"))
    assert not anchored(Q("天长市怎么样？"))


def test_a_count_of_a_named_thing_accepts_its_own_classifier() -> None:
    from rag.answer.verify import fits_answer_type
    from rag.text.normalize import search_key as k

    q = Q("如皋市新设了多少个村居法律援助联络点？")
    assert q.counted == "络点" and q.places == ("如皋",)
    assert fits_answer_type(q, k("新增建设8家村居法律援助联络点，法律援助联系点建设覆盖率达85%以上。"))
    assert not fits_answer_type(q, k("新增8名村居法律援助工作人员。"))  # a person's classifier never counts things
    assert Q("如皋市为镇街合法性审查出台了几个实施细则？").places == ("如皋",)  # 镇街 is no place


class _Model:
    """A stand-in for the packaged model read as a choice: fixed logits for "0" (none) and for each
    numbered sentence (the real model is used in test_answer_llm)."""

    def __init__(self, none: float, numbers: list[float]) -> None:
        self.none, self.numbers, self.asked = none, numbers, []

    def choice(self, messages, options) -> list[float]:
        self.asked.append(messages[-1]["content"])
        assert list(options) == ["0"] + [str(i) for i in range(1, len(options))]
        return [self.none] + self.numbers[: len(options) - 1] + [0.0] * max(0, len(options) - 1 - len(self.numbers))


def _reader(model: _Model):
    from rag.answer.reader import Reader
    return Reader(model, margin=2.0, max_candidates=5, sentence_chars=120)


def test_the_reader_decides_only_what_the_lexical_gate_cannot() -> None:
    from rag.answer.extractive import draft_extractive

    text = "紧盯败诉率7%以内的目标，健全“事前、事中、事后”全过程压降机制。"
    passages = [_passage(1, text, "rugao-2023.txt", "rugao-2023", city="如皋市", year="2023")]
    q = Q("如皋市把行政诉讼败诉率控制在多少以内？")  # too few of its words are in the sentence
    assert verify(q, draft_extractive(q, passages), passages, "extractive").refused
    yes, no = _Model(0.0, [3.0]), _Model(0.0, [1.0])
    answer = verify(q, draft_extractive(q, passages, reader=_reader(yes)), passages, "extractive")
    assert not answer.refused and "7%" in answer.answer and "1. 紧盯败诉率7%" in yes.asked[0]
    assert verify(q, draft_extractive(q, passages, reader=_reader(no)), passages, "extractive").refused
    # never asked about another city, nor where the sentence gives no rate at all
    other = _Model(0.0, [9.0])
    q2 = Q("太仓市把行政诉讼败诉率控制在多少以内？")
    assert verify(q2, draft_extractive(q2, passages, reader=_reader(other)), passages, "extractive").refused
    assert other.asked == []


def test_the_reader_picks_among_numbered_sentences_or_none() -> None:
    """The sentence whose number leads "0" by the margin is chosen; the best of several, never one
    below the margin; without a model (LLMUnavailableError) nothing is chosen."""
    from rag.llm.base import LLMUnavailableError

    q = Q("天长市行政诉讼输了几场官司？")
    sentences = ["全年共办理行政复议案件31件。", "全年以市政府为被告的行政诉讼案件无一败诉。"]
    assert _reader(_Model(0.5, [1.0, 4.0])).choose(q, sentences) == 1
    assert _reader(_Model(0.5, [1.0, 2.0])).choose(q, sentences) is None  # leads "0" by 1.5 only
    assert _reader(_Model(5.0, [4.0, 4.5])).choose(q, sentences) is None  # "none" wins

    class Down:
        def choice(self, messages, options):
            raise LLMUnavailableError("model process down")

    assert _reader(Down()).choose(q, sentences) is None


EXAM = ("截至目前，全市共有196名行政执法机关工作人员参加了行政执法证考试，171人通过考试；"
        "通过安徽省法制监督平台申领行政执法证件的有效人数为925人。")
GROUPS = "市委依法治市委员会设立立法参与、守法普法、执法协调、司法协调4个协调小组，统筹推进各项工作。"


def test_a_claim_saying_less_than_its_sentence_of_what_was_asked_stands_as_the_sentence() -> None:
    passages = [_passage(1, EXAM, "tianchang-2021.txt", "天长市法治创建工作案例", city="天长市"),
                _passage(2, GROUPS, "taicang-2022.txt", "太仓深化全面依法治国战略的生动实践", city="太仓市")]
    # the model gave the first of two counts of people and quoted its clause: which count answers
    # "考过了" is the reader's to see, so the whole sentence is the answer and the quote
    part = "截至目前，全市共有196名行政执法机关工作人员参加了行政执法证考试"
    draft = Draft(sentences=((part + "。", (1,)),), quotes=((1, part),))
    answer = verify(Q("天长市有多少人考过了行政执法证考试？"), draft, passages, "llm")
    assert "171人通过考试" in answer.answer and "171人通过考试" in answer.citations[0].quote
    # a claim giving every count of the asked unit that its sentence gives stays as written
    draft = Draft(sentences=(("天长市有925人申领了有效的行政执法证件。", (1,)),),
                  quotes=((1, "通过安徽省法制监督平台申领行政执法证件的有效人数为925人"),))
    answer = verify(Q("天长市申领行政执法证件的有效人数是多少人？"), draft, passages, "llm")
    assert answer.answer == "天长市有925人申领了有效的行政执法证件。[1]"
    # which ones: a count of them is no list
    draft = Draft(sentences=(("4个协调小组", (2,)),), quotes=((2, "4个协调小组"),))
    answer = verify(Q("太仓市依法治市委员会设立了哪几个协调小组？"), draft, passages, "llm")
    assert "立法参与、守法普法" in answer.answer and answer.citations[0].quote == GROUPS


def test_what_a_count_question_says_they_did_ends_in_what_it_was_done_to() -> None:
    from rag.answer.verify import fits_answer_type
    from rag.text import search_key

    q = Q("苏州市有多少名行政执法机关工作人员参加了行政执法证考试？")
    assert fits_answer_type(q, search_key("全市共有196名行政执法机关工作人员参加了行政执法证考试。"))
    assert not fits_answer_type(q, search_key("组织全市市级机关新申领行政执法证件人员272人参加线上线下公共法律知识培训。"))


def test_a_slipped_citation_number_is_checked_against_the_passage_the_basis_quotes() -> None:
    quote = "该市取得了可喜成绩，2020年8月被评为首批“全国法治政府建设示范市（县、区）”。"
    draft = parse_llm_output(f"回答：天长市2020年8月被评为首批全国法治政府建设示范市[3]。\n依据：\n[1] 「{quote}」")
    answer = verify(Q("天长市何时被评为全国法治政府建设示范市？"), draft, PASSAGES, "llm")
    assert not answer.refused and answer.answer.endswith("[1]") and [c.n for c in answer.citations] == [1]
    # the basis vouches only for what it quotes: an invented figure is still dropped
    draft = parse_llm_output(f"回答：天长市2021年8月被评为示范市[3]。\n依据：\n[1] 「{quote}」")
    assert verify(Q("天长市何时被评为全国法治政府建设示范市？"), draft, PASSAGES, "llm").refused
