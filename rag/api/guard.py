"""One guard for every door of the server: API routes, the web UI and everything under it.

The guard is ASGI middleware around the whole application (FastAPI routes and the mounted Gradio UI
alike), so no route can be added that it does not see. It does two things before any handler runs:

* **Keys.** With ``POLICYQA_API_KEYS`` (full access: ask, add and remove documents) or
  ``POLICYQA_READ_KEYS`` (ask, search and list only) set, every request needs a key: an
  ``Authorization: Bearer`` or ``X-API-Key`` header (programs), or the session cookie set by the
  ``/login`` page (people in a browser). Open without a key: ``/healthz``, ``/login``, and the API
  description (``/docs``, ``/openapi.json``), which holds no documents.
* **Body size.** The request body is counted as it arrives, whatever the transfer encoding
  (``Content-Length`` or chunked), and the request is answered 413 the moment it passes the limit.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
from collections.abc import Awaitable, Callable
from typing import Literal
from urllib.parse import parse_qs, quote

Role = Literal["read", "write"]
COOKIE = "policyqa_session"
OPEN_PATHS = ("/healthz", "/login", "/logout", "/docs", "/openapi.json", "/favicon.ico")
OPEN_PREFIXES = ("/docs-assets/",)
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

Scope = dict
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


class BodyTooLarge(Exception):
    pass


def session_token(key: str) -> str:
    """What the login cookie holds: a digest of the key (the key itself never sits in a cookie)."""
    return hashlib.sha256(("policyqa-session:" + key).encode("utf-8")).hexdigest()


class Keys:
    """The configured keys and the role each grants."""

    def __init__(self, write: list[str], read: list[str]) -> None:
        self._roles: dict[str, Role] = {k: "read" for k in read} | {k: "write" for k in write}
        self._tokens: dict[str, Role] = {session_token(k): r for k, r in self._roles.items()}

    @property
    def enabled(self) -> bool:
        return bool(self._roles)

    def role_of_key(self, key: str) -> Role | None:
        return _lookup(self._roles, key)

    def role(self, headers: dict[str, str], cookies: dict[str, str]) -> Role | None:
        """The role a request's credentials grant (``write`` for everyone when no keys are set)."""
        if not self.enabled:
            return "write"
        auth = headers.get("authorization", "")
        key = auth[7:].strip() if auth.lower().startswith("bearer ") else headers.get("x-api-key", "")
        if key:
            return self.role_of_key(key)
        token = cookies.get(COOKIE, "")
        return _lookup(self._tokens, token) if token else None


def _lookup(table: dict[str, Role], given: str) -> Role | None:
    for candidate, role in table.items():  # compare every one in constant time
        if hmac.compare_digest(candidate.encode("utf-8"), given.encode("utf-8")):
            return role
    return None


def is_write(method: str, path: str) -> bool:
    """Requests that change the library: document uploads and deletions, UI uploads."""
    return (method in WRITE_METHODS and path.rstrip("/").startswith("/v1/documents")) or \
        path.endswith("/gradio_api/upload")


def _cookies(raw: str) -> dict[str, str]:
    out = {}
    for part in raw.split(";"):
        name, _, value = part.strip().partition("=")
        if name:
            out[name] = value
    return out


def _json(status: int, code: str, message: str, message_zh: str, extra_headers: list | None = None) -> tuple:
    body = json.dumps({"error": {"code": code, "message": message, "message_zh": message_zh}},
                      ensure_ascii=False).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return status, headers + (extra_headers or []), body


LOGIN_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>PolicyQA 登录</title>
<style>body{{font-family:sans-serif;max-width:420px;margin:12vh auto;color:#222}}input{{width:100%;padding:8px;
margin:8px 0;box-sizing:border-box}}button{{padding:8px 24px}}.err{{color:#b00}}</style></head><body>
<h2>PolicyQA 政策文件问答</h2><p>请输入管理员发放的访问密钥。</p>{error}
<form method="post" action="/login"><input type="hidden" name="next" value="{next}">
<input type="password" name="key" placeholder="访问密钥" autofocus required><button type="submit">登录</button></form>
</body></html>"""


class Guard:
    """ASGI middleware: keys and body size for every request (see the module docstring)."""

    def __init__(self, app, keys: Keys, max_body_bytes: int, ui_path: str | None) -> None:
        self.app = app
        self.keys = keys
        self.max_body = max_body_bytes
        self.ui_path = ui_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        method = scope.get("method", "GET")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if scope["type"] == "http" and path == "/login" and method == "POST":
            return await self._login(scope, receive, send, headers)
        if scope["type"] == "http" and path == "/logout":
            return await self._respond(send, 303, [(b"location", b"/login"),
                                                   (b"set-cookie", f"{COOKIE}=; Max-Age=0; Path=/".encode())], b"")
        if scope["type"] == "http" and path == "/login":
            return await self._login_page(send, _next(scope), "")
        if not (path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)):
            role = self.keys.role(headers, _cookies(headers.get("cookie", "")))
            if role is None:
                if scope["type"] == "http" and method == "GET" and "text/html" in headers.get("accept", ""):
                    target = quote(path + ("?" + scope["query_string"].decode() if scope.get("query_string") else ""))
                    return await self._respond(send, 303, [(b"location", f"/login?next={target}".encode())], b"")
                if scope["type"] != "http":
                    return await send({"type": "websocket.close", "code": 4401})
                return await self._respond(send, *_json(
                    401, "unauthorized", "missing or wrong API key: send 'Authorization: Bearer <key>'",
                    "缺少 API 密钥或密钥错误，请在请求头中提供 Authorization: Bearer <密钥>",
                    [(b"www-authenticate", b"Bearer")]))
            if role == "read" and is_write(method, path):
                return await self._respond(send, *_json(
                    403, "forbidden", "this key may ask and search but not add or remove documents",
                    "该密钥只能提问和检索，不能上传或删除文件"))
            scope.setdefault("state", {})["role"] = role
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        await self._limited(scope, receive, send)

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            return await self._respond(send, *self._too_large())
        seen = 0
        exceeded = started = False

        async def counted_receive() -> dict:
            nonlocal seen, exceeded
            if exceeded:
                raise BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    exceeded = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: dict) -> None:
            # A framework may turn the exception raised in receive() into its own 400 ("error parsing
            # the body"); whatever it answers after the limit was passed becomes the 413.
            nonlocal started
            if exceeded:
                if not started:
                    started = True
                    await self._respond(send, *self._too_large())
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except BodyTooLarge:
            if not started:
                started = True
                await self._respond(send, *self._too_large())

    def _too_large(self) -> tuple:
        mb = self.max_body / 1024 / 1024
        return _json(413, "too_large", f"request body over {mb:.1f} MB", "请求或文件超过大小上限",
                     [(b"connection", b"close")])

    async def _login(self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str]) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > 16 * 1024:
                return await self._respond(send, *self._too_large())
            if not message.get("more_body"):
                break
        form = parse_qs(body.decode("utf-8", "replace"))
        key = (form.get("key") or [""])[0]
        target = (form.get("next") or [""])[0]
        if not target.startswith("/") or target.startswith("//"):
            target = self.ui_path or "/docs"
        if self.keys.role_of_key(key) is None:
            return await self._login_page(send, target, '<p class="err">密钥不正确，请重新输入。</p>', status=401)
        secure = "; Secure" if scope.get("scheme") == "https" else ""
        cookie = f"{COOKIE}={session_token(key)}; Path=/; HttpOnly; SameSite=Strict{secure}"
        await self._respond(send, 303, [(b"location", target.encode()), (b"set-cookie", cookie.encode())], b"")

    async def _login_page(self, send: Send, target: str, error: str, status: int = 200) -> None:
        page = LOGIN_PAGE.format(error=error, next=html.escape(target or self.ui_path or "/")).encode("utf-8")
        await self._respond(send, status, [(b"content-type", b"text/html; charset=utf-8")], page)

    @staticmethod
    async def _respond(send: Send, status: int, headers: list, body: bytes) -> None:
        if not any(k == b"content-length" for k, _ in headers):
            headers = headers + [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _next(scope: Scope) -> str:
    query = parse_qs(scope.get("query_string", b"").decode("utf-8", "replace"))
    return (query.get("next") or [""])[0]
