"""Process-tree helpers for the tests that kill a parent and check its children end with it (Linux /proc)."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (children, their children, …)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # ended while we looked
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(condition: Callable[[], object], timeout_s: float, what: str, proc: subprocess.Popen | None = None):
    """Poll ``condition`` until it is true (returned) — a readiness wait, not a sleep; fails naming
    ``what`` at the deadline, or at once if ``proc`` (the process being watched) ended first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if got := condition():
            return got
        assert proc is None or proc.poll() is None, f"the process ended (rc {proc.returncode}) before {what}"
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout_s:g} s: {what}")


class Output:
    """A process's stream read in a thread, so a test can wait for a line without blocking."""

    def __init__(self, stream) -> None:
        self.text = ""
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in iter(stream.readline, ""):
            self.text += line


def kill_and_check_children(proc: subprocess.Popen, signum: int, timeout_s: float = 60) -> set[int]:
    """Send ``signum`` to ``proc`` alone, and assert that every process below it ends within
    ``timeout_s`` (a bound for a loaded machine: a child that outlives its parent never ends)."""
    children = descendants(proc.pid)
    assert children, "no child processes to check"
    os.kill(proc.pid, signum)
    proc.wait(timeout=timeout_s)
    try:
        wait_until(lambda: not any(alive(pid) for pid in children), timeout_s, "the children ended")
    finally:
        for pid in children:
            if alive(pid):
                os.kill(pid, 9)  # never leave one behind, even when the test fails
    return children
