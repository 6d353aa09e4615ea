"""An OpenAI-compatible chat server on loopback whose replies wait for the test (a slow model on demand).

It stands in for the model where a test is about what happens around it (the queue, the CLI's
output, a busy server's shutdown); the real packaged model is tested in test_answer_llm.py.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class GatedLLMServer:
    """Each chat request waits until :attr:`gate` is set, then streams :attr:`reply`.

    ``started`` counts requests received (wait on it with :meth:`wait_started`)."""

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.gate = threading.Event()
        self.started = 0
        self._cond = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                with outer._cond:
                    outer.started += 1
                    outer._cond.notify_all()
                outer.gate.wait()
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.end_headers()
                for i in range(0, len(outer.reply), 8):
                    chunk = {"choices": [{"delta": {"content": outer.reply[i:i + 8]}}]}
                    self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def wait_started(self, n: int, timeout_s: float = 300) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.started >= n, timeout_s)

    def close(self) -> None:
        self.gate.set()
        self._server.shutdown()
        self._server.server_close()
