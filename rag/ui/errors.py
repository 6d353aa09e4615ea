"""Gradio's routes answer a client's mistake as a client error, never a 500.

Several routes of the mounted Gradio app raise on requests that are merely wrong: ``POST
gradio_api/call/v2/<name>`` with an unknown endpoint name (``KeyError``) or arguments that do not
fit it (``TypeError``), and ``GET gradio_api/call/<name>/<event>`` for an unknown event, which
raises inside its event stream after the 200 has gone out and breaks the connection. Gradio turns
each into a 500 with a traceback in the log. This middleware, around everything under the UI's
path, maps such an exception by what it says about the request (:data:`CLIENT_ERRORS`): a JSON
4xx in the API's error format when nothing was sent yet, or a closing ``error`` event when a
stream had already started. Any other exception still propagates (a real server error).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.exceptions import HTTPException

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Message = dict[str, Any]

#: Exception types raised by Gradio's request handling on a request that is wrong, and the answer.
CLIENT_ERRORS: tuple[tuple[type[BaseException], int, str, str, str], ...] = (
    (LookupError, 404, "not_found", "no such endpoint or event in the UI", "界面中没有该接口或事件"),
    (TypeError, 422, "invalid_request", "the arguments do not fit this UI endpoint", "请求参数与该界面接口不符"),
    (ValueError, 422, "invalid_request", "the arguments do not fit this UI endpoint", "请求参数与该界面接口不符"),
)


def client_error(exc: BaseException) -> tuple[int, str, str, str] | None:
    """(status, code, message, message_zh) for an exception caused by the request, else None."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:  # Starlette wraps the original in a RuntimeError
        seen.add(id(exc))
        if isinstance(exc, HTTPException) and exc.status_code < 500:
            return exc.status_code, "http_error", str(exc.detail), "请求错误"
        for kind, status, code, message, message_zh in CLIENT_ERRORS:
            if isinstance(exc, kind):
                return status, code, message, message_zh
        exc = exc.__cause__ or exc.__context__
    return None


class GradioErrors:
    """ASGI middleware for every request under ``path`` but the API's (see the module docstring)."""

    def __init__(self, app: Callable[..., Awaitable[None]], path: str) -> None:
        self.app = app
        self.prefix = path.rstrip("/") + "/"

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path + "/").startswith(self.prefix) or path.startswith("/v1/"):
            return await self.app(scope, receive, send)
        started = finished = False
        stream = False
        held: list[Message] = []  # a 500 Gradio sends before it re-raises: replaced if the cause is ours

        async def guarded(message: Message) -> None:
            nonlocal started, finished, stream
            if message["type"] == "http.response.start" and message["status"] >= 500 and not started:
                held.append(message)
                return
            if held:
                held.append(message)
                return
            if message["type"] == "http.response.start":
                started = True
                stream = any(k == b"content-type" and v.startswith(b"text/event-stream")
                             for k, v in message.get("headers", []))
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                finished = True
            await send(message)

        try:
            await self.app(scope, receive, guarded)
        except Exception as exc:
            mapped = client_error(exc)
            if mapped is None:
                raise
            status, code, message, message_zh = mapped
            log.info("UI request %s %s refused as %d: %r", scope.get("method"), scope.get("path"), status, exc)
            if not started:
                body = json.dumps({"error": {"code": code, "message": message, "message_zh": message_zh}},
                                  ensure_ascii=False).encode("utf-8")
                await send({"type": "http.response.start", "status": status,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
            elif not finished:
                tail = f"event: error\ndata: {json.dumps(message_zh, ensure_ascii=False)}\n\n" if stream else ""
                await send({"type": "http.response.body", "body": tail.encode("utf-8"), "more_body": False})
            return
        for message in held:
            await send(message)
