"""Run fragile code in a child process, so its crash, hang or memory blow-up is one request's error.

File parsers (python-docx, pypdf, lxml) and native engines (llama.cpp) can segfault, loop or inflate
a bomb; inside the server process that would take every user down. A :class:`Worker` owns one child
process that builds a handler once (``factory(*args)``, e.g. a loaded model) and then serves
requests, each answered by a stream of items. When the child dies or overruns its time limit it is
killed and a fresh one is started on the next request; the caller gets :class:`WorkerCrashed` or
:class:`WorkerTimeout` and decides what that request becomes.

Each child is a fresh interpreter (``python -c``, started with ``subprocess``: never forked from
the multi-threaded caller) whose ``__main__`` is this module's small entry point, so the caller's
own script is never imported again in it — a user's script without an ``if __name__ ==
"__main__":`` guard works (multiprocessing's spawn and forkserver re-run the caller's main module in
every child). A child ends with its caller however the caller ends, even by SIGKILL: it holds the
read end of a pipe whose only write end is the caller's, and a thread in it exits the process the
moment that end closes. A parent-death signal cannot do this: Linux sends it when the *thread*
that started the child exits, and the caller starts children from request threads.
"""

from __future__ import annotations

import importlib
import itertools
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_END, _ITEM, _ERROR, _LOG = "end", "item", "error", "log"
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)  # where a child imports ``rag`` from


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


def _child_main() -> None:
    """Entry point of a child (``python -c``; argv: the connection's and the watch pipe's fds, and
    the worker's name)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    conn_fd, watch_fd = (int(fd) for fd in sys.argv[1:3])
    threading.Thread(target=_exit_with_caller, args=(watch_fd,), name="caller-watch", daemon=True).start()
    conn = Connection(conn_fd)
    sys_path, factory, args, memory_mb = conn.recv()
    sys.path[:] = sys_path  # the caller's, so the factory's module is found as the caller finds it
    _serve(conn, factory, args, memory_mb)


def _exit_with_caller(watch_fd: int) -> None:
    """Blocks until the caller's end of the watch pipe closes (nothing is ever written to it): the
    caller has ended or stopped this worker, so this process ends at once, even mid-request."""
    while os.read(watch_fd, 1):
        pass
    os._exit(1)


def _serve(conn: Connection, factory: str, args: tuple, memory_mb: int | None) -> None:
    """Child main loop: build the handler once, then answer ``(id, request)`` messages."""
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

    def __init__(self, name: str, factory: str, args: tuple = (), *, memory_mb: int | None = None) -> None:
        self.name = name
        self._factory, self._args, self._memory_mb = factory, args, memory_mb
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._conn: Connection | None = None
        self._watch: int | None = None  # write end of the child's watch pipe, held by this process only
        self._ids = itertools.count()
        self.crashes = 0  # in a row; reset by a request that completes

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._alive() else None

    def _alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _start(self) -> None:
        ours, theirs = socket.socketpair()
        watch_r, watch_w = os.pipe()  # both close-on-exec: only the child named below gets watch_r
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (_PACKAGE_ROOT, env.get("PYTHONPATH"))))
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", "from rag.isolation import _child_main; _child_main()",
                 str(theirs.fileno()), str(watch_r), f"policyqa-{self.name}"],  # the name: for `ps`
                pass_fds=(theirs.fileno(), watch_r), stdin=subprocess.DEVNULL, env=env)
        except BaseException:
            ours.close()
            os.close(watch_w)
            raise
        finally:
            theirs.close()
            os.close(watch_r)
        conn = Connection(ours.detach())
        self._process, self._conn, self._watch = process, conn, watch_w
        conn.send((sys.path, self._factory, self._args, self._memory_mb))

    def _stop(self) -> None:
        process, conn, watch = self._process, self._conn, self._watch
        self._process = self._conn = self._watch = None
        if conn is not None:
            conn.close()
        if watch is not None:
            os.close(watch)
        if process is not None:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)

    def stream(self, request: Any, timeout_s: float | None = None) -> Iterator[Any]:
        """Yield the items the handler produces for ``request``.

        ``timeout_s`` bounds the wait for each item or log record (the first one includes building
        the handler on a fresh child). Stopping early is allowed: the rest of the reply is discarded before the
        next request is sent.
        """
        with self._lock:
            if not self._alive():
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
                    try:
                        exitcode = process.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        exitcode = None
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

