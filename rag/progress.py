"""Progress for long work: rich bars on a terminal, log lines everywhere else.

A bar that only draws on a terminal leaves CI logs, ``nohup`` runs and systemd journals silent for
minutes; there, the same updates become a log line at most every few seconds (and at the end).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

log = logging.getLogger("policyqa.progress")
T = TypeVar("T")


class Reporter:
    """``task(description, total)`` then ``update(task, completed, total)``; use as a context manager."""

    def __init__(self, console: Console | None = None, every_s: float = 10.0) -> None:
        self.console = console or Console(stderr=True)
        self._bar = (Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                              TimeElapsedColumn(), TimeRemainingColumn(), console=self.console, transient=True)
                     if self.console.is_terminal else None)
        self._every = every_s
        self._tasks: dict[int, list] = {}  # id -> [description, completed, total, last logged time]

    def __enter__(self) -> Reporter:
        if self._bar is not None:
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
        else:
            for description, completed, total, *_ in self._tasks.values():
                if completed:
                    log.info("%s: %s done", description, f"{completed}/{total}" if total else completed)

    def task(self, description: str, total: int | None = None) -> int:
        task_id = self._bar.add_task(description, total=total) if self._bar is not None else len(self._tasks)
        now = time.monotonic()
        self._tasks[task_id] = [description, 0, total, now, now]
        return task_id

    def update(self, task_id: int, completed: int, total: int | None = None) -> None:
        state = self._tasks[task_id]
        state[1] = completed
        if total is not None:
            state[2] = total
        if self._bar is not None:
            self._bar.update(task_id, completed=completed, total=state[2])
            return
        now = time.monotonic()
        if now - state[3] >= self._every:
            state[3] = now
            log.info("%s: %s%s", state[0], f"{completed}/{state[2]}" if state[2] else completed,
                     _eta(completed, state[2], now - state[4]))

    def track(self, items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
        if total is None and hasattr(items, "__len__"):
            total = len(items)  # type: ignore[arg-type]
        task_id = self.task(description, total)
        for i, item in enumerate(items, 1):
            yield item
            self.update(task_id, i)


def _eta(completed: int, total: int | None, elapsed: float) -> str:
    """`` (ETA 1h02m)`` from the rate so far, for log lines (the terminal bar has its own column)."""
    if not total or not completed or completed >= total:
        return ""
    left = int((total - completed) * elapsed / completed)
    hours, rest = divmod(left, 3600)
    return f" (ETA {hours}h{rest // 60:02d}m)" if hours else f" (ETA {rest // 60}m{rest % 60:02d}s)"
