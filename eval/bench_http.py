"""Request latency over real HTTP: start the server on loopback, ask N questions, print p50/p95.

    python eval/bench_http.py [--n 20] [--mode extractive|llm] [--index index/]

Also reports the time to the first streamed event of /v1/answer (SSE) for the same questions.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    import uvicorn

    from rag.config import Settings
    from rag.server import create_server

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--mode", choices=["extractive", "llm"], default="extractive")
    parser.add_argument("--index", default="index")
    parser.add_argument("--evalset", default=str(ROOT / "eval" / "policyqa_eval.jsonl"))
    args = parser.parse_args()
    settings = Settings(index_dir=Path(args.index))
    app = create_server(settings, ui=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    questions = [json.loads(line)["question"] for line in open(args.evalset, encoding="utf-8") if line.strip()][: args.n]
    base = f"http://127.0.0.1:{port}"
    latencies, first_event = [], []
    with httpx.Client(base_url=base, timeout=300) as client:
        client.post("/v1/answer", json={"question": questions[0], "mode": args.mode})  # warm-up (model load)
        for q in questions:
            t = time.perf_counter()
            r = client.post("/v1/answer", json={"question": q, "mode": args.mode})
            r.raise_for_status()
            latencies.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            with client.stream("POST", "/v1/answer", json={"question": q, "mode": args.mode, "stream": True}) as s:
                for line in s.iter_lines():
                    if line.startswith("data:"):
                        first_event.append((time.perf_counter() - t) * 1000)
                        break
    server.should_exit = True
    for name, values in (("POST /v1/answer", latencies), ("first SSE event", first_event)):
        v = sorted(values)
        print(f"{name} ({args.mode}, {len(v)} questions): p50 {v[len(v) // 2]:.0f} ms, p95 {v[min(len(v) - 1, int(len(v) * 0.95))]:.0f} ms, max {v[-1]:.0f} ms")


if __name__ == "__main__":
    main()
