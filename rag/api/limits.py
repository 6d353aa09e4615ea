"""Per-route limits on what one client may send: a body size and a rate, as a table of rules.

The global limit (``Guard``) is sized for uploads (tens of MB). Routes that only store what they are
sent, such as ``/v1/feedback``, need a much smaller one, and a rate per client, or one read key could
fill the disk. This middleware sits inside the guard (keys are already checked): a client is its
key (its digest, the session cookie being the same digest) when keys are configured, else its address.
Buckets are kept for at most ``_CLIENTS`` clients (the least recently seen are forgotten), so the
table's memory is bounded whatever the clients send.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from rag.api.guard import COOKIE

Scope = dict
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]

_CLIENTS = 10_000


@dataclass(frozen=True)
class RouteRule:
    method: str
    path: str
    max_body_bytes: int
    per_minute: int


class _Buckets:
    """Token buckets, one per (route, client): ``per_minute`` tokens, refilled continuously."""

    def __init__(self) -> None:
        self._buckets: OrderedDict[tuple[str, str], tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: tuple[str, str], per_minute: int) -> float:
        """0 when the request may go on, else the seconds until it may."""
        now = time.monotonic()
        rate = per_minute / 60.0
        with self._lock:
            tokens, then = self._buckets.pop(key, (float(per_minute), now))
            tokens = min(float(per_minute), tokens + (now - then) * rate)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / rate
            self._buckets[key] = (tokens - 1 if tokens >= 1 else tokens, now)
            while len(self._buckets) > _CLIENTS:
                self._buckets.popitem(last=False)
            return wait


class RouteLimits:
    """ASGI middleware applying :class:`RouteRule` s (see the module docstring)."""

    def __init__(self, app, rules: list[RouteRule], keyed: bool) -> None:
        self.app = app
        self.rules = {(r.method, r.path): r for r in rules}
        self.keyed = keyed
        self.buckets = _Buckets()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rule = self.rules.get((scope.get("method", ""), scope.get("path", ""))) if scope["type"] == "http" else None
        if rule is None:
            return await self.app(scope, receive, send)
        wait = self.buckets.take((rule.path, self._client(scope)), rule.per_minute)
        if wait:
            return await _refuse(send, 429, "rate_limited",
                                 f"over {rule.per_minute} requests a minute to {rule.path}; try again in {math.ceil(wait)} s",
                                 "请求过于频繁，请稍后再试", [(b"retry-after", str(math.ceil(wait)).encode())])
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > rule.max_body_bytes:
            return await self._too_large(send, rule)
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > rule.max_body_bytes:
                return await self._too_large(send, rule)
            more = message.get("more_body", False)
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def _client(self, scope: Scope) -> str:
        if self.keyed:  # the guard let it in: a configured key, a provider's token or a session
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            auth = headers.get("authorization", "")
            key = auth[7:].strip() if auth.lower().startswith("bearer ") else headers.get("x-api-key", "")
            token = key or _cookie(headers.get("cookie", ""))  # a key, or the session signed in with one
            return "key:" + hashlib.sha256(token.encode("utf-8")).hexdigest()[:16]
        client = scope.get("client")
        return "addr:" + (client[0] if client else "?")

    @staticmethod
    async def _too_large(send: Send, rule: RouteRule) -> None:
        await _refuse(send, 413, "too_large", f"request body over {rule.max_body_bytes // 1024} KB for {rule.path}",
                      "请求或文件超过大小上限", [(b"connection", b"close")])


def _cookie(raw: str) -> str:
    for part in raw.split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            return value
    return ""


async def _refuse(send: Send, status: int, code: str, message: str, message_zh: str, headers: list) -> None:
    body = json.dumps({"error": {"code": code, "message": message, "message_zh": message_zh}},
                      ensure_ascii=False).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})
