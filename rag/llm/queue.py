"""A bounded first-come-first-served line in front of the chat model.

One model process answers one question at a time. Without a bound, every concurrent LLM-mode
request waited behind all the others (4 clients: 136 s at the median, most timing out); with it a
request learns at once whether it gets a place, and a waiting one how many are ahead of it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from rag.llm.base import LLMUnavailableError


class LLMBusyError(LLMUnavailableError):
    """The model's line is full (or a place in it waited too long); ``retry_after_s`` says when to try again."""

    def __init__(self, message: str, reason_zh: str, retry_after_s: int) -> None:
        super().__init__(message, reason_zh)
        self.retry_after_s = retry_after_s


class Ticket:
    """A place in the line; :meth:`leave` gives it up (always call it, e.g. in ``finally``)."""

    def __init__(self, line: LLMQueue) -> None:
        self._line = line

    def ahead(self) -> int:
        """Questions before this one: the one being answered and those waiting in front."""
        return self._line._ahead(self)

    def wait(self) -> Iterator[int]:
        """Yield the number ahead whenever it changes, until this ticket's turn (then return).

        Raises :class:`LLMBusyError` after the line's ``max_wait_s`` without a turn (the place is given up).
        """
        yield from self._line._wait(self)

    def leave(self) -> None:
        self._line._leave(self)


class LLMQueue:
    """``max_waiting`` requests may wait behind the one being answered; a further one is refused."""

    def __init__(self, max_waiting: int, max_wait_s: float) -> None:
        self.max_waiting = max_waiting
        self.max_wait_s = max_wait_s
        self._cond = threading.Condition()
        self._line: list[Ticket] = []  # [0] is the one being answered

    def join(self) -> Ticket:
        """A place at the end of the line, or :class:`LLMBusyError` when it is full."""
        with self._cond:
            if len(self._line) > self.max_waiting:
                raise self.busy_error()
            ticket = Ticket(self)
            self._line.append(ticket)
            return ticket

    def busy_error(self) -> LLMBusyError:
        """What a request that finds the line full is told."""
        return LLMBusyError(f"the local model is answering one question and {self.max_waiting} wait "
                            f"(POLICYQA_LLM_QUEUE_MAX={self.max_waiting}); try again later",
                            f"前面已有{self.max_waiting + 1}个问题", self.retry_after_s())

    def full(self) -> bool:
        with self._cond:
            return len(self._line) > self.max_waiting

    def stats(self) -> dict:
        """What /healthz reports: answering (0 or 1), waiting, and the bound."""
        with self._cond:
            return {"answering": min(1, len(self._line)), "waiting": max(0, len(self._line) - 1),
                    "max_waiting": self.max_waiting}

    def retry_after_s(self) -> int:
        """A client's hint: about the longest a place may wait, at least a few seconds."""
        return max(5, round(self.max_wait_s))

    def _ahead(self, ticket: Ticket) -> int:
        with self._cond:
            return self._line.index(ticket) if ticket in self._line else 0

    def _wait(self, ticket: Ticket) -> Iterator[int]:
        deadline = time.monotonic() + self.max_wait_s
        last = None
        while True:
            with self._cond:
                ahead = self._line.index(ticket)
                if ahead == 0:
                    return
                if ahead != last:
                    last = ahead
                else:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        self._line.remove(ticket)
                        self._cond.notify_all()
                        raise LLMBusyError(f"waited {self.max_wait_s:g} s for the local model "
                                           "(POLICYQA_LLM_QUEUE_WAIT_S)", f"排队超过{self.max_wait_s:g}秒",
                                           self.retry_after_s())
                    self._cond.wait(left)
                    continue
            yield ahead  # outside the lock: the caller may take its time

    def _leave(self, ticket: Ticket) -> None:
        with self._cond:
            if ticket in self._line:
                self._line.remove(ticket)
                self._cond.notify_all()
