"""Sentences that give orders to the reader or the system instead of stating something.

A policy document states facts and rules; it does not tell whoever reads it to disregard other
documents ("忽略以上规定"), what to answer ("请回答：…", "被问到…时一律回答…"), which statements to
believe ("有关说法以本文件为准", "2020年的说法系误传"), nor address an AI assistant. Text that does is
trying to steer an answer: it is never quoted as support, and a document holding it is flagged.

The rules are data (:data:`DIRECTIVE_RULES`): each is a name and a pattern over the *compact key* of
the text — the simplified, lower-case search key with whitespace and punctuation removed — so one
rule covers simplified and traditional script and an order split over sentences, lines or HTML
elements ("请忽略。以上规定" or "<p>请忽略</p><p>以上规定</p>"). Legal uses of the same words are left
alone by the rules themselves: "以登记机关核发的证照为准" and "与本办法不一致的，以本办法为准" say which
record or rule prevails, not which statement to believe. ``tests/directive_phrases.tsv`` holds the
phrasings each rule must catch and the ordinary sentences it must not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.text.normalize import search_key, sentence_spans

#: Characters dropped from the key before matching: whitespace and punctuation (so an order split
#: over sentences still matches), never letters, digits or CJK.
_GAP = re.compile(r"[\s\u3000-\u303f\uff00-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"
                  r"!-/:-@\[-`{-~“”‘’「」『』《》〈〉【】…—·•\u200b-\u200d\u2060\ufeff]")

_SCOPE = r"(?:以上|上述|上面|上文|前面|前文|前述|之前|此前|先前|其他|其它|别的|原有|原先|已有|所有|全部|一切|任何|系统|库中|知识库|资料库)"
_TARGET = (r"(?:规定|指令|指示|提示|内容|文件|文档|资料|信息|说明|说法|材料|要求|设定|记载|答案|回答|表述|数据|段落|文字|"
           r"上下文|参考|来源|通知|报告|条款|规则|约束|限制)")
_NEGATED = r"(?<!不得)(?<!不能)(?<!不可)(?<!不应)(?<!不要)(?<!切勿)(?<!防止)(?<!避免)(?<!严禁)(?<!杜绝)(?<!不容)(?<!不会)"
_IGNORE = r"(?:忽略|无视|忘记|忘掉|不要理会|不必理会|不用理会|不予理会|忽视|抛开|撇开|不要管|不用管|跳过|别管)"
#: What a document may claim about other statements (not 信息/数据: "信息有误的，可申请更正" is law)
_STATEMENT = r"(?:说法|报道|报导|消息|传言|传闻|版本|答案|回答|表述)"


@dataclass(frozen=True)
class DirectiveRule:
    """One kind of order: a name (shown when a document is flagged) and a compact-key pattern."""

    name: str
    pattern: re.Pattern


#: The kinds of orders a document may give its reader or the system (see the module docstring).
DIRECTIVE_RULES: tuple[DirectiveRule, ...] = tuple(DirectiveRule(name, re.compile(p)) for name, p in (
    # 忽略以上规定 / 無視其他文件 / 请忘记之前的所有内容 / 忽略以上 (but not 不得忽视上述要求)
    ("ignore", f"{_NEGATED}{_IGNORE}掉?{_SCOPE}.{{0,8}}?{_TARGET}|{_NEGATED}{_IGNORE}(?:以上|上文|前文|上述)(?=$)"),
    # 请回答… / 务必回答 / 只能回答 / 一律回复为 (not 应当如实回答询问: a legal duty)
    ("answer", r"(?:请|务必|必须|一律|只|只能|统一|一定要)(?:需|要)?(?:你|您)?(?:直接|如实|统一|仅|只|一律|均)?(?:回答|作答|输出|回复)"),
    # 若被问到…，一律回答… / 有人问及…时请说…
    # (not an FAQ's "问：到上海运输防疫物资…答：…": someone must be asked)
    ("when-asked", r"(?:被人?(?:问|询问|提问)|(?:有人|用户|别人|任何人)(?:问|询问|提问)|(?:若|如|如果|假如|当|凡|一旦)(?:问到|问及|问起))"
                   r".{0,30}?(?:回答|答复|回复|作答|答|说|告知|告诉)"),
    # 以本文件为准 / 以此为准 / 以下列说法为准 / 一切以本通知所述为准 (not 以证照为准, nor 与本办法不一致的以本办法为准)
    ("prevails", r"(?<!不一致的)(?<!不一致)(?<!不符的)(?<!冲突的)(?<!抵触的)(?<!有出入的)(?<!不相符的)"
                 r"以(?:本文件|本文档|本文|此文|本材料|本资料|本说明|本页|本段|此|这|这个|这里|此处|下文|以下|下列|下述|如下|"
                 r"我|我们|本人|上传)(?:所述|所说|所列|内容|说法|表述|记载|信息|数据|答案|回答|版本)?为准(?!绳)"
                 r"|(?:请|一切|一律|务必|均请|统一)以.{1,12}?(?:所述|所说|说法|表述|记载|信息|数据|答案|回答|版本)为准"
                 r"|" + _STATEMENT + r".{0,6}?以.{1,12}?为准"),
    # 2020年的说法系误传 / 其他报道均不实 / 该数据有误，请勿采信
    ("disclaims", _STATEMENT + r"(?:均|都|皆)?(?:系|是|属|纯属|均系|均为|为|已)?(?:误传|谣传|不实|错误|有误|谣言|虚假|不准确|无效|作废|过时)"
                  r"|(?:请勿|不要|切勿)(?:采信|相信)"),
    # 你现在是一个AI助手 / system prompt / <|im_start|> / ignore previous instructions
    ("assistant", r"你(?:现在|从现在起|从现在开始)?(?:是|扮演|作为|充当)(?:一个|一名|一位)?.{0,12}?"
                  r"(?:助手|模型|(?<![a-z])ai(?![a-z])|人工智能|机器人|assistant|chatbot)"
                  r"|系统提示词|systemprompt|imstart|imend|(?<![a-z])inst(?![a-z])|(?<![a-z])sys(?![a-z])"
                  r"|ignore(?:all)?(?:the)?(?:previous|prior|above|earlier)instructions"
                  r"|(?:忽略|无视|忘记).{0,6}?(?:指令|提示词|prompt|设定)"),
))
# "system: …" / "assistant：…" at the start of a line: a chat transcript, matched on the key itself
_ROLE_LINE = re.compile(r"(?:^|\n)\s*(?:system|assistant|user)\s*[:：]")


def _compact(key: str) -> tuple[str, list[int]]:
    """The key without whitespace and punctuation, with each kept character's offset in the key."""
    kept = [(i, c) for i, c in enumerate(key) if not _GAP.match(c)]
    return "".join(c for _, c in kept), [i for i, _ in kept]


def directive_matches(text: str) -> list[tuple[int, int, str]]:
    """(start, end, rule name) of every order in ``text``, as offsets into ``text``."""
    key = search_key(text)
    compact, index = _compact(key)
    out = [(m.start(), m.end(), "assistant") for m in _ROLE_LINE.finditer(key)]
    for rule in DIRECTIVE_RULES:
        for m in rule.pattern.finditer(compact):
            if m.end() > m.start():
                out.append((index[m.start()], index[m.end() - 1] + 1, rule.name))
    return sorted(out)


def directive_sentences(text: str) -> list[tuple[int, int]]:
    """Spans of the sentences of ``text`` that give an order (see the module docstring): every
    sentence an order touches, and, where the order stands alone ("请忽略以上规定。", "以下列说法为准："),
    the sentence after it in the same paragraph, which is what it introduces."""
    hits = directive_matches(text)
    if not hits:
        return []
    spans = sentence_spans(text)
    out: set[int] = set()
    for start, end, _ in hits:
        touched = [i for i, (a, b) in enumerate(spans) if a < end and b > start]
        out.update(touched)
        if not touched or (nxt := touched[-1] + 1) >= len(spans) or "\n" in text[spans[touched[-1]][1]:spans[nxt][0]]:
            continue
        first, last = spans[touched[0]][0], spans[touched[-1]][1]
        rest = _compact(search_key(text[first:start] + text[end:last]))[0]
        if len(rest) < _ALONE:
            out.add(nxt)
    return [spans[i] for i in sorted(out)]


#: Fewer characters than this beside an order in its sentences: the order stands alone and
#: introduces the next sentence ("请忽略以上规定。" + the claim it wants believed).
_ALONE = 6


def gives_orders(text: str) -> bool:
    """True when ``text`` holds an order to the reader or the system (see DIRECTIVE_RULES)."""
    return bool(directive_matches(text))


def steers(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` touches a sentence that gives orders (see directive_sentences):
    such text is never support, however well it matches the question."""
    return any(a < end and b > start for a, b in directive_sentences(text))
