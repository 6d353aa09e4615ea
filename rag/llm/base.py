"""The chat-model interface every generation backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence


class LLMUnavailableError(RuntimeError):
    """No generator can be used (package missing, server unreachable); extractive mode still works.

    ``reason_zh`` is what staff read in the answer's note (the English message goes to the log and to
    API error bodies): a fallback note must not be half English.
    """

    def __init__(self, message: str, reason_zh: str = "模型未能给出结果") -> None:
        super().__init__(message)
        self.reason_zh = reason_zh


class ChatModel(ABC):
    name: str

    @abstractmethod
    def stream(self, messages: list[dict[str, str]], max_tokens: int = 400) -> Iterator[str]:
        """Yield the reply's text pieces as they are generated (greedy decoding)."""

    def complete(self, messages: list[dict[str, str]], max_tokens: int = 400) -> str:
        return "".join(self.stream(messages, max_tokens))

    def health(self) -> dict:
        """What /healthz reports about this generator."""
        return {"model": self.name, "status": "ready"}

    def close(self) -> None:
        """Release what the generator holds (a model process, connections)."""


class RelevanceJudge(ABC):
    """A model that scores the first token of its reply among given options, without generating:
    one forward pass over the prompt, so its answer can only be one of the options (reranking, the
    reader choosing among numbered sentences)."""

    @abstractmethod
    def choice(self, messages: list[dict[str, str]], options: Sequence[str]) -> list[float]:
        """The logit of each option (each a single token) as the first token of the reply."""

    def relevance(self, messages: list[dict[str, str]]) -> float:
        """logit("是") − logit("否") of the first reply token: > 0 leans yes."""
        yes, no = self.choice(messages, ("是", "否"))
        return yes - no
