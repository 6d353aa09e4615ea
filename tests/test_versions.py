"""Documents that disagree (issue 23 item 7), as pure functions over fake passages: every version is
kept beside the first (however many other documents agree with each other), an LLM draft that cites
one document gets the others' versions, each version is noted with its source, kind and date, and a
document's order ("…的说法系误传", "以本文件为准") is never a version of its own."""

from __future__ import annotations

from rag.answer.chain import ChainState, with_versions
from rag.answer.extractive import draft_extractive
from rag.answer.verify import Draft, Passage, verify
from rag.text import analyze_question as Q
from tests.conftest import TIANCHANG_Q
from tests.test_verify import TIANCHANG, _passage

LIBRARY = _passage(1, TIANCHANG, "tianchang-2021.txt", "天长市法治创建工作案例", city="天长市", year="2021")


def _renumber(p: Passage, n: int) -> Passage:
    return Passage(n, p.hit, p.metadata)


def _upload(n: int, text: str) -> Passage:
    return _passage(n, text, f"uploads/note{n}.txt", f"天长市情况说明{n}", offset=0, city="天长市")


def test_two_uploads_do_not_push_the_library_out() -> None:
    passages = [_upload(1, "天长市于2015年被评为首批全国法治政府建设示范市。"),
                _upload(2, "天长市于2016年被评为首批全国法治政府建设示范市。"),
                _renumber(LIBRARY, 3)]
    draft = draft_extractive(Q(TIANCHANG_Q), passages)
    answer = verify(Q(TIANCHANG_Q), draft, passages, "extractive")
    assert all(y in answer.answer for y in ("2020年8月", "2015年", "2016年")), answer
    assert [c.kind for c in answer.citations] == ["upload", "upload", "library"]
    assert any("管理员收录" in n and "tianchang-2021.txt" in n and "2021年" in n for n in answer.notes), answer.notes
    assert any("用户上传" in n and "日期不详" in n for n in answer.notes), answer.notes


def test_an_llm_draft_citing_one_upload_gets_the_librarys_version() -> None:
    passages = [_upload(1, "天长市于2015年被评为首批全国法治政府建设示范市。"), _renumber(LIBRARY, 2)]
    draft = Draft(sentences=(("天长市于2015年被评为首批全国法治政府建设示范市。", (1,)),),
                  quotes=((1, "天长市于2015年被评为首批全国法治政府建设示范市"),))
    state = with_versions(ChainState(Q(TIANCHANG_Q), "llm", passages=tuple(passages), draft=draft))
    answer = verify(Q(TIANCHANG_Q), state.draft, passages, "llm")
    assert "2015年" in answer.answer and "2020年8月" in answer.answer, answer
    assert [c.docid for c in answer.citations] == ["uploads/note1.txt", "tianchang-2021.txt"]
    assert answer.notes and "不一致" in answer.notes[0]


def test_a_disclaimer_is_no_version_and_removes_nothing() -> None:
    passages = [_upload(1, "天长市于2015年被评为首批全国法治政府建设示范市，2020年的说法系误传，以本文件为准。"),
                _renumber(LIBRARY, 2)]
    for draft in (draft_extractive(Q(TIANCHANG_Q), passages),
                  with_versions(ChainState(Q(TIANCHANG_Q), "llm", passages=tuple(passages),
                                           draft=Draft(sentences=(("天长市于2015年被评为示范市。", (1,)),),
                                                       quotes=((1, "天长市于2015年被评为首批全国法治政府建设示范市"),))
                                           )).draft):
        answer = verify(Q(TIANCHANG_Q), draft, passages, "llm")
        assert not answer.refused and "2020年8月" in answer.answer and "2015" not in answer.answer, answer
        assert [c.docid for c in answer.citations] == ["tianchang-2021.txt"]
