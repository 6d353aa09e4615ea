"""Handlers for the isolation tests: each runs inside a real child process (rag.isolation.Worker)."""

from __future__ import annotations

import logging
import os
import signal
import time

log = logging.getLogger("rag.tests.worker")  # rag.* records are what a child sends its caller


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
        elif kind == "pages":  # slow work that reports each step (as OCR does page by page)
            for page in range(1, value + 1):
                time.sleep(0.3)
                log.info("read page %d of %d", page, value)
            yield "read"
        elif kind == "block":  # busy in a request: says so, then works for a long time
            log.info("blocking")
            time.sleep(value)
            yield "done"
    return handle
