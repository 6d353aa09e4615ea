"""Answers end to end on the real index and models: extractive, the packaged LLM, and an
OpenAI-compatible server (llama.cpp's own) on loopback."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.answer.chain import AnswerChain, ChainState
from rag.text import analyze_question, evidence_windows, focus_window
from rag.config import Settings
from rag.index.store import Store
from rag.llm.base import ChatModel
from rag.retrieve import Retriever
from tests.conftest import DOCS, ROOT, TIANCHANG_Q, TIANCHANG_Q_TRAD
from tests.files import check_in_original


@pytest.fixture(scope="module")
def chain(docs_index: Settings, e5) -> AnswerChain:
    return AnswerChain(docs_index, Retriever.open(docs_index, e5))


def _stored(settings: Settings, docid: str) -> str:
    store = Store(Path(settings.index_dir) / "store.sqlite", readonly=True)
    try:
        doc = store.document(docid)
        assert doc is not None
        return doc.text
    finally:
        store.close()


def test_extractive_tianchang_with_verified_citation(chain: AnswerChain, docs_index: Settings) -> None:
    answer = chain.ask(TIANCHANG_Q, mode="extractive")
    assert not answer.refused and "2020年8月" in answer.answer and "[1]" in answer.answer
    c = answer.citations[0]
    assert c.docid == "tianchang-2021.txt" and c.section == "【任务措施】 > （一）大力推进全面依法治市工作"
    assert _stored(docs_index, c.docid)[c.start:c.end] == c.quote
    assert answer.mode == "extractive" and answer.latency_ms > 0


def test_traditional_question_traditional_answer(chain: AnswerChain) -> None:
    answer = chain.ask(TIANCHANG_Q_TRAD, mode="extractive")
    assert not answer.refused and "2020年8月" in answer.answer and "評為" in answer.answer
    assert "评为" in answer.citations[0].quote  # the source is simplified and is quoted as written


def test_unanswerable_refused_with_related_passages(chain: AnswerChain) -> None:
    for q in ("天长市的常住人口是多少？", "北京市2022年行政复议案件有多少件？", "今天天气怎么样？"):
        answer = chain.ask(q, mode="extractive")
        assert answer.refused and not answer.citations, q
        assert answer.answer.startswith("所提供的文件中没有")
    assert chain.ask("天长市的常住人口是多少？", mode="extractive").related


def test_answer_json_shape(chain: AnswerChain) -> None:
    data = json.loads(chain.ask(TIANCHANG_Q, mode="extractive").model_dump_json())
    assert set(data) >= {"question", "answer", "refused", "citations", "mode", "latency_ms"}
    assert set(data["citations"][0]) >= {"n", "docid", "chunk_id", "title", "section", "quote", "start", "end"}


def _eval_cli(settings: Settings, evalset: str, out: Path) -> dict:
    """``policyqa eval`` in extractive mode, as a user runs it; its metrics.json."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "POLICYQA_INDEX_DIR": str(settings.index_dir)}
    run = subprocess.run([sys.executable, "-m", "rag.cli", "eval", str(ROOT / "eval" / evalset), "--out", str(out),
                          "--mode", "extractive"], env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr
    return json.loads((out / "metrics.json").read_text())


def test_eval_cli_extractive_on_the_bundled_set(docs_index: Settings, tmp_path: Path) -> None:
    m = _eval_cli(docs_index, "policyqa_eval.jsonl", tmp_path / "run")
    assert m["questions"] >= 60 and m["unanswerable"] >= 10
    assert m["quotes_verbatim_share"] == 1.0
    assert m["wrong_answers"] == 0 and m["refusal_recall"] == 1.0
    assert m["fact_accuracy"] >= 0.95  # measured 1.0 (70 questions)
    lines = (tmp_path / "run" / "answers.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == m["questions"] and json.loads(lines[0])["id"] == "q001"
    assert _every_citation_in_the_original(tmp_path / "run") >= 60
    assert "有问题的在前" in (tmp_path / "run" / "report.html").read_text(encoding="utf-8")


def test_hard_eval_set_no_wrong_answer_and_every_trap_handled(docs_index: Settings, tmp_path: Path) -> None:
    """eval/policyqa_hard.jsonl: paraphrases, other cities, wrong years, false premises, reverse and
    role questions (see eval/make_hard_set.py)."""
    m = _eval_cli(docs_index, "policyqa_hard.jsonl", tmp_path / "hard")
    assert m["questions"] >= 300 and m["quotes_verbatim_share"] == 1.0
    assert m["wrong_answers"] == 0 and m["traps_handled"] == 1.0
    assert m["fact_accuracy"] >= 0.95  # measured 0.966; 首家什么机构 and 行政诉讼败诉率 are still refused
    assert m["by_kind"]["other-city"]["traps_handled"] == 1.0 and m["by_kind"]["reverse"]["fact_accuracy"] >= 0.9
    assert _every_citation_in_the_original(tmp_path / "hard") >= 250


def test_the_second_held_out_set(docs_index: Settings, tmp_path: Path) -> None:
    """eval/policyqa_heldout2.jsonl, written from the documents in other words before it was first
    run (blind: 0.844 facts, 1 wrong; what it found is fixed in general, see the next test)."""
    m = _eval_cli(docs_index, "policyqa_heldout2.jsonl", tmp_path / "heldout2")
    assert m["questions"] >= 60 and m["wrong_answers"] == 0 and m["traps_handled"] == 1.0
    assert m["fact_accuracy"] >= 0.95  # measured 0.978 (江苏省首部… is refused: the document is Suzhou's)


def test_a_count_is_of_the_asked_thing_at_the_asked_level_doing_the_asked_thing(chain: AnswerChain) -> None:
    answer = chain.ask("如皋市镇一级审查了多少份政府合同？", mode="extractive")
    assert not answer.refused and "1151份" in answer.answer and "7份" not in answer.answer  # not the 市级 figure
    answer = chain.ask("天长市的诉前调解中心一共有多少名调解人员？", mode="extractive")  # 调解员 are 调解人员
    assert "23名" in answer.answer and len(answer.citations) == 1
    answer = chain.ask("如皋市今年清理了多少件市政府和市政府办公室的规范性文件？", mode="extractive")
    assert not answer.refused and "75 件" in answer.citations[0].quote
    # "公布…等3个市级重大行政决策事项" counts decisions published, not put online
    assert chain.ask("苏州市有多少个重大行政决策事项放到网上运行了？", mode="extractive").refused


def test_a_named_centre_must_be_in_the_passage(chain: AnswerChain) -> None:
    """Changshu's 563 full-time mediators are no answer about a 诉前调解中心 it does not have (the
    LLM judge once let that through); Tianchang's centre is answered."""
    from rag.answer.verify import answers_as_asked

    question = analyze_question("常熟市诉前调解中心有多少名调解员？")
    state = chain._retrieve(ChainState(question, "extractive"))
    changshu = [p for p in state.passages if "563名" in p.hit.chunk.text]
    assert changshu and not any(answers_as_asked(question, [p], "有专职人民调解员563名", question.subject_terms)
                                for p in changshu)
    answer = chain.ask("天长法院诉前和解中心可以对几类民商事纠纷进行诉前调解？", mode="extractive")
    assert not answer.refused and "21类" in answer.answer


def _every_citation_in_the_original(run: Path) -> int:
    """Every citation (and related passage) of an eval run, found in its file as extracted."""
    answers = [json.loads(line) for line in (run / "answers.jsonl").read_text(encoding="utf-8").splitlines()]
    return check_in_original([c for a in answers for c in (*a["citations"], *a["related"])], DOCS)


def test_the_questions_of_the_answer_issue(chain: AnswerChain, docs_index: Settings) -> None:
    """Worded unlike the documents, about another city, or asking who: answered or refused as the
    documents say, every quote verbatim (a heading is quoted with its own offsets)."""
    honour = chain.ask("天长市获得过什么荣誉？", mode="extractive")
    assert not honour.refused and "全国法治政府建设示范市" in honour.answer
    for q in ("天长市的营商环境品牌是什么？", "哪个城市打造了“亭满意”营商环境品牌？"):
        brand = chain.ask(q, mode="extractive")
        assert not brand.refused and "亭满意" in brand.answer and "天长" in brand.answer + brand.citations[0].title, q
        c = brand.citations[0]
        assert c.quote == "1、以打造“亭满意”营商环境为抓手，营造全市依法用权氛围"
        assert _stored(docs_index, c.docid)[c.start:c.end] == c.quote
    for q in ("天长市的市委书记是谁？", "太仓市2023年全市人民调解组织共化解纠纷多少件？", "苏州市目前已建立多少个调解组织？"):
        assert chain.ask(q, mode="extractive").refused, q


def test_a_list_question_gets_the_measures_and_a_two_part_question_names_its_missing_part(chain: AnswerChain) -> None:
    measures = chain.ask("苏州市在加快推进政务诚信建设方面采取了哪些措施？", mode="extractive")
    assert not measures.refused and measures.citations[0].quote == "三是加快推进政务诚信建设"
    assert len(measures.citations) >= 3 and "信用苏州" in measures.answer  # the sentences under that heading
    assert not any(c.quote.startswith("四是") for c in measures.citations)
    half = chain.ask("太仓市开办企业要多少天，法院诉前调解中心有多少名调解员？", mode="extractive")
    assert not half.refused and "0.5天" in half.answer
    assert half.notes == ("所提供的文件中没有“法院诉前调解中心有多少名调解员”的信息，以上只回答了问题的其余部分。",)


def test_span_format_eval_scores_containment(tmp_path: Path, docs_index: Settings, chain: AnswerChain) -> None:
    from rag.evaluate import metrics, rouge_l, score

    assert rouge_l("2020年8月", "2020年8月") == 1.0 and rouge_l("abc", "xyz") == 0.0
    item = {"qid": "x", "question": TIANCHANG_Q, "answers": ["2020年8月"]}
    s = score(item, chain.ask(TIANCHANG_Q, mode="extractive"), lambda d: _stored(docs_index, d))
    assert s.outcome == "correct"
    assert metrics([s])["containment"] == 1.0


def test_focus_window_keeps_the_answering_sentences() -> None:
    text = ("一、总体要求。坚持依法行政，推进政务公开。" "二、主要成效。天长市2020年8月被评为首批全国法治政府建设示范市。"
            "全年办理行政复议案件120件。" "三、下一步计划。继续深化改革，优化营商环境。")
    start, end = focus_window(text, analyze_question("天长市何时被评为全国法治政府建设示范市？"), 60)
    assert "2020年8月被评为首批" in text[start:end] and end - start <= 60
    assert text[start - 1] in "。" and text[end - 1] == "。"  # whole sentences
    assert focus_window(text, analyze_question("天长市何时被评为示范市？"), 1000) == (0, len(text))


def test_evidence_windows_spend_the_budget_on_the_passages_that_cover_the_question() -> None:
    q = analyze_question("天长市何时被评为全国法治政府建设示范市？")
    answering = "天长市2020年8月被评为首批全国法治政府建设示范市。全年办理行政复议案件120件。" * 3
    partly = "天长市继续深化改革。" * 10
    unrelated = "全市新增市场主体一万户。优化营商环境。" * 5
    texts, contexts = [unrelated, answering, partly], ["", "天长市法治政府建设报告", "天长市工作报告"]
    windows = evidence_windows(texts, contexts, q, total=120, each=60)
    assert windows[0] is None  # covers much less than the best: not worth its prompt time
    start, end = windows[1]
    assert "2020年8月被评为首批" in answering[start:end] and end - start <= 60
    shown = sum(e - s for w in windows if w for s, e in [w])
    assert shown <= 120
    # the best passage keeps its sentence even when that alone is longer than the whole budget
    (start, end), *_ = evidence_windows([answering], [""], q, total=20, each=20)
    assert answering[start:end] == "天长市2020年8月被评为首批全国法治政府建设示范市。"
    # no passage covers the question: the budget goes in retrieval order
    windows = evidence_windows([unrelated, unrelated], ["", ""], analyze_question("太仓市有几个行政执法主体？"), 30, 30)
    assert windows[0] is not None and windows[1] is None


class _ScriptedModel(ChatModel):
    """A stand-in LLM that replies with a fixed text (the real model is tested in test_answer_llm)."""

    name = "scripted"

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.prompts: list[str] = []

    def stream(self, messages: list[dict[str, str]], max_tokens: int = 400) -> Iterator[str]:
        self.prompts.append(messages[-1]["content"])
        yield self.reply


def test_llm_refusal_falls_back_to_verified_source_sentences(docs_index: Settings, e5) -> None:
    settings = docs_index.model_copy(update={"llm_passage_chars": 120})
    retriever = Retriever.open(settings, e5)
    model = _ScriptedModel("回答：资料中没有相关信息。")
    answer = AnswerChain(settings, retriever, model).ask(TIANCHANG_Q, mode="llm")
    assert not answer.refused and answer.mode == "extractive" and "2020年8月" in answer.answer
    c = answer.citations[0]
    assert _stored(settings, c.docid)[c.start:c.end] == c.quote
    # the model saw whole sentences, at most llm_passage_chars of a passage (or one sentence) and
    # llm_prompt_chars (360) in all, the answering sentence among them
    shown = re.findall(r"^\[\d+\] 《[^\n]*\n([^\n]+)", model.prompts[0], flags=re.M)
    assert shown and all(len(t) <= 120 or t.count("。") == 1 for t in shown)
    assert sum(map(len, shown)) <= settings.llm_prompt_chars and any("2020年8月" in t for t in shown)
    assert any(len(h.chunk.text) > 120 for h in retriever.search(TIANCHANG_Q, k=4))  # windows did cut
    # the fallback cannot answer what the documents do not say, and an invented figure is dropped
    invented = _ScriptedModel("回答：天长市常住人口为60万人[1]。\n依据：\n[1] 「天长市常住人口为60万人。」")
    answer = AnswerChain(settings, retriever, invented).ask("天长市的常住人口是多少？", mode="llm")
    assert answer.refused and not answer.citations and "60万" not in answer.answer


def test_the_model_sees_only_passages_about_the_asked_city(docs_index: Settings, e5) -> None:
    retriever = Retriever.open(docs_index, e5)
    model = _ScriptedModel("回答：全市共化解纠纷8850件[1]。")
    answer = AnswerChain(docs_index, retriever, model).ask("北京市人民调解委员会受理调处矛盾纠纷多少件？", mode="llm")
    assert answer.refused and model.prompts == []  # no passage is about 北京: the model is not asked
    AnswerChain(docs_index, retriever, model).ask("太仓市人民调解委员会受理调处矛盾纠纷多少件？", mode="llm")
    titles = re.findall(r"^\[\d+\] 《([^》]*)》", model.prompts[0], flags=re.M)
    assert titles and all("太仓" in t for t in titles)  # other cities' passages were left out


def test_langchain_users_run_it_with_their_message_history(chain: AnswerChain) -> None:
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    from rag.answer.chain import turns

    history = [SystemMessage("你是助手。"), HumanMessage("天长市有多少人通过行政执法证考试？"), AIMessage("171人通过考试。[1]")]
    assert turns(history) == turns([("system", "x"), ("user", "天长市有多少人通过行政执法证考试？"), ("ai", "171人通过考试。[1]")]) \
        == {"history": ["天长市有多少人通过行政执法证考试？"], "history_answers": ["171人通过考试。[1]"]}
    answer = chain.runnable("extractive").invoke({"question": "聘请了多少名特邀行政执法监督员？", "chat_history": history})
    assert answer.understood_as == "天长市聘请了多少名特邀行政执法监督员？" and "10名" in answer.answer
