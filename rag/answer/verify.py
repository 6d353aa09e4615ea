"""Citation checking: pure functions from (question, draft, passages) to what may be shown.

A draft is what a generator proposed: answer sentences citing passages as [n], and quotes per
passage. Nothing of it is trusted. Quotes must be found in the cited passage's stored text (after
the same folding as indexing: width, script, whitespace), or repaired to one unambiguous source
sentence, or dropped. An answer sentence survives only if it cites a verified quote and every
number, date, percentage and quoted name in it occurs in its quotes. The places and years the
question asks about must occur in the supporting passages. If nothing survives, it is a refusal.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from rag.ingest.sheet import row_of_line
from rag.models import SOURCE_KINDS, Answer, Citation, Hit, Question, source_kind
from rag.text.frontmatter import (DATE_LABEL, DATELINE_STATES, DOC_NUMBER, FULL_DATE, ISSUING_VERBS, PAGE_COUNTER,
                                  labels_document, states_metadata)
from rag.text.measures import states_measure
from rag.text.places import lies_within, short_of
from rag.text.written_as import ASKED_PHRASES, WRITTEN_AS
from rag.text import (ADMIN_LEVEL, CJK, POLITICAL_FORMULA, QUOTED, ROLE, contains, coverage, folded, posseg, search_key,
                      found, sentence_spans, steers, to_simplified, to_traditional)

REFUSAL = "所提供的文件中没有关于这个问题的信息。"
REFUSAL_TRAD = "所提供的文件中沒有關於這個問題的信息。"
CONFLICT_NOTE = "各文件对此说法不一致，以下分别列出，请对照引用的原文核实。"
VERSION_NOTE = "说法{i}[{n}]：{docid}《{title}》，{kind}，{date}"
PART_MISSING = "所提供的文件中没有“{part}”的信息，以上只回答了问题的其余部分。"

_CITE = re.compile(r"\s*\[(\d{1,3})\]")
_FACT = re.compile(
    r"\d+(?:[.,]\d+)*\s*(?:%|％)?"
    r"|[零〇一二三四五六七八九十百千万亿两]{1,8}(?=[个项件名次年月日条家批届期类所座人户元倍成])"
    r"|百分之[零〇一二三四五六七八九十点]+"
    r"|《[^》]{1,60}》|“[^”]{2,40}”|「[^」]{2,40}」"
)
#: Share of the question's content (weighted by word length) a sentence + its context must cover.
MIN_COVERAGE = 0.6
@dataclass(frozen=True)
class Draft:
    """A generator's proposal: ``sentences`` as (text without markers, cited numbers)."""

    sentences: tuple[tuple[str, tuple[int, ...]], ...]
    quotes: tuple[tuple[int, str], ...]
    #: the sentences come from documents that give different figures or dates for what was asked
    conflict: bool = False
    #: the reader found the sentence answers the question by meaning, where too few of the
    #: question's words are in it (every other check still applies)
    judged: bool = False


@dataclass(frozen=True)
class Passage:
    """A numbered retrieved passage (n starts at 1) with the document context the checks need."""

    n: int
    hit: Hit
    metadata: dict[str, str] = field(default_factory=dict)
    #: where the passage's own section heading (``hit.chunk.section[-1]``) stands in the document:
    #: policy documents state facts in headings ("以打造“亭满意”营商环境为抓手"), so a heading is
    #: quotable like a sentence of the passage
    heading_start: int | None = None
    #: the names the question quotes that the passage's document holds (a title quoted in the
    #: question may stand in another part of the same document than the answering passage)
    document_names: tuple[str, ...] = ()
    #: where each page of a paged document (PDF, scan) starts in its stored text
    page_starts: tuple[int, ...] = ()
    #: the sheet a spreadsheet's passage is from (its rows' lines say their row: rag.ingest.sheet)
    sheet: str | None = None

    def page_of(self, offset: int) -> int | None:
        """The 1-based page holding a stored-text offset (None for documents without pages)."""
        return bisect.bisect_right(self.page_starts, offset) if self.page_starts else None

    def row_of(self, offset: int) -> int | None:
        """The sheet row whose line holds a stored-text offset (None outside a spreadsheet's rows)."""
        c = self.hit.chunk
        if self.sheet is None or not c.start <= offset < c.end:
            return None
        at = offset - c.start
        return row_of_line(c.text[c.text.rfind("\n", 0, at) + 1:])

    @property
    def heading(self) -> str:
        return self.hit.chunk.section[-1] if self.heading_start is not None else ""

    def source_of(self, start: int, end: int) -> str:
        """The sentences of this passage (chunk or heading) around document offsets start..end."""
        c = self.hit.chunk
        if self.heading_start is not None and self.heading_start <= start and end <= self.heading_start + len(self.heading):
            return self.heading
        return _sentences_around(c.text, start - c.start, end - c.start)

    @property
    def context(self) -> str:
        """Where the subject of a question may be named: title, section, text, city and year."""
        c = self.hit.chunk
        return "\n".join([self.hit.title, " ".join(c.section), c.text, *self.metadata.values()])


_OPEN, _CLOSE = "“‘「『\"'", "”’」』\"'"


def locate_quote(quote: str, source: str) -> tuple[int, int] | None:
    """Offsets of ``quote`` in ``source``: exact after folding, else the one source sentence it
    unambiguously comes from (a truncated or lightly altered quote), else None."""
    q, _ = folded(quote.strip().strip("。"))
    if len(q) < 4:
        return None
    key, index = folded(source)
    at = key.find(q)
    if at >= 0:
        start, end = index[at], index[at + len(q) - 1] + 1
        quote = quote.strip().strip("。")
        if quote[:1] in _OPEN and start > 0 and source[start - 1] in _OPEN:
            start -= 1
        if quote[-1:] in _CLOSE and end < len(source) and source[end] in _CLOSE:
            end += 1
        return start, end
    scored = []
    for s, e in sentence_spans(source):
        sk, _ = folded(source[s:e])
        if not sk:
            continue
        match = SequenceMatcher(None, q, sk, autojunk=False)
        common = sum(b.size for b in match.get_matching_blocks())
        scored.append((common / len(q), common / len(sk), s, e))
    scored.sort(reverse=True)
    if not scored:
        return None
    cover, _, s, e = scored[0]
    runner_up = scored[1][0] if len(scored) > 1 else 0.0
    if cover >= 0.8 and cover - runner_up >= 0.2 and all(contains(source[s:e], f) for f in extract_facts(quote)):
        return s, e  # a repaired quote keeps its figures: "東府〔2021〕54號" is not "粵府〔2021〕13號"
    return None


def extract_facts(text: str) -> list[str]:
    """Numbers, dates, percentages, Chinese numerals with a classifier, 《titles》 and “names”."""
    return [m.group(0).strip() for m in _FACT.finditer(_CITE.sub("", text))]


def to_script_of(question: Question, text: str) -> str:
    """Answer text in the script of the question (quotes are never converted)."""
    if question.traditional:
        return to_traditional(text)
    return to_simplified(text)


def verify(question: Question, draft: Draft, passages: Sequence[Passage], mode: str) -> Answer:
    """Keep only what the passages support; otherwise refuse, listing the passages as related."""
    by_n = {p.n: p for p in passages}
    verified: dict[int, list[Citation]] = {}
    for n, quote in draft.quotes:
        p = by_n.get(n)
        if p is None:
            continue  # citation number out of range
        chunk = p.hit.chunk
        source, offset = chunk.text, chunk.start
        span = locate_quote(quote, source)
        if span is None and p.heading:
            source, offset = p.heading, p.heading_start
            span = locate_quote(quote, source)
        if span is None or steers(source, *span):
            continue
        span = _whole_claim(question, source, *span)
        s, e = offset + span[0], offset + span[1]
        cites = verified.setdefault(n, [])
        if all((c.start, c.end) != (s, e) for c in cites):
            cites.append(_citation(n, p, s, e, source[span[0]:span[1]]))
    terms = question.subject_terms
    kept: list[tuple[str, tuple[int, ...]]] = []
    for text, cited in draft.sentences:
        for n in dict.fromkeys(cited):
            if n in by_n and n not in verified and (span := _sentence_with_facts(text, by_n[n].hit.chunk.text)):
                chunk = by_n[n].hit.chunk
                verified[n] = [_citation(n, by_n[n], chunk.start + span[0], chunk.start + span[1], chunk.text[span[0]:span[1]])]
        support = [n for n in dict.fromkeys(cited) if n in verified]
        if not _holds_facts(text, support, verified):
            # a slip of the number ("2020年8月[3]" beside the basis "[1] 「…2020年8月被评为…」"): the
            # passages the reply's basis quotes stand in, checked as if the model had cited them
            support = [n for n in dict.fromkeys(n for n, _ in draft.quotes) if n in verified and n not in cited]
            if not _holds_facts(text, support, verified):
                continue
        # the quote the sentence is (an extractive draft's sentence is its own quote), else all of them
        # (a quote leaves out its sentence's end mark: "…建立台账" is the sentence "…建立台账。", not to be
        # replaced by every quote of its passage glued together)
        whole = next((c.quote for c in verified[support[0]] if _same_sentence(c.quote, text)),
                     "".join(c.quote for c in verified[support[0]]))
        if _partial(question, text, whole):
            # "1534[1]" says nothing on its own, and "196名…参加了考试" leaves out the "171人通过考试"
            # of the same sentence: the cited sentence that states it is the answer
            text = whole
        # each supported sentence must come from passages about the places and years asked about,
        # and a place must be the document's subject or be named by the cited sentence itself
        sentences = "\n".join(by_n[n].source_of(c.start, c.end) for n in support for c in verified[n])
        support_passages = [by_n[n] for n in support]
        if about_subject(support_passages, terms) and answers_as_asked(question, support_passages, sentences, terms,
                                                                          by_meaning=draft.judged):
            kept.append((text, tuple(support)))
    used = sorted({n for _, ns in kept for n in ns})
    parts = question.parts or (question,)
    if question.elliptical:
        kept = []  # "那常熟呢？" with nothing to inherit asks nothing a sentence could answer
    missing = ([] if draft.judged else _parts_not_answered(question, used, verified, by_n)) if kept else list(parts)
    if len(missing) == len(parts):
        return refusal(question, passages, mode)
    answer = "".join(to_script_of(question, defuse_markers(t)) + "".join(f"[{n}]" for n in ns) for t, ns in kept)
    if "place" in question.kinds:
        # "哪个区…": a sentence about "全区" answers through its document's place, named first
        city = next((by_n[n].metadata.get("city") for n in used if by_n[n].metadata.get("city")), None)
        if city and not contains("".join(t for t, _ in kept), short_of(city)):
            answer = to_script_of(question, f"{city}：") + answer
    if _ASKS_DOCUMENT_YEAR.search(question.key) and not _states_year("".join(t for t, _ in kept)):
        # "哪个年度的报告说…": a sentence that names no year answers through its document, named first
        source = by_n[used[0]]
        if _states_year(source.hit.title):
            answer = f"《{source.hit.title}》：" + answer
        elif year := source.metadata.get("year"):
            answer = to_script_of(question, f"（{year}年的文件）") + answer
    citations = tuple(c for n in used for c in verified[n])
    notes = ((to_script_of(question, CONFLICT_NOTE), *version_notes(question, kept, by_n))
             if draft.conflict and len(kept) > 1 else ())
    notes += tuple(to_script_of(question, PART_MISSING.format(part=p.text.strip("，,；;？? "))) for p in missing)
    return Answer(question=question.text, answer=answer, refused=False, citations=citations, mode=mode, notes=notes,
                  unanswered=tuple(p.text for p in missing))


def version_notes(question: Question, kept: Sequence[tuple[str, tuple[int, ...]]], by_n: dict[int, Passage]) -> list[str]:
    """Where documents disagree, one line per version: the passage it rests on, its document, the
    kind of source (uploaded or indexed by an administrator) and the document's date, so a reader
    can weigh each against the others (none of them is dropped for what another says of it)."""
    lines = []
    for i, (_, cited) in enumerate(kept, 1):
        p = by_n[cited[0]]
        c = _citation(p.n, p, p.hit.chunk.start, p.hit.chunk.start, "")
        line = VERSION_NOTE.format(i=i, n=p.n, docid=c.docid, title=c.title, kind=SOURCE_KINDS[c.kind],
                                   date=f"{c.date}年" if c.date and c.date.isdigit() else (c.date or "日期不详"))
        lines.append(to_script_of(question, line))
    return lines


def _holds_facts(claim: str, support: list[int], verified: dict[int, list[Citation]]) -> bool:
    """Whether the verified quotes of the ``support`` passages hold every fact of the claim."""
    quotes = "\n".join(c.quote for n in support for c in verified[n])
    return bool(support) and all(contains(quotes, f) for f in extract_facts(claim))


def _sentence_with_facts(claim: str, source: str) -> tuple[int, int] | None:
    """A claim cited without a usable quote: the one source sentence holding all its facts, if
    exactly one does (a terse "196名[1]" gets the sentence it came from; anything else, nothing)."""
    facts = extract_facts(claim)
    if not facts:
        return None
    spans = [(s, e) for s, e in sentence_spans(source) if all(contains(source[s:e], f) for f in facts)]
    return spans[0] if len(spans) == 1 and not steers(source, *spans[0]) else None


#: What a claim needs beyond its figures to be read alone: a few words saying what the figure is.
_MIN_WORDS = 4


def _bare(text: str) -> bool:
    """An answer sentence that is only a figure or a name ("1534", "98.6%", "“亭满意”")."""
    rest = text
    for f in extract_facts(text):
        rest = rest.replace(f, "")
    return len(re.findall(f"[{CJK}]", rest)) < _MIN_WORDS


def _partial(question: Question, claim: str, sentence: str) -> bool:
    """A claim that says less of what was asked than the sentence it rests on: only a figure or a
    name ("1534", "98.6%"); for a how-many question, fewer counts in the asked unit than the sentence
    gives ("196名…参加了考试" of "196名…参加了考试，171人通过考试": which count answers is the
    reader's to see); for a which-ones question, no list where the sentence lists ("4个协调小组")."""
    if _bare(claim):
        return True
    if question.compound:
        return False
    if question.unit and len(_unit_counts(sentence, question.unit)) > len(_unit_counts(claim, question.unit)):
        return True
    return "list" in question.kinds and not _LISTS.search(claim) and bool(_LISTS.search(sentence))


#: Items listed in a sentence: "立法参与、守法普法" or quoted names.
_LISTS = re.compile(r"[\u4e00-\u9fff”」]、[\u4e00-\u9fff“「]|“[^”]{2,20}”.{0,6}“")


def _whole_claim(question: Question, source: str, start: int, end: int) -> tuple[int, int]:
    """A quote that says less than its sentence of what was asked (see _partial) grows to the
    sentence that makes the claim: a reader checking the citation must see what the figure counts."""
    sentence = next(((a, b) for a, b in sentence_spans(source) if a <= start and end <= b), None)
    if sentence is None or not _partial(question, source[start:end], source[sentence[0]:sentence[1]]):
        return start, end
    return sentence


#: A bracketed number written in a source document, e.g. "依据《条例》[1]": shown full width (［1］)
#: in an answer so that it can never be read as one of the answer's own citation markers.
_LITERAL_MARKER = re.compile(r"\[(\d{1,3})\]")


def defuse_markers(text: str) -> str:
    return _LITERAL_MARKER.sub(r"［\1］", text)


def _parts_not_answered(question: Question, used: list[int], verified: dict[int, list[Citation]],
                        by_n: dict[int, Passage]) -> list[Question]:
    """The parts of the question (the question itself when it has one part) that the quotes do not
    answer. The quotes must be about what was asked, not only contain a number: a figure for 矛盾纠纷
    is no answer to a question about 问题线索; each part of a compound question is judged on its own
    (the words of one part must not vouch for another) and needs a sentence of its own answer kind."""
    # a quote may be a fragment ("8850件"): judge the source sentences it sits in
    sentences = [by_n[n].source_of(c.start, c.end) for n in used for c in verified[n]]
    quotes = search_key("\n".join(sentences))
    context = search_key("\n".join(by_n[n].context for n in used))
    if not question.compound:
        if any(stands_for_document(question, s, by_n[n].hit.title) for n in used for s in sentences):
            quotes = labelled(quotes, search_key("\n".join(by_n[n].hit.title for n in used)))
        ok = not question.content_words or coverage(question.content_words, quotes, context) >= MIN_COVERAGE
        return [] if ok else [question]
    missing = [part for part in question.parts
               if (part.content_words and coverage(part.content_words, quotes, context) < MIN_COVERAGE)
               or not any(fits_answer_type(part, search_key(s)) for s in sentences)]
    if missing and any(coverage(part.content_words, quotes, "") < 1.0 for part in question.parts if part not in missing):
        # half an answer is shown only when that half is stated word for word: a loosely matching
        # figure beside a part the documents do not give is most often another figure altogether
        # ("1534名…通过资格审查" is not how many passed the 执法证考试)
        return list(question.parts)
    return missing


def _same_sentence(quote: str, text: str) -> bool:
    """A quote and a draft sentence that are the same sentence, end marks aside."""
    ends = "。；;.!！?？，,"
    return folded(quote)[0].rstrip(ends) == folded(text)[0].rstrip(ends)


def answers_as_asked(question: Question, passages: Sequence[Passage], sentences: str, terms: Sequence[str],
                     by_meaning: bool = False) -> bool:
    """The checks a supporting sentence must pass, for the drafter and the verifier alike: it speaks
    about the place asked (see names_subject), its passages hold the names the question quotes, and
    it gives the kind of answer asked for (see fits_answer_type; ``by_meaning``: the reader chose it)."""
    return (not non_answer(question, passages, sentences)
            and any(names_subject(p, sentences, terms) and not _reviews_year_before(question, p, sentences) for p in passages)
            and all(any(name in p.document_names or contains(p.context, name) for p in passages)
                    for name in question.quoted)
            and all(any(contains(p.context, body) for p in passages) for body in _named_bodies(question))
            and (fits_answer_type(question, search_key(sentences), by_meaning)
                 or (_ASKS_DOCUMENT_YEAR.search(question.key) is not None
                     and any(p.metadata.get("year") for p in passages)
                     and fits_answer_type(_without(question, "date"), search_key(sentences), by_meaning))))


#: "哪个财政年度的施政报告…", "哪一年的公报…": the year of a document, which its title or date gives.
_ASKS_DOCUMENT_YEAR = re.compile(r"哪(?:一|个)?(?:财政)?年(?:度|份)?的?(?:施政|工作)?(?:报告|文件|公报|通知|方案|规划)")


def _without(question: Question, kind: str) -> Question:
    return question.model_copy(update={"kinds": tuple(k for k in question.kinds if k != kind)})


def non_answer(question: Question, passages: Sequence[Passage], sentences: str) -> bool:
    """Whether the supporting sentences only look like an answer, whatever they hold: a question
    (a heading that repeats what was asked: "三、如何申请延期缴纳税款？"), the document's own title
    ("某县2019年法治政府建设年度报告", unless a name or number is asked for), or a bare document
    number where something else was asked, and a dateline or a field the page lists above the text
    (发布机构, 文号…) where no date, place or body was asked. Such lines name a topic or label the
    document; they state nothing about what was asked."""
    spans = [sentences[a:b] for a, b in sentence_spans(sentences)]
    titles = {folded(p.hit.title)[0] for p in passages}
    return bool(spans) and all(_only_names(question, s, titles) for s in spans)


def beyond_title(words: tuple[str, ...], title_key: str) -> tuple[str, ...]:
    """The words a question asks beyond naming a passage's own document ("清水县促进残疾人就业行动
    实施方案到2025年新增残疾人就业的目标是多少" asks 新增…目标 of that plan): words its title holds name
    the document, as its place and year do, and every sentence of it answers for them — they must
    not favour the sentences that quote the title again (the drafter ranks its first sentence by the
    rest). All of them when the title holds them all."""
    rest = tuple(w for w in words if not found(w, title_key))
    return rest or words


def labelled(sentence_key: str, context_key: str) -> str:
    """A line that labels its document (see stands_for_document: its number, its date) says what the
    title around it says, and a dateline that the document was issued, signed or published that
    day (DATELINE_STATES: "报告是什么时候发布的", "落款日期是哪天" ask with words it need not print),
    so the question is matched against all of it."""
    return "\n".join((sentence_key, context_key, " ".join(DATELINE_STATES)))


def _only_names(question: Question, sentence: str, titles: set[str]) -> bool:
    key = folded(sentence)[0].rstrip("。；;")
    if key.endswith(("？", "?")):
        return True
    if "docno" in question.kinds or "name" in question.kinds:
        return False
    if key in titles or any(len(key) >= 8 and key in t for t in titles):
        return True
    # a dateline or a field of the page: the document's date, number, issuer (a spreadsheet's row
    # is labelled field by field but states its own facts: "…，结案率：95.5%，统计日期：2023年12月31日。")
    if labels_document(sentence) and row_of_line(sentence) is None:
        return not {"date", "place", "person"} & set(question.kinds)
    return _only(key, DOC_NUMBER)  # a bare number: a document's own, where a citing sentence says more


def own_doc_numbers(text: str) -> list[str]:
    """The document numbers a text gives that are not another document's: "《…的通知》（国办发〔2016〕
    19号）" cites the number of the title it follows."""
    return [m.group(0) for m in DOC_NUMBER.finditer(text) if not re.search(r"》\s*[（(\[【]\s*$", text[:m.start()])]


def stands_for_document(question: Question, sentence: str, title: str = "") -> bool:
    """A line that labels its document rather than stating a fact: its own number (for a 文号
    question: a line of its own, or the title line that ends in it) or the date it was issued on
    (for a when question): it says what the title says."""
    key = search_key(sentence)
    if "docno" in question.kinds and (_only(key, DOC_NUMBER) or (
            title and DOC_NUMBER.search(key) and folded(title)[0] in folded(sentence)[0])):
        return True
    if "date" not in question.kinds:
        return False
    # a date field, or a dateline of its own, unpunctuated ("——2023年4月25日在某县第十七届人民代表大会
    # 第四次会议上", how a work report says when it was delivered): a body sentence ends in 。
    return _only(PAGE_COUNTER.sub("", DATE_LABEL.sub("", key)), FULL_DATE) or (
        states_metadata(sentence) and not key.rstrip().endswith((".", "。")))


#: A plan's period in brackets after its name: "（2021-2025年）", "(2021—2025)" (a bare "2015—2019年"
#: is what a sentence is about).
_PLAN_PERIOD = re.compile(r"[（(]\s*(?:19|20)\d{2}\s*年?\s*[-—–~至到]\s*(?:19|20)\d{2}\s*年?\s*[)）]")


def _states_year(text: str) -> bool:
    """Whether ``text`` names a year ("2023年", "二〇二三年", "2020 年" as a text layer spaces it)."""
    return bool(_YEAR_STATED.search(_DIGIT_SPACE.sub("", search_key(text))))


def _only(sentence: str, pattern: re.Pattern) -> bool:
    rest = pattern.sub("", sentence)
    return rest != sentence and len(re.findall(f"[{CJK}]", rest)) < _MIN_WORDS


#: The end of a body's name that must stand in the passage when a question names it: a centre or a
#: committee is a particular body ("诉前调解中心"); 局/法院/政府 are in every city's documents.
_PARTICULAR_BODY = re.compile(r"(?:..中心|...委员会)$")


def _named_bodies(question: Question) -> list[str]:
    """The particular bodies a question names, without its place (常熟市诉前调解中心 → 调解中心): a
    city's 调解组织 figures are no answer about a 诉前调解中心 it does not have. A compound question's
    bodies belong to its parts, each checked on its own (the drafter asks per part)."""
    if question.compound:
        return []
    out = []
    for name in question.organisations:
        m = _PARTICULAR_BODY.search(name)
        if m and len(name) > len(m.group(0)):
            out.append(m.group(0))
    return out


def _sentences_around(text: str, start: int, end: int) -> str:
    return "".join(text[a:b] for a, b in sentence_spans(text) if a < end and b > start)


def names_subject(passage: Passage, sentence: str, terms: Sequence[str]) -> bool:
    """The supporting sentence speaks for every place and year asked about.

    A place: the sentence names it, or it is the document's own place (of any level) or, where the
    document's place is not known, its passage names it. A sentence that names no place speaks for
    its document's place, so a Suzhou report's "全市化解纠纷8850件" is never an answer about Taicang,
    and a district's "全区…" never answers for the city around it (静海区's report is not 天津市's),
    however the title reads ("天津市静海区…"). A year: the sentence names it, or the document is of
    that year (or the next year's work report, which looks back on it) and the sentence names no
    other year; a document of another year answers only where the sentence itself says which year."""
    city = passage.metadata.get("city", "")
    heading = " ".join([passage.hit.title, " ".join(passage.hit.chunk.section)])
    # a year inside a title or a plan's period is not the year a sentence is about ("审议出台《法治清水
    # 建设规划（2021-2025年）》" says nothing of 2025)
    own_words = _PLAN_PERIOD.sub(" ", _TITLE.sub("《》", sentence))
    for term in terms:
        if contains(own_words if term.isdigit() else sentence, term):
            continue
        if term.isdigit():
            if _states_year(own_words):
                return False  # the sentence is about the year it names
            if contains(" ".join(passage.hit.chunk.section), term):
                continue  # "三、2024年工作计划": its section is about that year
            if passage.metadata.get("year", "").isdigit() and not _looks_back_on(passage, term):
                return False  # about its document's year
        elif city:
            if not (contains(city, term) or (contains(heading, term) and not lies_within(city, term))):
                return False
        elif not contains(passage.context, term):
            return False
    return True


# -- what kind of answer a question asks for ------------------------------------------------------
#: A quantity: digits that are not a year, month or day ("2023年", "2022年度", "11月" are not), or a
#: Chinese numeral with a counting classifier ("十二项"), e.g. "1534名", "98.6%", "0.5天".
_QUANTITY = re.compile(r"(?<![\d.])\d+(?:\.\d+)?(?![\d.]*\s*(?:年|月|日))|[零〇一二三四五六七八九十百千万两]+[个项件名次条家批人户元份类期所座倍]")
_CHINESE_NUMERAL = re.compile(r"[零〇一二三四五六七八九十百千万两]+")
#: A rate: a percentage, a per-mille ("出生率为6.0‰"), a change in points ("提高0.3个百分点") or a
#: ratio ("三次产业结构为7.9:22.3:69.8", what "比例是多少" may ask for).
_HAS_PERCENT = re.compile(r"\d\s*[%％‰]|百分之|千分之|\d\s*个百分点|\d(?:\.\d+)?\s*[:：]\s*\d+(?:\.\d+)?")
HAS_DATE = re.compile(r"\d{4}年|\d{1,2}月|\d{1,2}日|[一二三四五六七八九十]+月|年初|年底|去年|今年|上半年|下半年"
                      r"|(?:19|20)\d{2}[-/.]\d{1,2}[-/.]\d{1,2}")


def _counts_in(text: str, unit: str, noun: str, forms: tuple[str, ...] = ()) -> bool:
    """A count in the asked unit (个 is generic: "多少个事项" is answered by "114项", never by "10名"),
    of the asked thing when the question names it: "293个调解室" does not count 调解组织. ``forms``:
    how documents write the counted thing (see counted_forms); the noun itself by default."""
    counts = _counts_of_unit(text, unit, bool(noun))
    if not noun:
        return bool(counts)
    # the count stands next to what it counts: "调解组织506个", "23名专职调解员", "114项4.0版清单事项"
    return any(form in text[max(0, m.start() - len(form) - 3):m.start()] or form in text[m.end():m.end() + len(form) + 12]
               for m in counts for form in forms or (noun,))


def counted_forms(question: Question) -> tuple[str, ...]:
    """How documents write the thing a count question counts: its head as written (调解员 also as
    人员's 员, _HEAD_FORMS), and the documents' wording of an everyday phrase ending in it that the
    question uses ("法治课" is counted as "法治专题讲座2次", rag/text/written_as.py)."""
    noun = question.counted
    everyday = (w for asked in ASKED_PHRASES if asked.endswith(noun) and asked in question.key for w in WRITTEN_AS[asked])
    return tuple(dict.fromkeys((*_HEAD_FORMS.get(noun, (noun,)), *everyday)))


def _counts_of_unit(text: str, unit: str, named: bool) -> list[re.Match]:
    """Counts in the asked unit's classifiers: 个 with a named thing takes any classifier but a
    person's, for the count must then stand next to that thing ("多少个联络点" ← "8家村居法律援助联络点");
    个 alone only 个."""
    if unit == "个":
        group = "".join(g for g in _CLASSIFIER_GROUPS if g != "人名位") if named else "个"
    else:
        group = next(g for g in _CLASSIFIER_GROUPS if unit in g)
    return _unit_counts(text, group)


def _unit_counts(text: str, classifiers: str) -> list[re.Match]:
    """Counts with one of ``classifiers`` (a unit asked, or its group: 人 finds "196名" and "171人")."""
    group = "".join(g for g in _CLASSIFIER_GROUPS if set(classifiers) & set(g)) or classifiers
    return list(re.finditer(rf"(?:\d+(?:\.\d+)?|[零〇一二三四五六七八九十百千万两]+)\s*(?:余|多)?(?:万|亿)?(?:余|多)?\s*[{group}]", text))


#: How documents write the head of a counted thing that the question names otherwise, next to its
#: count: 调解人员 are the 调解员 of "23名专职调解员".
_HEAD_FORMS = {"人员": ("人员", "员")}


def asked_facts(question: Question) -> list[re.Pattern]:
    """Patterns one of which every answering sentence must match: a quantity for how-many, a
    date for when (the drafter looks for sentences that give what is asked)."""
    return [p for p, kind in ((_QUANTITY, "count"), (HAS_DATE, "date")) if kind in question.kinds]


#: Counting classifiers that answer each other: "多少人" is answered by "171人" or "196名".
_CLASSIFIER_GROUPS = ("人名位", "件起宗", "个", "项", "次场", "份", "条", "家户", "类种", "期", "批", "元")


#: A sentence that confers an honour (被评为, 荣获, 授予…称号): what "获得过什么荣誉" asks for.
_HONOR_CUE = re.compile(r"被评为|评为|获评|荣获|获得.{0,16}(?:称号|荣誉|奖)|授予|命名为|入选|蝉联")
#: A name given in quotes: what "品牌是什么 / 叫什么" asks for.
_QUOTED_NAME = re.compile(r"“[^”]{2,30}”|「[^」]{2,30}」|《[^》]{2,60}》")


def anchored(question: Question) -> bool:
    """Whether the question asks for a kind of answer a sentence can be checked for (a count, a
    date, a rate, a person, an honour, a name, a stated figure): such a question may be answered
    even when, after its phrasing words, no content word is left to match."""
    return bool(question.stated or {"count", "date", "person", "honour", "name", "docno"} & set(question.kinds))


#: A question for the year itself ("哪一年", "哪个年份", "哪个财政年度"), and a year a sentence states
#: ("2023年", "二〇二三年", "2023年度").
_ASKS_YEAR = re.compile(r"哪一?年|哪个年份|什么年份|哪个(?:财政)?年度|哪年")
_YEAR_STATED = re.compile(r"(?:19|20)\d{2}\s*年|[〇零一二三四五六七八九]{4}年")
#: When a document was issued or published: it was on a day ("报告是什么时候发布的" is not answered
#: by the year the report is about).
_ISSUING = "|".join(ISSUING_VERBS)
_ASKS_ISSUED = re.compile(f"(?:什么时候|何时|什么时间|哪天)(?:正式)?(?:{_ISSUING})|(?:{_ISSUING})(?:的)?(?:时间|日期)")
#: A question for the day itself, and a day a sentence states ("5月28日", "五月二十八日").
_ASKS_DAY = re.compile(r"日期|哪一?天|几号|哪日|何日")
_DAY_STATED = re.compile(r"\d{1,2}\s*月\s*\d{1,2}\s*[日号]|[一二三四五六七八九十]{1,2}月[一二三四五六七八九十]{1,3}[日号]"
                         r"|(?:19|20)\d{2}[-/.]\d{1,2}[-/.]\d{1,2}")  # 2023-02-08 as web pages date them
#: Spaces a text layer puts beside figures ("到 2020 年"): not there for what a sentence states.
_DIGIT_SPACE = re.compile(r"(?<=\d)[ \t\u3000]+(?=\S)|(?<=\S)[ \t\u3000]+(?=\d)")
#: A document title in a sentence, e.g. 《苏州市法治化营商环境建设指数评估报告（2022年）》.
_TITLE = re.compile(r"《[^》]{1,80}》")


@dataclass(frozen=True)
class Check:
    """One named check of what a supporting sentence must give: ``applies`` to a question, ``passes``
    for a sentence (its search key, and that key with numerals in quoted names removed), and says
    in Chinese why a sentence that fails it is no answer (shown with a refusal)."""

    name: str
    applies: Callable[[Question], bool]
    passes: Callable[[Question, str, str], bool]
    reason: str
    #: a check of wording (what is counted is named next to the count, the predicate's verb is in the
    #: sentence): the reader's judgement of meaning stands in for it ("法治专题讲座2次" counts the
    #: 法治课 a question asks about in other words); checks of form always apply
    wording: bool = False
    #: (a question it applies to, a sentence that gives what it asks, one this check refuses):
    #: the unit tests are generated from them (tests/test_checks.py)
    examples: tuple[tuple[str, str, str], ...] = ()


#: A body named in a sentence: a name ending in what offices are called (司法局, 发展改革委, 管委会),
#: not a word that only ends like one (布局, 重心, 督办, 全部).
_BODY_NAME = re.compile(r"[\u4e00-\u9fff]{1,12}?(?:(?<![布格结僵开])局|委员会|管委会|办公室|(?<![重核])中心|法院|检察院|厅|政府|公司|协会|小组"
                        r"|(?:(?<![督举创承兴开])办|(?<![全内外局干东西南北中])部|委)(?=[，、。；,;\s（(]|$|牵头|负责|配合|会同|联合|主办|承办))")


#: A signature line: a role, a space, a name ("自治区主席 王建华", which jieba does not tag a name).
_SIGNATURE = re.compile(rf"(?:{ROLE.pattern})\s+[\u4e00-\u9fff]{{2,4}}\s*$")


#: The levels an honour is conferred at, by the words that say it ("全国…示范市" is not "全省首批…示范市").
_SCOPES = (("全国", "国家级", "国家"), ("全省", "省级", "全区", "自治区级"), ("全市", "市级"))


def _asked_scope(key: str) -> int | None:
    return next((i for i, words in enumerate(_SCOPES) if any(w in key for w in words)), None)


def _at_asked_scope(question: Question, key: str, plain: str) -> bool:
    """An honour of the level the question names, or of no stated level: a question presupposing a
    national honour is not answered by a provincial one (a false premise, said as such)."""
    asked = _asked_scope(question.key)
    stated = {i for i, words in enumerate(_SCOPES) if any(w in key for w in words)}
    return not stated or asked in stated


def _is_person(question: Question, key: str, plain: str) -> bool:
    """A person in the asked role, or for a plain who-question a name or a role that acts ("省委书记
    为天长市颁发了奖牌"); members of a body addressed ("请县政协委员提出意见") are nobody in particular,
    nor are the leaders of a political formula ("以习近平新时代中国特色社会主义思想为指导")."""
    key = POLITICAL_FORMULA.sub(" ", key)
    named = any(flag == "nr" and len(word) >= 2 for word, flag in posseg(key)) or bool(_SIGNATURE.search(key))
    if question.roles:
        return named and any(r in key for r in question.roles)
    return named or any(not m.group(0).endswith("委员") for m in ROLE.finditer(key))


def _at_level(question: Question, key: str, plain: str) -> bool:
    levels = {m.group(1) for m in ADMIN_LEVEL.finditer(key)}
    return not levels or bool(levels & set(question.levels))


def _total_not_per_head(question: Question, key: str, plain: str) -> bool:
    """"地区生产总值是多少" is not answered by "人均地区生产总值为74331元": the longest of the question's
    words the sentence holds must stand at least once without 人均 before it."""
    held = sorted((w for w in question.content_words if len(w) >= 3 and w in key), key=len, reverse=True)
    if not held:
        return True
    def per_head(at: int) -> bool:  # 人均 before the word, or before the question's words before it (人均地区生产总值)
        while (w := next((w for w in question.content_words if w and key.endswith(w, 0, at)), None)) is not None:
            at -= len(w)
        return key.endswith("人均", 0, at)

    return any(not per_head(m.start()) for m in re.finditer(re.escape(held[0]), key))


def _not_only_a_share(question: Question, key: str, plain: str) -> bool:
    """"地区生产总值是多少" is not answered by "特色产业增加值21.06亿元，占全县地区生产总值的31.4%":
    there the asked total is only what a share is of. The longest of the question's words the
    sentence holds must stand at least once outside "占…的"."""
    held = sorted((w for w in question.content_words if len(w) >= 3 and w in key), key=len, reverse=True)
    if not held:
        return True
    return any(not (_SHARE_OF.search(key[:m.start()]) and key.startswith("的", m.end()))
               for m in re.finditer(re.escape(held[0]), key))


#: What a share is of stands after 占 ("占全县地区生产总值的31.4%", "占规模以上工业的").
_SHARE_OF = re.compile(r"占[^，。；,;]{0,6}$")


def _count_of_phrase(question: Question, key: str, plain: str) -> bool:
    """A count in the asked unit stands by what the question counts, every word of it next to the
    count (in any order, others between): "75件" of "市政府、市政府办公室规范性文件" does not count the
    "市政府行政规范性文件" asked about; "49名司法行政干警" counts the 干警."""
    phrase = question.counted_phrase
    words = [w for w, _ in posseg(phrase) if len(w) > 1] or [phrase]

    def names_it(window: str) -> bool:
        return all(found(w, window) for w in words)

    return any(names_it(plain[max(0, m.start() - len(phrase) - 10):m.start()])
               or names_it(plain[m.end():m.end() + len(phrase) + 20]) for m in _unit_counts(plain, question.unit))


def _single(question: Question) -> bool:
    return not question.compound


#: What kind of answer a question asks for, checked on each supporting sentence, in this order. A
#: Chinese numeral inside quotes names something (“三项制度”), it does not count it; a date inside a
#: document's title (《…评估报告（2022年）》) says when that was written, not when the thing happened.
KIND_CHECKS: tuple[Check, ...] = (
    Check("figure", lambda q: "count" in q.kinds, lambda q, k, p: bool(_QUANTITY.search(p)),
          "文件中有相关段落，但没有给出具体数字",
          examples=(("清水县2022年办理行政复议案件多少件？", "全年办理行政复议案件128件。", "全年行政复议工作取得新进展。"),
                    ("清水县实施方案安排了多少专项资金？", "安排专项资金120万元。",
                     "根据《清水县专项资金管理办法（2022—2025年）》（清政办发〔2022〕59号）精神制定本方案。"))),
    Check("date", lambda q: "date" in q.kinds, lambda q, k, p: bool(HAS_DATE.search(_TITLE.sub("", k))),
          "文件中有相关段落，但没有给出具体时间",
          examples=(("清水县何时被评为法治政府建设示范县？", "2020年8月，清水县被评为法治政府建设示范县。",
                     "清水县被评为法治政府建设示范县，依据《示范县评估报告（2019年）》。"),)),
    Check("stated", lambda q: bool(q.stated), lambda q, k, p: all(f in k for f in q.stated),
          "文件中没有问题所说的数字或日期",
          examples=(("清水县哪一年办理行政复议案件128件？", "2022年办理行政复议案件128件。", "2022年办理行政复议案件130件。"),
                    ("清水县哪一年获评第二批“国际湿地城市”？", "2021年获评第二批“国际湿地城市”。", "2018年获评首批“国际湿地城市”。"))),
    Check("level", lambda q: bool(q.levels), _at_level, "文件中的数字不是所问那一级的",
          examples=(("清水县县级行政执法人员有多少名？", "全县县级行政执法人员共312名。", "全县乡级行政执法人员共312名。"),)),
    Check("rate", lambda q: _single(q) and "rate" in q.kinds, lambda q, k, p: bool(_HAS_PERCENT.search(p)),
          "文件中有相关段落，但没有给出比例或百分比",
          examples=(("清水县行政复议纠错率是多少？", "行政复议纠错率为7.9%。", "行政复议纠错案件12件。"),
                    ("清水县2022年人口出生率是多少？", "人口出生率为6.0‰。", "出生人口1.9万人。"))),
    Check("per-head", lambda q: "count" in q.kinds and "人均" not in q.key, _total_not_per_head,
          "文件中只有人均数，没有总数",
          examples=(("清水县2022年地区生产总值是多少？", "全县地区生产总值95.1亿元。", "人均地区生产总值为74331元。"),)),
    Check("total", lambda q: "count" in q.kinds and "人均" in q.key, lambda q, k, p: "人均" in k,
          "文件中只有总数，没有人均数",
          examples=(("清水县2022年人均地区生产总值是多少？", "人均地区生产总值为74331元。",
                     "非公有制经济增加值112.39亿元，占全县地区生产总值的52.9%。"),)),
    Check("share", lambda q: "count" in q.kinds and "rate" not in q.kinds, _not_only_a_share,
          "文件中的数字是所问总数中的一部分，不是总数本身",
          examples=(("清水县2022年地区生产总值是多少？", "全县地区生产总值67.2亿元，增长5%。",
                     "特色产业增加值21.06亿元，占全县地区生产总值的31.4%。"),)),
    Check("measure", lambda q: _single(q) and bool(q.measure), lambda q, k, p: states_measure(k, q.measure),
          "文件中的数字不是所问的那一类（人数、金额、产量或面积）",
          examples=(("清水县2022年末常住人口是多少？", "年末全县常住人口31.0万人。", "全县人均生产总值为99856元（按常住人口计算）。"),
                    ("清水县2022年粮食总产量是多少？", "粮食总产量8000万斤。", "粮食播种面积11.34万亩。"),
                    ("清水縣2022年玉米播種面積是多少？", "玉米播種面積1835.2千公頃。", "玉米產量158420噸。"))),
    Check("counted", lambda q: _single(q) and bool(q.unit and q.counted_phrase), _count_of_phrase,
          "文件中的数字数的是另一类事项", wording=True,
          examples=(("清水县全年共制定县政府行政规范性文件多少件？", "全年共制定县政府行政规范性文件15件。",
                     "今年共清理县政府、县政府办公室规范性文件75件。"),)),
    Check("unit", lambda q: _single(q) and bool(q.unit), lambda q, k, p: bool(_counts_of_unit(p, q.unit, bool(q.counted))),
          "文件中有相关段落，但没有给出所问单位的数量",
          examples=(("清水县有多少名专职调解员？", "全县共有专职调解员23名。", "全县共有专职调解员队伍5支。"),)),
    Check("counts-what", lambda q: _single(q) and bool(q.unit and q.counted),
          lambda q, k, p: _counts_in(p, q.unit, q.counted, counted_forms(q)), "文件中有相关段落，但没有给出所问事项的数量",
          wording=True,
          examples=(("清水县目前已建立多少个调解组织？", "全县已建立调解组织506个。", "全县充分发挥293个调解室作用。"),
                    ("清水县政府常务会议请人讲了几次法治课？", "开展常务会议法治专题讲座2次。", "召开常务会议2次。"))),
    # what they did ends in what it was done to: "196名…参加了行政执法证考试" took the exam, "272人
    # 参加…培训" a training; "3个重大行政决策事项" were published, not "放到网上运行"
    Check("predicate", lambda q: _single(q) and bool(q.predicate), lambda q, k, p: found(q.predicate[-1], k),
          "文件中的数字说的是另一件事", wording=True,
          examples=(("清水县有多少名行政执法机关工作人员参加了行政执法证考试？",
                     "全县共有196名行政执法机关工作人员参加了行政执法证考试。",
                     "组织全县行政执法机关工作人员272名参加公共法律知识培训。"),)),
    Check("honour", lambda q: "honour" in q.kinds, lambda q, k, p: bool(_HONOR_CUE.search(k)),
          "文件中没有授予荣誉或称号的说法",
          examples=(("清水县获得过什么荣誉？", "清水县被评为全国法治政府建设示范县。", "清水县召开法治政府建设推进会。"),)),
    Check("scope", lambda q: "honour" in q.kinds and _asked_scope(q.key) is not None, _at_asked_scope,
          "文件中的荣誉不是所问的那一级（全国、全省或全市）",
          examples=(("清水市为什么在2021年被评为全国法治政府建设示范市？", "2021年，清水市被评为全国法治政府建设示范市。",
                     "2021年，清水市获评全省首批“法治政府建设示范市”。"),)),
    Check("name", lambda q: "name" in q.kinds, lambda q, k, p: bool(_QUOTED_NAME.search(k)), "文件中没有给出名称",
          examples=(("清水县营商环境品牌叫什么？", "清水县打造“清满意”营商环境品牌。", "清水县持续打造营商环境品牌。"),)),
    Check("docno", lambda q: "docno" in q.kinds, lambda q, k, p: bool(own_doc_numbers(k)), "文件中没有给出该文件的文号",
          examples=(("清水县法治政府建设实施方案的文号是什么？", "清政发〔2022〕3号",
                     "清水县人民政府关于印发法治政府建设实施方案的通知"),)),
    Check("year", lambda q: "date" in q.kinds and bool(_ASKS_YEAR.search(q.key)),
          lambda q, k, p: bool(_YEAR_STATED.search(_TITLE.sub("", k))), "文件中有相关段落，但没有说是哪一年",
          examples=(("清水县哪一年建成法治广场？", "2019年，清水县建成法治广场。", "3月，清水县建成法治广场。"),)),
    Check("day", lambda q: "date" in q.kinds and bool(_ASKS_DAY.search(q.key) or _ASKS_ISSUED.search(q.key)),
          lambda q, k, p: bool(_DAY_STATED.search(k)), "文件中有相关段落，但没有给出具体日期",
          examples=(("清水县法治广场是哪一天建成的？", "2019年3月5日，清水县建成法治广场。", "2019年3月，清水县建成法治广场。"),
                    ("清水县这份通知是什么时候印发的？", "2019年3月5日", "2019年，清水县印发通知。"))),
    Check("body", lambda q: "body" in q.kinds, lambda q, k, p: bool(_BODY_NAME.search(k)), "文件中没有给出负责的部门或单位",
          examples=(("清水县推进法治广场建设，牵头的是哪个部门？", "县司法局牵头，县住建局配合。", "加快推进法治广场建设，实现三产融合发展。"),)),
    Check("item", lambda q: bool(q.item), lambda q, k, p: q.item in k, "文件中有相关段落，但没有说到所问的这一项",
          examples=(("清水县苹果和梨的产量各是多少吨？", "梨41250吨，同比增长2.3%。", "其中玉米产量158420吨，增长2%。"),)),
    Check("person", lambda q: "person" in q.kinds, _is_person, "文件中没有给出担任该职务的人",
          examples=(("清水县县长是谁？", "县长王建国主持召开县政府常务会议。", "县长主持召开县政府常务会议。"),
                    ("清水县2023年的政府工作报告是谁作的？", "县长王建国代表县人民政府向大会报告工作。",
                     "现在，我代表县人民政府向大会报告工作，请予审议，并请县政协委员提出意见。"),
                    ("清水县2023年的政府工作报告是谁作的？", "清水县人民政府县长 王建国",
                     "一年来，我们坚持以习近平新时代中国特色社会主义思想为指导，认真贯彻习近平总书记重要讲话精神。"))),
)


def failed_check(question: Question, sentence_key: str, by_meaning: bool = False) -> Check | None:
    """The first check of KIND_CHECKS the sentence (search key) fails, None when it gives the kind
    of answer asked for: a quantity that is not a year for how-many, counted in the asked unit
    (多少个 is not answered by 10名), a percentage for a rate, a date for when, the figures and
    dates the question states, and for who a person in the asked role (any name in the sentence is
    no answer to who a city's 市委书记 is). ``by_meaning``: the reader judges what the sentence
    says, so the checks of wording are left to it."""
    key = _DIGIT_SPACE.sub("", sentence_key)  # "到 2020 年", "开展 18 次" as PDFs space them
    # figures that name, not count: numerals in quoted names (“三项制度”), document numbers and
    # titles ("根据《…方案（2022—2025年）》（清政办发〔2022〕9号）" counts nothing)
    plain = QUOTED.sub(lambda m: _CHINESE_NUMERAL.sub("", m.group(0)), _TITLE.sub("《》", DOC_NUMBER.sub("", key)))
    return next((c for c in KIND_CHECKS if c.applies(question) and not (by_meaning and c.wording)
                 and not c.passes(question, key, plain)), None)


def fits_answer_type(question: Question, sentence_key: str, by_meaning: bool = False) -> bool:
    """Whether a sentence gives the kind of answer the question asks for (see failed_check)."""
    return failed_check(question, sentence_key, by_meaning) is None


def about_subject(passages: Sequence[Passage], terms: Sequence[str]) -> bool:
    """True when the passages (with their titles, sections, city and year) name every term, a year
    counting as named by the next year's work report too (it looks back on the year before)."""
    context = "\n".join(p.context for p in passages)
    return all(contains(context, t) or (t.isdigit() and any(_looks_back_on(p, t) for p in passages)) for t in terms)


#: Reports given at the start of a year about the year before: a 2024 政府工作报告 reviews 2023 (an
#: annual 法治政府建设情况报告 or 统计公报 is titled with the year it reports on).
_REVIEWS_LAST_YEAR = re.compile(r"政府工作报告|施政报告")


#: Where a work report looks back on the year before it: its review section ("一、2022年工作回顾",
#: "过去一年") or a sentence of estimates for the year just ended ("预计全年实现地区生产总值380亿元").
_REVIEW_SECTION = re.compile(r"回顾|过去[一五]年|一年来|以来")
_REVIEW_SENTENCE = re.compile(r"预计全年|一年来|过去一年|刚刚过去")


def _reviews_year_before(question: Question, passage: Passage, sentence: str) -> bool:
    """A work report of the asked year answering from its review of the year before: "清水区2023年
    城镇居民人均可支配收入" is not the "预计全年…41860元" of the report delivered in January 2023.
    Not when the question asks about the report itself ("2023年政府工作报告中…"): then its year is the
    report's, and the review is what the report says."""
    own = passage.metadata.get("year", "")
    if not question.years or "报告" in question.key or own not in question.years or _states_year(sentence):
        return False
    section = " ".join(passage.hit.chunk.section)
    if not _REVIEWS_LAST_YEAR.search(search_key(passage.hit.title)) or "今年" in sentence:
        return False
    if any(contains(section, y) for y in question.years):
        return False  # "第一部分 2022年工作情况" of a report delivered in December 2022: its own year
    return bool(_REVIEW_SECTION.search(section) or _REVIEW_SENTENCE.search(sentence))


def _looks_back_on(passage: Passage, year: str) -> bool:
    """A document of ``year``, or a work report of the year after it."""
    own = passage.metadata.get("year", "")
    if not own.isdigit():
        return False
    return int(own) == int(year) or (int(own) == int(year) + 1 and bool(_REVIEWS_LAST_YEAR.search(search_key(passage.hit.title))))


def refusal(question: Question, passages: Sequence[Passage], mode: str) -> Answer:
    related = tuple(_citation(p.n, p, p.hit.chunk.start, p.hit.chunk.end, p.hit.chunk.text) for p in passages[:3])
    text = REFUSAL_TRAD if question.traditional else REFUSAL
    check, reason = why_refused(question, passages)
    return Answer(question=question.text, answer=text, refused=True, related=related, mode=mode,
                  refused_by=check, reason=to_script_of(question, reason))


def why_refused(question: Question, passages: Sequence[Passage]) -> tuple[str, str]:
    """The check that stood in the way, and why, in the words a person reads: no passage about the
    place or year asked; passages about it, but the sentence nearest to the question fails a named
    check (no figure, no date, another level…); or none of them says what was asked."""
    subject = "".join(question.places) + "".join(f"{y}年" for y in question.years)
    about = [p for p in passages if about_subject([p], question.subject_terms)]
    if not about:
        return "subject", f"文件中没有关于{subject}的段落" if subject else "文件中没有与问题相关的段落"
    sentences = [(p, p.hit.chunk.text[a:b]) for p in about for a, b in sentence_spans(p.hit.chunk.text)]
    scored = sorted(((coverage(question.content_words, search_key(t), search_key(p.context)), i, p, t)
                     for i, (p, t) in enumerate(sentences)), key=lambda x: (-x[0], x[1]))
    if scored and scored[0][0] >= MIN_COVERAGE:
        _, _, p, t = scored[0]
        if not names_subject(p, t, question.subject_terms):
            return "place", f"相关的句子说的不是{subject}" if subject else "相关的句子说的是别的地方或年份"
        if (failed := failed_check(question, search_key(t))) is not None:
            return failed.name, failed.reason
    return "coverage", (f"文件中有{subject}的段落，但没有直接回答这个问题的句子" if subject
                        else "文件中有相关段落，但没有直接回答这个问题的句子")


def _citation(n: int, p: Passage, start: int, end: int, quote: str) -> Citation:
    c = p.hit.chunk
    return Citation(n=n, docid=c.docid, chunk_id=c.chunk_id, title=p.hit.title, section=" > ".join(c.section),
                    quote=quote, start=start, end=end, page=p.page_of(start), sheet=p.sheet, row=p.row_of(start),
                    kind=source_kind(c.docid),
                    date=p.metadata.get("date") or p.metadata.get("year"))


def parse_cited_text(text: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """Split generated answer text into sentences with the [n] numbers each one carries."""
    # "…示范市。[1]" — a marker after the full stop belongs to the sentence before it
    text = re.sub(r"([。！？；!?;])((?:\s*\[\d{1,3}\])+)", r"\2\1", text)
    out = []
    for s, e in sentence_spans(text):
        sentence = text[s:e]
        numbers = tuple(int(n) for n in _CITE.findall(sentence))
        clean = _CITE.sub("", sentence).strip()
        if clean:
            out.append((clean, numbers))
    return tuple(out)
