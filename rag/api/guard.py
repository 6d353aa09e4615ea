"""One guard for every door of the server: API routes, the web UI and everything under it.

The guard is ASGI middleware around the whole application (FastAPI routes and the mounted Gradio UI
alike), so no route can be added that it does not see. It does two things before any handler runs:

* **Keys.** With ``POLICYQA_API_KEYS`` (full access: ask, add and remove documents) or
  ``POLICYQA_READ_KEYS`` (ask, search and list only) set, every request needs a key: an
  ``Authorization: Bearer`` or ``X-API-Key`` header (programs), or the session cookie set by the
  ``/login`` page (people in a browser). Open without a key: ``/healthz``, ``/login``, and the API
  description (``/docs``, ``/openapi.json``), which holds no documents. Each key is a service
  account (``key:<8 hex of its sha256>``); ``POLICYQA_KEY_GROUPS`` binds accounts to groups, and a
  full-access key bound to none is a site administrator (what each may read: rag.index.acl).
* **Identity provider.** With ``POLICYQA_OIDC_ISSUER`` set, people may sign in through the site's
  OpenID Connect provider instead (``/login/oidc``; :mod:`rag.api.oidc` does the protocol) and
  programs may send the provider's JWTs as ``Authorization: Bearer``. A bearer value shaped like a
  JWT is only ever read as a token, anything else only as a key, so which check runs depends on
  what the client sent, never on the keys.
* **Sessions.** ``/login`` (and the provider's callback) hands a browser a random session id (HttpOnly, SameSite=Strict) that the
  server maps to the key's :class:`~rag.models.Principal` until it expires (``POLICYQA_SESSION_HOURS``) or ``/logout`` revokes
  it; the key itself, or anything derived from it, never sits in a cookie. Wrong keys are throttled
  per client address (``POLICYQA_LOGIN_MAX_FAILURES`` per ``POLICYQA_LOGIN_WINDOW_S``: 429 beyond).
* **Cross-site writes.** SameSite does not separate ports of one host, so every request that a
  cookie authenticates and that could change something (POST/PUT/PATCH/DELETE, a websocket) must come
  from the server's own pages: ``Sec-Fetch-Site: same-origin``, or an ``Origin`` naming this host.
  Requests with a key header (programs) are not affected: another site cannot add one.
* **Body size.** The request body is counted as it arrives, whatever the transfer encoding
  (``Content-Length`` or chunked), and the request is answered 413 the moment it passes the limit.
"""

from __future__ import annotations

import hmac
import html
import json
import logging
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from hashlib import sha256
from urllib.parse import parse_qs, quote, unquote, urlsplit

from rag.api.oidc import (
    BINDING_COOKIE,
    CALLBACK_PATH,
    OIDC,
    PENDING_TTL_S,
    START_PATH,
    OIDCConfig,
    ProviderUnavailable,
    SignInError,
    looks_like_jwt,
)
from rag.models import LOCAL, Principal

log = logging.getLogger(__name__)

COOKIE = "policyqa_session"
OPEN_PATHS = ("/healthz", "/login", "/logout", "/docs", "/openapi.json", "/favicon.ico")
OPEN_PREFIXES = ("/docs-assets/",)
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
#: Memory bounds: the most live sessions kept (the oldest goes first) and client addresses tracked
#: by the login throttle (the least recently failing is forgotten first).
MAX_SESSIONS = 10_000
MAX_THROTTLED_CLIENTS = 4_096

Scope = dict
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


class BodyTooLarge(Exception):
    pass


class Keys:
    """The configured keys and the principal (service account) each stands for."""

    def __init__(self, write: list[str], read: list[str], groups: dict[str, frozenset[str]] | None = None) -> None:
        """``groups``: service-account name ('key:<8 hex>') -> the groups its key is bound to."""
        bound = groups or {}
        self._principals: dict[str, Principal] = \
            {k: _key_principal(k, "read", bound) for k in read} | {k: _key_principal(k, "write", bound) for k in write}

    @property
    def enabled(self) -> bool:
        return bool(self._principals)

    def principal_of_key(self, key: str) -> Principal | None:
        return _lookup(self._principals, key)


class Sessions:
    """Server-side login sessions: a random id per sign-in, who signed in and when it ends.
    Thread-safe (the UI's event handlers ask from worker threads)."""

    def __init__(self, lifetime_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.lifetime_s = lifetime_s
        self._clock = clock
        self._live: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._lock = threading.Lock()

    def create(self, principal: Principal) -> str:
        token = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            for old in [t for t, (_, ends) in self._live.items() if ends <= now]:
                del self._live[old]
            while len(self._live) >= MAX_SESSIONS:
                self._live.popitem(last=False)
            self._live[token] = (principal, now + self.lifetime_s)
        return token

    def principal(self, token: str) -> Principal | None:
        with self._lock:
            entry = self._live.get(token)
            if entry is None:
                return None
            if entry[1] <= self._clock():
                del self._live[token]
                return None
            return entry[0]

    def revoke(self, token: str) -> None:
        with self._lock:
            self._live.pop(token, None)


class Access:
    """Who a request is: a key header or a provider's token (programs), or a session cookie (people)."""

    def __init__(self, keys: Keys, sessions: Sessions, oidc: OIDC | None = None) -> None:
        self.keys = keys
        self.sessions = sessions
        self.oidc = oidc

    @property
    def enabled(self) -> bool:
        return self.keys.enabled or self.oidc is not None

    def principal(self, headers: dict[str, str], cookies: dict[str, str]) -> Principal | None:
        """Who a request's key or session cookie stands for (:data:`~rag.models.LOCAL` when neither
        keys nor a provider are set), None when it stands for no one. A provider's token is read
        only by :meth:`authenticate` (it may have to fetch the provider's keys)."""
        if not self.enabled:
            return LOCAL
        key = _key_header(headers)
        if key:
            return None if self._is_token(key) else self.keys.principal_of_key(key)
        token = cookies.get(COOKIE, "")
        return self.sessions.principal(token) if token else None

    async def authenticate(self, headers: dict[str, str], cookies: dict[str, str]) -> Principal | None:
        """:meth:`principal`, and a provider's bearer token; raises
        :class:`~rag.api.oidc.SignInError` for a token that is refused (it says why)."""
        key = _key_header(headers)
        if self.oidc is not None and self._is_token(key):
            return await self.oidc.bearer_principal(key)
        return self.principal(headers, cookies)

    def _is_token(self, credential: str) -> bool:
        return self.oidc is not None and looks_like_jwt(credential)


def access_for(settings) -> Access:
    """The keys, a session store and the identity provider as ``settings`` (a
    :class:`rag.config.Settings`) configure them."""
    config = OIDCConfig.from_settings(settings)
    if config is not None and any(looks_like_jwt(k) for k in settings.api_key_list + settings.read_key_list):
        raise ValueError("an API key is shaped like a JWT (eyJ….….…), which would be read as the identity "
                         "provider's token: choose keys without dots (e.g. python -c 'import secrets; "
                         "print(secrets.token_urlsafe(32))')")
    return Access(Keys(settings.api_key_list, settings.read_key_list, settings.key_group_map), Sessions(settings.session_hours * 3600),
                  OIDC(config) if config is not None else None)


def _key_header(headers: dict[str, str]) -> str:
    auth = headers.get("authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else headers.get("x-api-key", "")


def key_account(key: str) -> str:
    """A key's service-account name: a digest of the key, so the audit trail never holds the key."""
    return "key:" + sha256(key.encode("utf-8")).hexdigest()[:8]


def _key_principal(key: str, role: str, bound: dict[str, frozenset[str]]) -> Principal:
    """A key's service account. A full-access key bound to no group is a site administrator
    (reads everything, manages every knowledge base); a key bound to groups (POLICYQA_KEY_GROUPS)
    reads what those groups may (rag.index.acl), and a full one among them may also write."""
    name = key_account(key)
    groups = bound.get(name, frozenset())
    return Principal(name=name, role=role, groups=groups, admin=role == "write" and not groups)


def _lookup(table: dict[str, Principal], given: str) -> Principal | None:
    for candidate, principal in table.items():  # compare every one in constant time
        if hmac.compare_digest(candidate.encode("utf-8"), given.encode("utf-8")):
            return principal
    return None


class LoginThrottle:
    """Wrong keys per client address within a sliding window; bounded memory (see MAX_THROTTLED_CLIENTS)."""

    def __init__(self, max_failures: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures, self.window_s = max_failures, window_s
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, client: str) -> float:
        """Seconds until ``client`` may try again (0: now)."""
        failures = self._failures.get(client)
        if failures is None or len(failures) < self.max_failures:
            return 0.0
        return max(0.0, failures[0] + self.window_s - self._clock())

    def failed(self, client: str) -> None:
        failures = self._failures.pop(client, None) or deque(maxlen=self.max_failures)
        failures.append(self._clock())
        self._failures[client] = failures  # most recent last
        while len(self._failures) > MAX_THROTTLED_CLIENTS:
            self._failures.popitem(last=False)

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)


def safe_next(target: str) -> str | None:
    """``target`` if it is a path on this server, else None. Browsers read a backslash as a slash
    and drop tabs and newlines, so ``/`` + backslash + ``host`` is another host: any backslash,
    control character or whitespace, at any level of percent-decoding, disqualifies a target, as
    do a scheme and a host."""
    candidate = target
    for _ in range(4):  # each level of percent-decoding a proxy or browser might apply
        if not candidate.startswith("/") or candidate[1:2] in ("/", "\\"):
            return None
        if "\\" in candidate or any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in candidate):
            return None
        parts = urlsplit(candidate)
        if parts.scheme or parts.netloc:
            return None
        decoded = unquote(candidate)
        if decoded == candidate:
            return target
        candidate = decoded
    return None


def same_origin(headers: dict[str, str]) -> bool:
    """Whether a browser request comes from this server's own pages (see the module docstring).
    A client that sends neither header is not a browser page another site could script."""
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site == "same-origin"
    origin = headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc.lower() == headers.get("host", "").lower() != ""


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
margin:8px 0;box-sizing:border-box}}button,.sso{{padding:8px 24px}}.sso{{display:inline-block;background:#1d4ed8;
color:#fff;text-decoration:none;border-radius:4px}}.err{{color:#b00}}</style></head><body>
<h2>PolicyQA 政策文件问答</h2>{error}{methods}
</body></html>"""
#: The ways in the login page offers, as the server is configured.
OIDC_BUTTON = '<p><a class="sso" href="{start}?next={next_q}">统一身份认证登录</a></p>'
KEY_FORM = """<p>{lead}</p><form method="post" action="/login"><input type="hidden" name="next" value="{next}">
<input type="password" name="key" placeholder="访问密钥" autofocus required><button type="submit">登录</button></form>"""
#: The callback's answer: the session cookie is SameSite=Strict, and a browser that came from the
#: provider's site would not send it on a redirect that continues that navigation, so the page
#: moves on itself (a navigation this server's page starts is same-site).
SIGNED_IN_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="0;url={next}"><title>PolicyQA 已登录</title></head>
<body><p>已登录，正在进入 <a href="{next}">PolicyQA</a>…</p></body></html>"""


class Guard:
    """ASGI middleware: keys, sessions, cross-site writes and body size for every request (see the
    module docstring)."""

    def __init__(self, app, access: Access, throttle: LoginThrottle, max_body_bytes: int,
                 ui_path: str | None) -> None:
        self.app = app
        self.access = access
        self.throttle = throttle
        self.max_body = max_body_bytes
        self.ui_path = ui_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        method = scope.get("method", "GET")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        cookies = _cookies(headers.get("cookie", ""))
        if scope["type"] == "http" and path == "/login" and method == "POST":
            if not same_origin(headers):
                return await self._respond(send, *_cross_site())
            return await self._login(scope, receive, send, headers)
        if scope["type"] == "http" and path == "/logout":
            return await self._logout(scope, send, headers, cookies)
        if scope["type"] == "http" and path == "/login":
            return await self._login_page(send, safe_next(_next(scope)) or "", "")
        if scope["type"] == "http" and method == "GET" and self.access.oidc is not None and \
                path in (START_PATH, CALLBACK_PATH):
            return await (self._oidc_start if path == START_PATH else self._oidc_callback)(scope, send, headers, cookies)
        if not (path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)):
            try:
                principal = await self.access.authenticate(headers, cookies)
            except ProviderUnavailable as exc:
                log.error("bearer token not checked: %s", exc)
                return await self._respond(send, *_json(
                    503, "identity_provider_unavailable", "the identity provider cannot be reached to check "
                    "the token; try again shortly", exc.message_zh, [(b"retry-after", b"10")]))
            except SignInError as exc:
                return await self._respond(send, *_json(
                    401, "invalid_token", f"{exc}: get a new token from the identity provider",
                    f"{exc.message_zh}，请向统一身份认证服务重新获取令牌",
                    [(b"www-authenticate", b'Bearer error="invalid_token"')]))
            if principal is None:
                if scope["type"] == "http" and method == "GET" and "text/html" in headers.get("accept", ""):
                    target = quote(path + ("?" + scope["query_string"].decode() if scope.get("query_string") else ""))
                    return await self._respond(send, 303, [(b"location", f"/login?next={target}".encode())], b"")
                if scope["type"] != "http":
                    return await send({"type": "websocket.close", "code": 4401})
                if self.access.oidc is not None:
                    return await self._respond(send, *_json(
                        401, "unauthorized", "missing or wrong credentials: send 'Authorization: Bearer <the "
                        "identity provider's token or an API key>', or sign in at /login",
                        "缺少凭据或凭据错误，请在请求头中提供 Authorization: Bearer <统一身份认证令牌或 API 密钥>，或在 /login 登录",
                        [(b"www-authenticate", b"Bearer")]))
                return await self._respond(send, *_json(
                    401, "unauthorized", "missing or wrong API key: send 'Authorization: Bearer <key>'",
                    "缺少 API 密钥或密钥错误，请在请求头中提供 Authorization: Bearer <密钥>",
                    [(b"www-authenticate", b"Bearer")]))
            changes = scope["type"] != "http" or method in WRITE_METHODS
            if changes and self.access.enabled and not _key_header(headers) and not same_origin(headers):
                if scope["type"] != "http":
                    return await send({"type": "websocket.close", "code": 4403})
                return await self._respond(send, *_cross_site())
            if principal.role == "read" and is_write(method, path):
                return await self._respond(send, *_json(
                    403, "forbidden", "this key may ask and search but not add or remove documents",
                    "该密钥只能提问和检索，不能上传或删除文件"))
            scope.setdefault("state", {})["principal"] = principal
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
        client = (scope.get("client") or ("unknown", 0))[0]
        wait = self.throttle.retry_after(client)
        if wait > 0:
            return await self._respond(send, *_json(
                429, "too_many_attempts", f"too many wrong keys from this address; try again in {wait:.0f} s",
                f"密钥错误次数过多，请 {wait:.0f} 秒后再试", [(b"retry-after", str(int(wait) + 1).encode())]))
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
        target = safe_next((form.get("next") or [""])[0]) or self.ui_path or "/docs"
        principal = self.access.keys.principal_of_key(key)
        if principal is None:
            self.throttle.failed(client)
            return await self._login_page(send, target, '<p class="err">密钥不正确，请重新输入。</p>', status=401)
        self.throttle.succeeded(client)
        token = self.access.sessions.create(principal)
        await self._respond(send, 303, [(b"location", quote(target, safe="/?&=%#:;,+@!$'()*~").encode()),
                                        (b"set-cookie", _cookie(token, scope, int(self.access.sessions.lifetime_s)))], b"")

    async def _login_page(self, send: Send, target: str, error: str, status: int = 200,
                          extra_headers: list | None = None) -> None:
        target = target or self.ui_path or "/"
        methods = []
        if self.access.oidc is not None:
            methods.append(OIDC_BUTTON.format(start=START_PATH, next_q=html.escape(quote(target, safe=""))))
        if self.access.keys.enabled:
            lead = "或输入管理员发放的访问密钥：" if methods else "请输入管理员发放的访问密钥。"
            methods.append(KEY_FORM.format(lead=lead, next=html.escape(target)))
        page = LOGIN_PAGE.format(error=error, methods="".join(methods)).encode("utf-8")
        await self._respond(send, status, [(b"content-type", b"text/html; charset=utf-8"), *(extra_headers or [])],
                            page)

    async def _logout(self, scope: Scope, send: Send, headers: dict[str, str], cookies: dict[str, str]) -> None:
        """Ends the session; someone who signed in through the provider goes on to its logout."""
        token = cookies.get(COOKIE, "")
        principal = self.access.sessions.principal(token) if token else None
        self.access.sessions.revoke(token)
        target = "/login"
        if principal is not None and self.access.oidc is not None:
            target = await self.access.oidc.logout_url(principal, self._own_url(scope, headers, "/login")) or target
        await self._respond(send, 303, [(b"location", target.encode("latin-1")), (b"set-cookie", _cookie("", scope, 0))],
                            b"")

    def _own_url(self, scope: Scope, headers: dict[str, str], path: str) -> str:
        """``path`` on this server as the provider must name it (the configured redirect URI's
        origin, else the request's)."""
        configured = urlsplit(self.access.oidc.config.redirect_uri)
        if configured.netloc:
            return f"{configured.scheme}://{configured.netloc}{path}"
        return f"{scope.get('scheme', 'http')}://{headers.get('host', '')}{path}"

    async def _oidc_start(self, scope: Scope, send: Send, headers: dict[str, str], _: dict[str, str]) -> None:
        """Off to the provider, with this flow's binding cookie (see :func:`_binding_cookie`)."""
        target = safe_next(_next(scope)) or self.ui_path or "/docs"
        oidc = self.access.oidc
        redirect_uri = oidc.config.redirect_uri or self._own_url(scope, headers, CALLBACK_PATH)
        try:
            url, binding = await oidc.start(redirect_uri, target)
        except ProviderUnavailable as exc:
            log.error("sign-in not started: %s", exc)
            return await self._login_page(send, target, f'<p class="err">{html.escape(exc.message_zh)}</p>', status=503)
        await self._respond(send, 303, [(b"location", url.encode("latin-1")), (b"cache-control", b"no-store"),
                                        (b"set-cookie", _binding_cookie(binding, scope, PENDING_TTL_S))], b"")

    async def _oidc_callback(self, scope: Scope, send: Send, _: dict[str, str], cookies: dict[str, str]) -> None:
        query = {k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode("utf-8", "replace")).items()}
        spent = [(b"set-cookie", _binding_cookie("", scope, 0)), (b"cache-control", b"no-store")]
        try:
            principal, target = await self.access.oidc.complete(query, cookies.get(BINDING_COOKIE, ""))
        except SignInError as exc:
            log.warning("sign-in through the identity provider refused: %s", exc)
            status = 503 if isinstance(exc, ProviderUnavailable) else 400
            return await self._login_page(send, "", f'<p class="err">{html.escape(exc.message_zh)}</p>',
                                          status=status, extra_headers=spent)
        self.access.sessions.revoke(cookies.get(COOKIE, ""))  # a session this browser had before ends
        token = self.access.sessions.create(principal)
        location = html.escape(quote(target, safe="/?&=%#:;,+@!$'()*~"))
        await self._respond(send, 200, [
            (b"content-type", b"text/html; charset=utf-8"), (b"referrer-policy", b"no-referrer"), *spent,
            (b"set-cookie", _cookie(token, scope, int(self.access.sessions.lifetime_s)))],
            SIGNED_IN_PAGE.format(next=location).encode("utf-8"))

    @staticmethod
    async def _respond(send: Send, status: int, headers: list, body: bytes) -> None:
        if not any(k == b"content-length" for k, _ in headers):
            headers = headers + [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _cookie(token: str, scope: Scope, max_age: int) -> bytes:
    secure = "; Secure" if scope.get("scheme") == "https" else ""
    return f"{COOKIE}={token}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Strict{secure}".encode()


def _binding_cookie(value: str, scope: Scope, max_age: int) -> bytes:
    """Ties a sign-in in progress to this browser. SameSite=Lax, not Strict: the provider's redirect
    back is a top-level GET from another site, on which a browser sends Lax cookies and withholds
    Strict ones. It authorises nothing (it only proves the callback reaches the browser that began
    the flow, against login CSRF), lives as long as the flow and is sent to /login/oidc only."""
    secure = "; Secure" if scope.get("scheme") == "https" else ""
    return f"{BINDING_COOKIE}={value}; Max-Age={max_age}; Path={START_PATH}; HttpOnly; SameSite=Lax{secure}".encode()


def _cross_site() -> tuple:
    return _json(403, "cross_site", "a signed-in write must come from this server's own pages (Origin / "
                 "Sec-Fetch-Site); programs send 'Authorization: Bearer <key>' instead",
                 "已拒绝：来自其他网站或端口的页面不能以已登录身份修改文库，请在本系统页面内操作")


def _next(scope: Scope) -> str:
    query = parse_qs(scope.get("query_string", b"").decode("utf-8", "replace"))
    return (query.get("next") or [""])[0]
