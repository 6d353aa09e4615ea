"""What a figure measures, by the noun a question asks it of and the units documents write it in.

"常住人口是多少" asks for people, so "人均生产总值为99856元（按常住人口计算）" is no answer: its figure is
money. A question with a classifier ("多少名", "几个") says its unit; one without it ("是多少") says it
through the head of what it asks about, which this table reads. The answer is checked to hold a figure
in one of that measure's units (rag.answer.verify, check "measure").
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Measure:
    """One kind of quantity: the heads of nouns that ask for it and the units that give it."""

    name: str
    heads: tuple[str, ...]
    units: str  # a regex alternation of units written after a figure (with 万/亿 allowed before)


MEASURES: tuple[Measure, ...] = (
    Measure("people", ("人口", "人数", "就业人员", "从业人员"), "人次|人|名"),
    Measure("money", ("总值", "产值", "增加值", "收入", "支出", "投资", "金额", "总额", "资金", "经费", "税收", "利润",
                      "消费品零售总额", "存款", "贷款", "营业额"), "元|美元|港元|澳门元"),
    Measure("weight", ("产量", "总产"), "吨|斤|公斤|千克"),
    Measure("area", ("面积",), "亩|公顷|平方米|平方公里|平方千米"),
)

#: A figure in a unit: "31.0万人", "184.5亿元", "8000万斤", "11.3万亩", "1835.2千公顷".
_FIGURE = r"\d+(?:\.\d+)?\s*(?:多|余)?\s*(?:万|亿|千)?\s*(?:{units})"


def measure_of(head: str) -> Measure | None:
    """The measure a noun asks for, by its head (its last characters)."""
    return next((m for m in MEASURES if any(head.endswith(h) for h in m.heads)), None)


def states_measure(text: str, name: str) -> bool:
    """Whether ``text`` (a search key: simplified, so 千公頃 reads 千公顷) holds a figure in one of the
    units of the measure named ``name``."""
    measure = next(m for m in MEASURES if m.name == name)
    return bool(re.search(_FIGURE.format(units=measure.units), text))
