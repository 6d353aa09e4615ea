"""Handlers for the isolation tests: each runs inside a real child process (rag.isolation.Worker)."""

from __future__ import annotations

import os
import signal
import time


def echo():
    def handle(request):
        kind, value = request
        if kind == "pieces":
            yield from value
        elif kind == "pid":
            yield os.getpid()
        elif kind == "segfault":
            yield "before"
            os.kill(os.getpid(), signal.SIGSEGV)
        elif kind == "sleep":
            time.sleep(value)
            yield "woke"
        elif kind == "allocate":
            yield len(bytearray(value * 1024 * 1024))
        elif kind == "raise":
            raise ValueError(value)
    return handle
