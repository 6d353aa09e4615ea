"""The packaged LLM's speed with llama.cpp's weight repacking on and off and with thread counts, side by side.

    python eval/bench_llm.py [--prompts 3] [--max-tokens 64] [--threads 1,2] [--repack on,off]

Each row is one configuration (``--threads 1,2`` compares one and two threads: what
POLICYQA_LLM_THREADS / POLICYQA_LLM_THREADS_BATCH should be on this host; the rows run one after
the other, so a busy host's load is printed with them).

Repacking ("extra buffer types") is what crashes llama-cpp-python 0.3.36 on Intel CPUs with AMX, so
PolicyQA turns it off there (POLICYQA_LLM_WEIGHT_REPACK=auto). This prints what that costs on the CPU
it runs on: load time, prompt tokens/s (RAG-sized prompts built from docs/), generation tokens/s and
time to the first token. Each configuration runs in its own model process, as in the product.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor() or "unknown CPU"


def prompts(n: int) -> list[list[dict[str, str]]]:
    """RAG-shaped prompts: four ~220-character passages from docs/ and a question, as the chain sends."""
    from rag.resources import load_prompt

    texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs").glob("*.txt"))]
    out = []
    for i in range(n):
        passages = "\n\n".join(f"[{k + 1}] 《文件》\n{texts[(i + k) % len(texts)][400 + 220 * i: 620 + 220 * i]}"
                               for k in range(4))
        user = load_prompt("answer_user.md").format(passages=passages, question="文中提到的主要数字有哪些？")
        out.append([{"role": "system", "content": load_prompt("answer_system.md")}, {"role": "user", "content": user}])
    return out


def measure(repack: bool, messages: list[list[dict[str, str]]], max_tokens: int, threads: int,
            threads_batch: int | None = None) -> dict:
    from llama_cpp import Llama

    from rag.isolation import Worker
    from rag.llm.llamacpp import packaged_gguf

    path = str(packaged_gguf())
    vocab = Llama(model_path=path, vocab_only=True, verbose=False)
    started = time.perf_counter()
    with Worker("bench model", "rag.llm.llamacpp:_engine", (path, threads, 4096, repack, threads_batch)) as worker:
        worker.call(("chat", [{"role": "user", "content": "你好"}], 1), timeout_s=600)  # load
        load_s = time.perf_counter() - started
        prompt_rates, gen_rates, firsts = [], [], []
        for m in messages:
            # the messages' own tokens; the chat template adds about ten more
            n_prompt = len(vocab.tokenize("\n".join(x["content"] for x in m).encode("utf-8")))
            t0 = time.perf_counter()
            first = None
            pieces = 0
            for _ in worker.stream(("chat", m, max_tokens), timeout_s=600):
                pieces += 1
                first = first or time.perf_counter()
            end = time.perf_counter()
            firsts.append(first - t0)
            prompt_rates.append(n_prompt / (first - t0))
            if pieces > 1:
                gen_rates.append((pieces - 1) / (end - first))
    return {"load_s": load_s, "prompt_tok_s": statistics.median(prompt_rates),
            "gen_tok_s": statistics.median(gen_rates) if gen_rates else float("nan"),
            "first_token_s": statistics.median(firsts), "prompt_tokens": n_prompt}


def main() -> None:
    import os

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--threads", default=str(os.cpu_count() or 1),
                        help="comma-separated thread counts to compare (generation and prompt alike)")
    parser.add_argument("--repack", default="on,off", help="comma-separated: on, off")
    args = parser.parse_args()
    from rag.llm.llamacpp import cpu_has_amx

    messages = prompts(args.prompts)
    print(f"CPU: {cpu_model()} ({'AMX' if cpu_has_amx() else 'no AMX'}), {os.cpu_count()} logical CPUs")
    print("| weight repack | threads | load s | prompt tok/s | generation tok/s | first token s | prompt tokens | load avg |")
    print("|---|---|---|---|---|---|---|---|")
    for repack in (r == "on" for r in args.repack.split(",")):
        for threads in (int(t) for t in args.threads.split(",")):
            r = measure(repack, messages, args.max_tokens, threads)
            print(f"| {'on (llama.cpp default)' if repack else 'off (AMX-safe)'} | {threads} | {r['load_s']:.1f} | "
                  f"{r['prompt_tok_s']:.0f} | {r['gen_tok_s']:.1f} | {r['first_token_s']:.2f} | {r['prompt_tokens']} | "
                  f"{os.getloadavg()[0]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
