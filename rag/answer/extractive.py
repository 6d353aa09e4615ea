"""Extractive answers: the best supporting source sentences themselves, cited. No LLM needed.

A sentence qualifies when it covers most of what the question asks about (its content words,
beyond the place and year that the verifier checks separately) and, for a how-many / when
question, actually contains a number / a date. Otherwise the draft is empty and the answer is a
refusal: returning a loosely related sentence would be a wrong answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rag.answer.verify import (HAS_DATE, MIN_COVERAGE, Draft, Passage, about_subject, anchored, answers_as_asked, asked_facts,
                               beyond_title,
                               fits_answer_type, labelled, stands_for_document)
from rag.models import Question
from rag.text.frontmatter import FULL_DATE
from rag.text import HEADING_START, TABLE_CELL_GAP, coverage, directive_sentences, found, gives_orders, search_key, sentence_spans

if TYPE_CHECKING:
    from rag.answer.reader import Reader


def draft_extractive(question: Question, passages: Sequence[Passage], max_sentences: int = 3,
                     reader: Reader | None = None) -> Draft:
    """Pick source sentences that together cover the question, each citing its passage.

    A compound question is drafted part by part (each part with its own answer kind, so "多少天"
    and "多少名" each get a sentence that counts the right thing); the verifier then says which
    part the documents do not give. A list question ("采取了哪些措施") whose best sentence only
    names the measure ("三是加快推进政务诚信建设。") gets the sentences that follow it.
    """
    if question.compound:
        chosen: dict[tuple[int, str], None] = {}
        for part in question.parts:
            for n, sentence in _draft_one(part, _candidates(part, passages), 1, _docids(passages)):
                chosen[(n, sentence)] = None
        pairs = list(chosen)
        return Draft(sentences=tuple((s, (n,)) for n, s in pairs), quotes=tuple(pairs))
    candidates = _candidates(question, passages)
    chosen_list = _draft_one(question, candidates, max_sentences, _docids(passages)) or _run_of(question, candidates)
    if "list" in question.kinds and len(chosen_list) > 1 and (items := _items_after(*chosen_list[0], passages)):
        # a short lead ("二是突出学法重点内容。", "二、基本原则") is answered by the items under it, not by
        # sentences elsewhere that happen to hold the question's other words
        chosen_list = [chosen_list[0], *items]
    if not chosen_list and reader is not None and (
            by_meaning := _read(question, _candidates(question, passages, by_meaning=True), reader)):
        return Draft(sentences=((by_meaning[1], (by_meaning[0],)),), quotes=(by_meaning,), judged=True)
    rivals = _rivals(chosen_list, question, candidates, passages) if len(chosen_list) == 1 else []
    if rivals:
        chosen_list.extend(rivals)
    elif len(chosen_list) == 1 and (datelines := _other_datelines(*chosen_list[0], question, candidates, passages)):
        chosen_list.extend(datelines)
    elif "list" in question.kinds and len(chosen_list) == 1:
        chosen_list.extend(_items_after(*chosen_list[0], passages))
    return Draft(sentences=tuple((s, (n,)) for n, s in chosen_list), quotes=tuple((n, s) for n, s in chosen_list),
                 conflict=bool(rivals))


def other_versions(question: Question, passages: Sequence[Passage], answered: Sequence[tuple[int, str]]) -> list[tuple[int, str]]:
    """Source sentences of other documents that answer ``question`` as well as the ``answered``
    (passage number, answer sentence) pairs but with other figures or dates: what a generated
    answer must show beside its own, so that no document, however it is worded, keeps another's
    statement out of the answer (see _rivals)."""
    if question.compound or not answered:
        return []
    return _rivals(list(answered), question, _candidates(question, passages), passages)


def _docids(passages: Sequence[Passage]) -> dict[int, str]:
    return {p.n: p.hit.chunk.docid for p in passages}


def _candidates(question: Question, passages: Sequence[Passage], by_meaning: bool = False) -> list[tuple]:
    """(rank, offset, n, sentence, key, context key, words asked) of every sentence and heading
    that gives the kind of answer asked, about the asked subject (``by_meaning``: for the reader,
    which judges what the checks of wording judge by words); the words asked are those beyond the
    passage's own title (see verify.beyond_title), which rank the first sentence."""
    terms = question.subject_terms
    candidates = []
    for rank, p in enumerate(passages):
        if not about_subject([p], terms):
            continue  # another city or year: the verifier would reject it anyway
        chunk = p.hit.chunk
        context_key = search_key(p.context)
        title_key = search_key(p.hit.title)
        # () when the title holds every word asked: the question is about the document itself
        # ("清水区2023年政府工作报告是谁作的"), which any sentence of it answers for
        asked = beyond_title(question.content_words, title_key) if not all(
            found(w, title_key) for w in question.content_words) else ()
        # the passage's sentences and its heading (which may state the fact: "以打造“亭满意”营商环境为抓手")
        # (on a tie a sentence of the passage wins: the heading is ordered after them)
        orders = set(directive_sentences(chunk.text))
        spans = [(s, chunk.text[s:e]) for s, e in sentence_spans(chunk.text) if (s, e) not in orders]
        spans += [(len(chunk.text), p.heading)] if p.heading and not gives_orders(p.heading) else []
        for s, sentence in spans:
            key = search_key(sentence)
            if len(key) < 6 or not answers_as_asked(question, [p], sentence, terms, by_meaning):
                continue
            if stands_for_document(question, sentence, p.hit.title):
                key = labelled(key, search_key(p.hit.title))  # its number or date says what its title says
            candidates.append((rank, s, p.n, sentence, key, context_key, asked))
    return candidates


#: How much more a sentence one passage lower in retrieval's order must cover to be chosen first.
RANK_STEP = 0.06


def _draft_one(question: Question, candidates: list[tuple], max_sentences: int,
               docid_of: dict[int, str]) -> list[tuple[int, str]]:
    """The best-covering sentence first; further sentences of the same document only while they
    themselves cover content words still uncovered (a question asking two things gets two sentences)."""
    chosen: list[tuple[int, str]] = []
    covered: set[str] = set()
    words = question.content_words
    while len(chosen) < max_sentences:
        best = None
        for rank, s, n, sentence, key, context_key, asked in candidates:
            if (n, sentence) in chosen:
                continue
            if chosen and docid_of.get(n) != docid_of.get(chosen[0][0]):
                continue  # an answer is one document's: another's figures are a rival, shown as such
            new = [w for w in words if w not in covered]
            # what a further sentence adds it must say itself: its passage's title said it already
            gain = coverage(new, key, context_key if not chosen else "") * len("".join(new)) / max(len("".join(words)), 1)
            # a question about the document itself (its deliverer, its date, its number) is covered by
            # the document's title: the kind of answer decides (the signature "…区长 王建国")
            total = 1.0 if not asked and words and anchored(question) else coverage(words, key, context_key)
            # the first sentence is the one saying most of what is asked beyond its document's name:
            # a sentence quoting the title again ("为贯彻落实《…实施方案》") says nothing asked
            beyond = coverage(asked or words, key, "") if not chosen else gain
            # on a tie a sentence beats a table row: "年末全县常住人口为31.0万人" gives the unit its
            # row ("全县常住人口 | 31.0 | 100.0 |") leaves to the table's header
            # retrieval's order counts too: a sentence of a lower passage must cover clearly more
            # (RANK_STEP a place) to be chosen over one of the passage retrieval found best
            score = (beyond - RANK_STEP * rank if not chosen else beyond, gain, total,
                     not TABLE_CELL_GAP.search(sentence), -rank, -s)
            if best is None or score > best[0]:
                best = (score, n, sentence, key)
        if best is None:
            break
        (_, gain, total, *_), n, sentence, key = best
        if not words and not chosen and anchored(question):
            # nothing left to match but the kind of answer: the best-ranked sentence of that kind
            # about the subject (every candidate already fits the answer type and the subject)
            chosen.append((n, sentence))
            break
        if (not chosen and total < MIN_COVERAGE) or (chosen and gain < 0.2):
            break
        chosen.append((n, sentence))
        # the counted thing is covered by a sentence that counts it (the answer type was checked)
        covered.update(w for w in words if found(w, key) or (question.counted and w.endswith(question.counted)))
    return chosen


#: What a run of neighbouring sentences must cover together to answer an open question, and what
#: each of them must cover alone (it is part of the answer, not filler between two halves).
RUN_COVERAGE, RUN_MEMBER_COVERAGE, _RUN_LENGTH = 0.75, 0.25, 3


def _run_of(question: Question, candidates: list[tuple]) -> list[tuple[int, str]]:
    """Neighbouring sentences of one passage that together cover an open question ("北京市中小学校
    和托幼机构开学前应做哪些准备工作？" is answered by a heading and its items, none of which says
    all of it): only for a question asking no checkable kind (what measures, what requirements, how),
    the run at most three sentences, covering more together than one sentence must alone, each of
    them covering some of it itself."""
    if question.compound or set(question.kinds) - {"list"} or len(question.content_words) < 2:
        return []
    words = question.content_words
    by_passage: dict[int, list[tuple]] = {}
    for c in candidates:
        by_passage.setdefault(c[2], []).append(c)
    best: tuple[float, int, list[tuple[int, str]]] | None = None
    for n, sentences in by_passage.items():
        sentences.sort(key=lambda c: c[1])
        for i in range(len(sentences)):
            for size in range(2, _RUN_LENGTH + 1):
                run = sentences[i:i + size]
                if len(run) < size or any(coverage(words, c[4], "") < RUN_MEMBER_COVERAGE for c in run):
                    continue
                total = coverage(words, "\n".join(c[4] for c in run), run[0][5])
                if total >= RUN_COVERAGE and (best is None or (total, -run[0][0]) > (best[0], -best[1])):
                    best = (total, run[0][0], [(c[2], c[3]) for c in run])
    return best[2] if best else []


def _read(question: Question, candidates: list[tuple], reader: Reader) -> tuple[int, str] | None:
    """The candidate the reader finds answers the question by meaning, when no sentence covered
    enough of its words. Every candidate already gives the kind of answer asked about the asked
    subject; the reader sees short windows of them (a work report's sentence runs to hundreds of
    characters), those that still give the kind of answer asked, best-covering first, and the
    answer is the whole sentence of the window it chose (a paraphrase may share no word with the
    question: "物价涨了多少" is answered by "居民消费价格比上年上涨2.4%")."""
    if question.compound or not candidates:
        return None
    words = question.content_words
    windows: dict[str, tuple[float, int, int, int, str]] = {}
    for rank, s, n, sentence, _, context_key, _ in candidates:
        for window in _windows(sentence, reader.sentence_chars):
            key = search_key(window)
            if window not in windows and fits_answer_type(question, key, by_meaning=True):
                windows[window] = (-coverage(words, key, context_key), rank, s, n, sentence)
    shown = sorted(windows, key=windows.__getitem__)[: reader.max_candidates]
    chosen = reader.choose(question, shown)
    return None if chosen is None else windows[shown[chosen]][3:]


#: Where a long sentence is cut into the reader's windows: after a comma or a semicolon.
_CLAUSE_END = re.compile(r"(?<=[，,；;：:])")


def _windows(sentence: str, size: int) -> list[str]:
    """``sentence`` itself when it is short, else runs of its clauses of at most ``size`` characters."""
    if len(sentence) <= size:
        return [sentence]
    out, run = [], ""
    for clause in _CLAUSE_END.split(sentence):
        if run and len(run) + len(clause) > size:
            out.append(run)
            run = ""
        run += clause[:size]
    return out + ([run] if run else [])


#: The next enumerated item of a list written as prose, e.g. "四是完善…", "其次，…", "此外…".
_NEXT_ITEM = re.compile(r"^(?:[一二三四五六七八九十]+是|其次|再次|最后|此外|另外|同时)")

#: The figures a sentence gives: dates ("2020年8月") for when-questions, numbers for how-many.
_DATE_FACT = re.compile(r"\d{4}年(?:\d{1,2}月)?|\d{1,2}月\d{1,2}日")
_NUMBER_FACT = re.compile(r"\d+(?:\.\d+)?")
_RIVAL_MARGIN = 0.15


#: The most versions shown beside the first answer when documents disagree.
_MAX_VERSIONS = 3


def _rivals(chosen: list[tuple[int, str]], question: Question, candidates: list[tuple],
            passages: Sequence[Passage]) -> list[tuple[int, str]]:
    """Sentences from other documents that answer the same question about the same subject just as
    well as the chosen ones but with other figures: the documents disagree, and every version is
    shown with its source rather than one picked silently (a planted "2015" must not hide the
    genuine "2020", nor the reverse). One sentence per document and per set of figures, best-covering
    first; a version is another when its figures are neither all among nor all of one already shown."""
    needs, words = asked_facts(question), question.content_words
    if not chosen or not needs or not question.subject_terms:
        return []
    pattern = _DATE_FACT if HAS_DATE in needs else _NUMBER_FACT
    docid = {p.n: p.hit.chunk.docid for p in passages}
    keys = {s: key for _, _, _, s, key, _, _ in candidates}
    covers = [coverage(words, key, ctx) for _, _, n, s, key, ctx, _ in candidates if (n, s) in chosen]
    best_total = max(covers, default=MIN_COVERAGE)
    shown = [set(pattern.findall(keys.get(s) or search_key(s))) for _, s in chosen]
    docs = {docid[n] for n, _ in chosen if n in docid}
    ranked = sorted(candidates, key=lambda c: (-coverage(words, c[4], c[5]), c[0], c[1]))
    out: list[tuple[int, str]] = []
    for _, _, n, sentence, key, context_key, _ in ranked:
        if len(out) == _MAX_VERSIONS:
            break
        if docid[n] in docs or any(sentence == s for _, s in chosen):
            continue
        facts = set(pattern.findall(key))
        if not facts or any(facts <= f or f <= facts for f in shown if f):
            continue
        if coverage(words, key, context_key) >= max(MIN_COVERAGE, best_total - _RIVAL_MARGIN):
            out.append((n, sentence))
            shown.append(facts)
            docs.add(docid[n])
    return out


def _other_datelines(n: int, sentence: str, question: Question, candidates: list[tuple],
                     passages: Sequence[Passage]) -> list[tuple[int, str]]:
    """When a document's own date line answers when it was issued, its other date lines with other
    dates: a page's 发布日期 and the notice's signing date (落款) are both "when", and the reader sees
    each with its label rather than one picked for them."""
    by_n = {p.n: p for p in passages}
    if not stands_for_document(question, sentence, by_n[n].hit.title):
        return []
    dates = set(FULL_DATE.findall(search_key(sentence)))
    docid = by_n[n].hit.chunk.docid
    for _, _, m, other, key, _, _ in candidates:
        if by_n[m].hit.chunk.docid == docid and other != sentence and stands_for_document(question, other, by_n[m].hit.title):
            found_dates = set(FULL_DATE.findall(key))
            if found_dates and not found_dates & dates:
                return [(m, other)]
    return []


#: How much a list answer may add after the sentence naming the measure (characters, sentences).
_LIST_BUDGET, _LIST_ITEMS = 320, 5


def _items_after(n: int, lead: str, passages: Sequence[Passage]) -> list[tuple[int, str]]:
    """The sentences that follow a lead naming a measure, up to the next enumerated item ("四是",
    "（二）") or the budget: what "采取了哪些措施" asks for. Only for a short lead: a long
    sentence already says what was done."""
    p = next(p for p in passages if p.n == n)
    text = p.hit.chunk.text
    if len(lead) > 40:
        return []
    spans = sentence_spans(text)
    at = next((i for i, (s, e) in enumerate(spans) if text[s:e] == lead), None)
    if at is None:  # the lead is the passage's heading: its items are the passage itself
        if lead != p.heading:
            return []
        at = -1
    items, used = [], 0
    orders = set(directive_sentences(text))
    for s, e in spans[at + 1:]:
        sentence = text[s:e]
        if _NEXT_ITEM.match(sentence) or HEADING_START.match(sentence) or used + len(sentence) > _LIST_BUDGET:
            break
        if (s, e) in orders or len(search_key(sentence)) < 6:
            continue
        items.append((n, sentence))
        used += len(sentence)
        if len(items) == _LIST_ITEMS:
            break
    return items
