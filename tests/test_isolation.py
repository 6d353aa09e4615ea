"""rag.isolation.Worker on real child processes: crashes, hangs and memory bombs stay in the child."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from rag.isolation import Worker, WorkerCrashed, WorkerTimeout
from tests.conftest import ROOT
from tests.procs import Output, kill_and_check_children, wait_until


@pytest.fixture
def worker():
    with Worker("test", "tests.workers:echo", memory_mb=512) as w:
        yield w


def test_items_stream_back_in_order(worker: Worker) -> None:
    assert worker.call(("pieces", ["a", "b", "c"]), timeout_s=30) == ["a", "b", "c"]


def test_segfault_is_a_crash_of_that_request_only(worker: Worker) -> None:
    first = worker.call(("pid", None), timeout_s=30)[0]
    got = []
    with pytest.raises(WorkerCrashed, match="SIGSEGV"):
        for item in worker.stream(("segfault", None), timeout_s=30):
            got.append(item)
    assert got == ["before"] and worker.crashes == 1
    second = worker.call(("pid", None), timeout_s=30)[0]  # a fresh child serves the next request
    assert second != first and worker.crashes == 0


def test_hang_is_stopped_at_the_time_limit(worker: Worker) -> None:
    worker.call(("pid", None), timeout_s=300)  # started: the limit below is on the request alone
    with pytest.raises(WorkerTimeout, match="0.5 s"):
        worker.call(("sleep", 30), timeout_s=0.5)
    assert worker.call(("pieces", ["ok"]), timeout_s=30) == ["ok"]


def test_memory_limit_turns_a_bomb_into_memoryerror(worker: Worker) -> None:
    with pytest.raises(MemoryError):
        worker.call(("allocate", 1024), timeout_s=30)  # 1 GiB under a 512 MiB address-space limit
    assert worker.call(("allocate", 16), timeout_s=30) == [16 * 1024 * 1024]


def test_handler_exceptions_reach_the_caller(worker: Worker) -> None:
    with pytest.raises(ValueError, match="bad request"):
        worker.call(("raise", "bad request"), timeout_s=30)


def test_a_reader_that_stops_early_does_not_confuse_the_next_request(worker: Worker) -> None:
    stream = worker.stream(("pieces", list(range(100))), timeout_s=30)
    assert next(stream) == 0
    stream.close()
    assert worker.call(("pieces", ["x"]), timeout_s=30) == ["x"]


def test_progress_logged_in_the_child_reaches_the_caller_and_keeps_it_waiting(worker: Worker, caplog) -> None:
    """A request whose only reply comes after 1.5 s is not stopped at a 1 s limit while it logs each
    step; the caller's log shows the steps (a long OCR run shows its pages)."""
    caplog.set_level("INFO", logger="rag")
    worker.call(("pid", None), timeout_s=300)  # started: the limit below is on the request alone
    assert worker.call(("pages", 5), timeout_s=1.0) == ["read"]
    steps = [r.getMessage() for r in caplog.records if r.name == "rag.tests.worker"]
    assert steps == [f"read page {n} of 5" for n in range(1, 6)]
    with pytest.raises(WorkerTimeout):
        worker.call(("sleep", 5), timeout_s=1.0)  # silence is still a hang


def test_weight_repack_is_off_exactly_on_amx_cpus() -> None:
    from rag.llm.llamacpp import cpu_has_amx, use_weight_repack

    epyc = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16\n"
    xeon = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f amx_bf16 amx_tile amx_int8\n"
    assert not cpu_has_amx(epyc) and cpu_has_amx(xeon)
    assert use_weight_repack("auto", epyc) and not use_weight_repack("auto", xeon)
    assert not use_weight_repack("off", epyc) and use_weight_repack("on", xeon)


# A plain script as a person runs it from a terminal: Ctrl-C raises KeyboardInterrupt even where the
# test runner was started in the background, whose children inherit SIGINT ignored.
CALLER = """
import logging, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
from rag.isolation import Worker
if __name__ == "__main__":
    Worker("test", "tests.workers:echo").call(("block", 600), timeout_s=900)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=lambda s: s.name)
def test_a_busy_child_ends_with_its_caller(signum: signal.Signals, tmp_path: Path) -> None:
    """The caller (a plain script) is killed while its child is mid-request for 600 s: the child
    ends with it, whichever signal it was (SIGKILL runs no cleanup in the caller at all)."""
    script = tmp_path / "caller.py"
    script.write_text(CALLER, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        out = Output(proc.stdout)
        wait_until(lambda: "blocking" in out.text, 120, "the child was busy", proc)
        kill_and_check_children(proc, signum)
    finally:
        proc.kill()
        proc.wait()

