"""The UI page in Chinese whatever the browser's language.

Gradio picks the language of its own strings (the upload box, loading and connection messages)
from the browser before any script of the app can run, so an English-language browser shows a
Chinese government tool with English parts. This middleware puts one line at the top of the UI
page's <head> that reports zh-CN as the browser language; nothing else is touched, and a page it
cannot read (compressed, not HTML) passes unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

#: Runs before Gradio's own scripts: they then choose their zh-CN strings.
SCRIPT = (b'<script>try{Object.defineProperty(Navigator.prototype,"language",{get:()=>"zh-CN",configurable:true});'
          b'Object.defineProperty(Navigator.prototype,"languages",{get:()=>["zh-CN","zh"],configurable:true})}'
          b"catch(e){}</script>")

Scope = dict[str, Any]
Message = dict[str, Any]


class ChineseLocale:
    """ASGI middleware for the page at ``path`` (the UI's root)."""

    def __init__(self, app: Callable[..., Awaitable[None]], path: str) -> None:
        self.app = app
        self.path = path.rstrip("/")

    async def __call__(self, scope: Scope, receive: Callable, send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http" or scope.get("method") != "GET" or scope["path"].rstrip("/") != self.path:
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        parts: list[bytes] = []

        async def rewrite(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            parts.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(parts)
            headers = dict((k.lower(), v) for k, v in start["headers"])
            if b"text/html" in headers.get(b"content-type", b"") and b"content-encoding" not in headers \
                    and b"<head>" in body:
                body = body.replace(b"<head>", b"<head>" + SCRIPT, 1)
            out = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            await send({**start, "headers": [*out, (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, rewrite)
