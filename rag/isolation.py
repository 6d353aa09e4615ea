"""Run fragile code in a child process, so its crash, hang or memory blow-up is one request's error.

File parsers (python-docx, pypdf, lxml) and native engines (llama.cpp) can segfault, loop or inflate
a bomb; inside the server process that would take every user down. A :class:`Worker` owns one child
process that builds a handler once (``factory(*args)``, e.g. a loaded model) and then serves
requests, each answered by a stream of items. When the child dies or overruns its time limit it is
killed and a fresh one is started on the next request; the caller gets :class:`WorkerCrashed` or
:class:`WorkerTimeout` and decides what that request becomes.

Children come from a ``forkserver``: each is forked from a small single-threaded server process,
never from the (multi-threaded) caller, and starts in milliseconds.
"""

from __future__ import annotations

import importlib
import itertools
import logging
import multiprocessing
import signal
import threading
from collections.abc import Iterator
from typing import Any

log = logging.getLogger(__name__)

_END, _ITEM, _ERROR, _LOG = "end", "item", "error", "log"


class _LogToCaller(logging.Handler):
    """In the child: sends the request's INFO-and-above log records of ``rag.*`` to the caller, who
    logs them as its own (a long OCR run reports each page). A record counts as progress too."""

    def __init__(self, conn) -> None:
        super().__init__(logging.INFO)
        self.conn = conn
        self.rid: int | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.rid is None:
            return
        try:
            self.conn.send((self.rid, _LOG, (record.name, record.levelno, record.getMessage())))
        except Exception:  # noqa: BLE001 - logging's own policy for a handler that cannot write
            self.handleError(record)


class WorkerCrashed(RuntimeError):
    """The child process died while serving a request (signal, out of memory, native crash)."""

    def __init__(self, name: str, exitcode: int | None) -> None:
        self.exitcode = exitcode
        how = (f"killed by signal {signal.Signals(-exitcode).name}" if exitcode and exitcode < 0
               and -exitcode in signal.valid_signals() else f"exit code {exitcode}")
        super().__init__(f"the {name} process crashed ({how})")


class WorkerTimeout(RuntimeError):
    """The child produced nothing for longer than the request's time limit and was stopped."""


def _serve(conn, factory: str, args: tuple, memory_mb: int | None) -> None:
    """Child main loop: build the handler once, then answer ``(id, request)`` messages."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if memory_mb:
        import resource

        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    forward = _LogToCaller(conn)
    logging.getLogger("rag").addHandler(forward)
    logging.getLogger("rag").setLevel(logging.INFO)
    module, _, attr = factory.partition(":")
    handler = getattr(importlib.import_module(module), attr)(*args)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        rid, request = message
        forward.rid = rid
        try:
            for item in handler(request):
                conn.send((rid, _ITEM, item))
            forward.rid = None
            conn.send((rid, _END, None))
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the caller
            try:
                conn.send((rid, _ERROR, exc))
            except Exception:  # the exception itself does not pickle
                conn.send((rid, _ERROR, RuntimeError(f"{type(exc).__name__}: {exc}")))
        finally:
            forward.rid = None


class Worker:
    """One child process serving requests one at a time (callers are serialised by a lock).

    ``factory`` is ``"module:callable"``; ``callable(*args)`` runs in the child and returns the
    handler, a function from a request to an iterator of picklable items.
    """

    def __init__(self, name: str, factory: str, args: tuple = (), *, memory_mb: int | None = None,
                 preload: tuple[str, ...] = ()) -> None:
        self.name = name
        self._factory, self._args, self._memory_mb = factory, args, memory_mb
        self._preload = (factory.partition(":")[0], *preload)
        self._lock = threading.Lock()
        self._process = None
        self._conn = None
        self._ids = itertools.count()
        self.crashes = 0  # in a row; reset by a request that completes

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None and self._process.is_alive() else None

    def _start(self) -> None:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(list(self._preload))
        parent, child = ctx.Pipe()
        process = ctx.Process(target=_serve, args=(child, self._factory, self._args, self._memory_mb),
                              name=f"policyqa-{self.name}", daemon=True)
        process.start()
        child.close()
        self._process, self._conn = process, parent

    def _stop(self) -> None:
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if conn is not None:
            conn.close()
        if process is not None:
            if process.is_alive():
                process.kill()
            process.join(timeout=10)

    def stream(self, request: Any, timeout_s: float | None = None) -> Iterator[Any]:
        """Yield the items the handler produces for ``request``.

        ``timeout_s`` bounds the wait for each item or log record (the first one includes building
        the handler on a fresh child). Stopping early is allowed: the rest of the reply is discarded before the
        next request is sent.
        """
        with self._lock:
            if self._process is None or not self._process.is_alive():
                self._stop()
                self._start()
            rid = next(self._ids)
            conn = self._conn
            try:
                conn.send((rid, request))
                while True:
                    if not conn.poll(timeout_s):
                        self._stop()
                        raise WorkerTimeout(f"the {self.name} process gave no result within {timeout_s:g} s")
                    got, kind, item = conn.recv()
                    if got != rid:
                        continue  # left over from an earlier request whose reader stopped early
                    if kind == _END:
                        self.crashes = 0
                        return
                    if kind == _ERROR:
                        self.crashes = 0
                        raise item
                    if kind == _LOG:
                        name, level, text = item
                        logging.getLogger(name).log(level, "%s", text)
                        continue
                    yield item
            except (EOFError, ConnectionError, BrokenPipeError):
                process = self._process
                exitcode = None
                if process is not None:
                    process.join(timeout=5)
                    exitcode = process.exitcode
                self._stop()
                self.crashes += 1
                raise WorkerCrashed(self.name, exitcode) from None

    def call(self, request: Any, timeout_s: float | None = None) -> list[Any]:
        """All items of one request's reply."""
        return list(self.stream(request, timeout_s))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.send(None)
                except OSError:
                    pass
            self._stop()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

