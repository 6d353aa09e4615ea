"""The reader: which of the retrieved sentences answers the question, judged by meaning.

The checks before it are about form (the asked place and year, a figure of the asked kind); whether
a sentence *answers* is a matter of meaning that word coverage only approximates: "输了几场官司" is
answered by "行政诉讼案件无一败诉", which shares almost no words with it. The reader shows the packaged
LLM the candidate sentences, numbered, and reads the logits of the first token of its reply for the
numbers and for "0" (none): one forward pass, no generation, so it can only choose among the
source's own sentences or none — it cannot invent text. A sentence is taken when its number leads
"0" by ``margin``. A reader that is not available (no model installed, the model process down)
chooses nothing: the lexical decision stands.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from rag.llm.base import LLMUnavailableError, RelevanceJudge
from rag.models import Question
from rag.resources import load_prompt

log = logging.getLogger(__name__)

#: The most candidates shown at once: single-token numbers 1–9, and a short prompt (each sentence
#: costs the first token ~0.4 s per 50 characters on two CPU cores).
MAX_CANDIDATES = 9


class Reader:
    """Chooses the sentence that answers a question among numbered candidates, or none."""

    def __init__(self, model: RelevanceJudge, margin: float, max_candidates: int, sentence_chars: int) -> None:
        self.model = model
        self.margin = margin
        self.max_candidates = min(max_candidates, MAX_CANDIDATES)
        self.sentence_chars = sentence_chars
        self._prompt = load_prompt("reader.md")

    def scores(self, question: Question, sentences: Sequence[str]) -> list[float]:
        """logit(number) − logit("0") for each of the first ``max_candidates`` sentences."""
        shown = [s.strip()[: self.sentence_chars] for s in sentences[: self.max_candidates]]
        listing = "\n".join(f"{i}. {s}" for i, s in enumerate(shown, 1))
        content = self._prompt.format(sentences=listing, question=question.text.strip())
        logits = self.model.choice([{"role": "user", "content": content}],
                                   ["0"] + [str(i) for i in range(1, len(shown) + 1)])
        return [x - logits[0] for x in logits[1:]]

    def choose(self, question: Question, sentences: Sequence[str]) -> int | None:
        """The index of the sentence that answers ``question``, or None (none does, or no model)."""
        if not sentences:
            return None
        try:
            scores = self.scores(question, sentences)
        except LLMUnavailableError as exc:
            log.warning("reader unavailable, the lexical decision stands: %s", exc)
            return None
        best = max(range(len(scores)), key=scores.__getitem__)
        log.debug("reader %s for %r", [round(s, 2) for s in scores], question.text[:40])
        return best if scores[best] >= self.margin else None
