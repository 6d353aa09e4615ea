"""Sign-in through the site's identity provider (OpenID Connect), for the guard.

Two ways in, one mapping to a :class:`~rag.models.Principal` (``oidc:<sub>``, groups from the
configured claim, role ``write`` for members of the write groups):

* **People in a browser**: the authorization code flow with PKCE, ``state`` and ``nonce``.
  ``/login/oidc`` remembers the flow server-side under its ``state``, bound to the browser by a
  random cookie of its own; the callback takes the flow out (single use, whatever happens next),
  checks the cookie, exchanges the code (authlib) and validates the ID token: signature against the
  provider's keys, issuer, audience, ``azp``, nonce, expiry. The guard then opens an ordinary
  server-side session for the principal.
* **Programs**: ``Authorization: Bearer <JWT>`` issued by the provider, validated the same way
  (signature, issuer, expiry) with the audience the client id or one of ``oidc_audiences``, or
  ``azp`` the client id.

Only asymmetric signatures are accepted (:data:`ALGORITHMS`): a token "signed" with the client
secret or with ``none`` is refused. The provider's metadata is fetched on first use (the server
starts while the provider is down) and its key set is fetched again when a token names a key id it
does not hold, at most once per :data:`JWKS_MIN_REFRESH_S` (a stream of made-up key ids cannot make
this server hammer the provider).
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from hashlib import sha256
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from authlib.common.errors import AuthlibBaseError
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from rag.models import Principal

log = logging.getLogger(__name__)

#: How the names of people signed in through the provider begin (the rest is the provider's ``sub``).
NAME_PREFIX = "oidc:"
START_PATH = "/login/oidc"
CALLBACK_PATH = "/login/oidc/callback"
#: The cookie that binds a sign-in in progress to the browser that started it (see the guard).
BINDING_COOKIE = "policyqa_oidc"
#: How long a sign-in may take at the provider, and how many may be in progress at once (the oldest
#: is forgotten first).
PENDING_TTL_S = 600
MAX_PENDING = 10_000
JWKS_MIN_REFRESH_S = 60.0
#: Signature algorithms accepted on ID and access tokens: public-key ones only.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
#: Three base64url segments, the first a JSON object ("eyJ" is base64 of '{"'). A value of this shape
#: is read as a token and never compared with the keys, so telling the two apart depends only on
#: what the client sent.
_JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


class SignInError(Exception):
    """A sign-in or token that is refused; ``message_zh`` is what the person is shown."""

    def __init__(self, message: str, message_zh: str) -> None:
        super().__init__(message)
        self.message_zh = message_zh


class ProviderUnavailable(SignInError):
    """The provider could not be reached or answered nonsense: the site's problem, not the user's."""


def looks_like_jwt(value: str) -> bool:
    return _JWT_SHAPE.fullmatch(value) is not None


@dataclass(frozen=True)
class OIDCConfig:
    """The identity provider as :class:`rag.config.Settings` names it."""

    issuer: str
    client_id: str
    client_secret: str
    scopes: str
    groups_claim: str
    write_groups: frozenset[str]
    audiences: frozenset[str]
    redirect_uri: str
    provider_logout: bool
    leeway_s: int
    timeout_s: float

    @classmethod
    def from_settings(cls, settings) -> OIDCConfig | None:
        """None when no issuer is set; a clear error for a configuration that cannot work."""
        if not settings.oidc_issuer:
            return None
        issuer = settings.oidc_issuer.rstrip("/")
        if not settings.oidc_client_id:
            raise ValueError("POLICYQA_OIDC_ISSUER is set but POLICYQA_OIDC_CLIENT_ID is not: register this server "
                             "as a client at the identity provider and set its client id")
        _check_transport("POLICYQA_OIDC_ISSUER", issuer)
        if settings.oidc_redirect_uri:
            _check_transport("POLICYQA_OIDC_REDIRECT_URI", settings.oidc_redirect_uri)
        scopes = settings.oidc_scopes.split()
        return cls(issuer=issuer, client_id=settings.oidc_client_id, client_secret=settings.oidc_client_secret,
                   scopes=" ".join(["openid"] + [s for s in scopes if s != "openid"]),
                   groups_claim=settings.oidc_groups_claim, write_groups=frozenset(settings.oidc_write_group_list),
                   audiences=frozenset([settings.oidc_client_id, *settings.oidc_audience_list]),
                   redirect_uri=settings.oidc_redirect_uri, provider_logout=settings.oidc_provider_logout,
                   leeway_s=int(settings.oidc_leeway_s),
                   timeout_s=settings.oidc_timeout_s)


def _check_transport(name: str, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and _loopback(parts.hostname or "")):
        return
    raise ValueError(f"{name}={url!r}: must be an https:// URL (http:// only for a provider on this machine)")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def principal_from_claims(claims: dict[str, Any], config: OIDCConfig) -> Principal:
    """The asker a validated token stands for."""
    groups = frozenset(_groups(claims, config.groups_claim))
    return Principal(name=NAME_PREFIX + claims["sub"], role="write" if groups & config.write_groups else "read",
                     groups=groups)


def _groups(claims: dict[str, Any], path: str) -> Iterable[str]:
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return ()
    if isinstance(value, str):  # some providers send a lone group as a string
        return (value,)
    if isinstance(value, list) and all(isinstance(g, str) for g in value):
        return value
    log.warning("the %r claim is neither a string nor a list of strings; the user gets no groups", path)
    return ()


def _kid(token: str) -> str | None:
    head = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except ValueError as exc:
        raise SignInError("the token's header is not JSON", "令牌格式不正确") from exc
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else None


@dataclass(frozen=True)
class Pending:
    """A sign-in in progress, kept under its ``state``."""

    binding: str  # sha256 of the browser's binding cookie
    nonce: str
    verifier: str
    redirect_uri: str
    next: str
    ends: float


class PendingLogins:
    """Sign-ins in progress; each is taken out once (thread-safe, bounded)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._live: OrderedDict[str, Pending] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, state: str, pending: Pending) -> None:
        with self._lock:
            now = self._clock()
            while self._live and next(iter(self._live.values())).ends <= now:  # all live equally long:
                self._live.popitem(last=False)  # the expired ones are the oldest
            while len(self._live) >= MAX_PENDING:
                self._live.popitem(last=False)
            self._live[state] = pending

    def take(self, state: str) -> Pending | None:
        with self._lock:
            pending = self._live.pop(state, None)
        return pending if pending is not None and pending.ends > self._clock() else None


class OIDC:
    """The relying party: starts sign-ins, completes them, and reads bearer tokens."""

    def __init__(self, config: OIDCConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._clock = clock
        self.pending = PendingLogins(clock)
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._keys_fetched = float("-inf")
        self._fetch_lock = asyncio.Lock()

    # -- the provider -------------------------------------------------------------------------

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            async with self._fetch_lock:
                if self._metadata is None:
                    meta = await self._get_json(self.config.issuer + "/.well-known/openid-configuration")
                    if str(meta.get("issuer", "")).rstrip("/") != self.config.issuer:
                        raise ProviderUnavailable(
                            f"the provider at {self.config.issuer} calls itself {meta.get('issuer')!r}: set "
                            "POLICYQA_OIDC_ISSUER to its issuer exactly", "统一身份认证服务配置有误，请联系管理员")
                    for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                        if not isinstance(meta.get(field), str):
                            raise ProviderUnavailable(f"the provider's metadata has no {field}",
                                                      "统一身份认证服务配置有误，请联系管理员")
                    self._metadata = meta
        return self._metadata

    async def keys_for(self, kid: str | None, stale: KeySet | None = None) -> KeySet:
        """The provider's keys, fetched again when they do not hold ``kid`` or are ``stale`` (a
        token without a key id failed against them), at most once per JWKS_MIN_REFRESH_S."""
        keys = self._keys
        if keys is not None and keys is not stale and (kid is None or any(k.kid == kid for k in keys)):
            return keys
        meta = await self.metadata()
        async with self._fetch_lock:
            if self._keys is not keys:  # another request refreshed them meanwhile
                return self._keys
            if self._clock() - self._keys_fetched < JWKS_MIN_REFRESH_S and self._keys is not None:
                return self._keys  # a token naming an unknown key is refused below
            try:
                self._keys = KeySet.import_key_set(await self._get_json(meta["jwks_uri"]))
            except (JoseError, KeyError, TypeError) as exc:
                raise ProviderUnavailable(f"the provider's key set cannot be read: {exc}",
                                          "统一身份认证服务配置有误，请联系管理员") from exc
            self._keys_fetched = self._clock()
            return self._keys

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=self.config.timeout_s) as client:
                response = await client.get(url)
                response.raise_for_status()
                data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnavailable(f"the identity provider did not answer {url}: {exc}",
                                      "暂时无法连接统一身份认证服务，请稍后再试") from exc
        if not isinstance(data, dict):
            raise ProviderUnavailable(f"{url} did not answer a JSON object", "统一身份认证服务配置有误，请联系管理员")
        return data

    # -- browser sign-in ------------------------------------------------------------------------

    async def start(self, redirect_uri: str, next_path: str) -> tuple[str, str]:
        """The provider's authorization URL for a new sign-in and the browser's binding cookie value."""
        meta = await self.metadata()
        binding, verifier, nonce = secrets.token_urlsafe(32), generate_token(64), secrets.token_urlsafe(24)
        async with self._client(redirect_uri) as client:
            url, state = client.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier,
                                                         nonce=nonce)
        self.pending.put(state, Pending(binding=_digest(binding), nonce=nonce, verifier=verifier,
                                        redirect_uri=redirect_uri, next=next_path,
                                        ends=self._clock() + PENDING_TTL_S))
        return url, binding

    async def complete(self, query: dict[str, str], binding: str) -> tuple[Principal, str]:
        """The principal and the page to go to for the provider's answer ``query`` on the callback,
        or :class:`SignInError`. The flow is used up whatever the outcome."""
        pending = self.pending.take(query.get("state", ""))
        if pending is None:
            raise SignInError("unknown, used or expired sign-in state", "登录请求已失效或已使用，请重新登录")
        if not hmac.compare_digest(pending.binding, _digest(binding)):
            raise SignInError("the sign-in was started in another browser", "登录请求不是从本浏览器发起的，请重新登录")
        if "error" in query:
            raise SignInError(f"the provider refused the sign-in: {query['error']}", "统一身份认证未通过，请重新登录")
        if not query.get("code"):
            raise SignInError("the provider's answer has no code", "统一身份认证未返回授权码，请重新登录")
        meta = await self.metadata()
        try:
            async with self._client(pending.redirect_uri) as client:
                token = await client.fetch_token(meta["token_endpoint"], code=query["code"],
                                                 code_verifier=pending.verifier)
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnavailable(f"exchanging the code failed: {exc}",
                                      "暂时无法连接统一身份认证服务，请稍后再试") from exc
        except AuthlibBaseError as exc:  # the provider answered an OAuth error: the code is spent or wrong
            raise SignInError(f"the provider refused the code: {exc}", "授权码无效或已使用，请重新登录") from exc
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise SignInError("the provider's answer has no ID token", "统一身份认证未返回身份令牌，请联系管理员")
        verified = await self._verified(id_token)
        claims = CodeIDToken(verified.claims, verified.header,
                             {"iss": {"essential": True, "value": meta["issuer"]},
                              "aud": {"essential": True, "value": self.config.client_id}},
                             {"nonce": pending.nonce, "client_id": self.config.client_id,
                              "access_token": token.get("access_token")})
        try:  # signature done; now issuer, audience, azp, expiry, nonce (required), at_hash
            claims.validate(now=int(self._clock()), leeway=self.config.leeway_s)
        except JoseError as exc:
            raise SignInError(f"the ID token is not valid: {exc}", "身份令牌无效，请重新登录") from exc
        return principal_from_claims(claims, self.config), pending.next

    async def logout_url(self, principal: Principal, after: str) -> str | None:
        """Where to send the browser of ``principal`` (whose PolicyQA session has just ended) so the
        provider ends its session too and then sends it to ``after``; None when that is not wanted
        or not offered, or the provider cannot be reached (logging out here must still work)."""
        if not (self.config.provider_logout and principal.name.startswith(NAME_PREFIX)):
            return None
        try:
            endpoint = (await self.metadata()).get("end_session_endpoint")
        except ProviderUnavailable as exc:
            log.warning("signed out here only: %s", exc)
            return None
        if not isinstance(endpoint, str):
            return None
        query = urlencode({"client_id": self.config.client_id, "post_logout_redirect_uri": after})
        return endpoint + ("&" if "?" in endpoint else "?") + query

    def _client(self, redirect_uri: str) -> AsyncOAuth2Client:
        method = "client_secret_basic" if self.config.client_secret else "none"
        return AsyncOAuth2Client(self.config.client_id, self.config.client_secret or None, scope=self.config.scopes,
                                 redirect_uri=redirect_uri, code_challenge_method="S256",
                                 token_endpoint_auth_method=method, timeout=self.config.timeout_s)

    # -- bearer tokens ------------------------------------------------------------------------

    async def bearer_principal(self, token: str) -> Principal:
        """The principal a provider-issued JWT on the API stands for, or :class:`SignInError`."""
        claims = (await self._verified(token)).claims
        meta = await self.metadata()
        try:
            JWTClaimsRegistry(now=int(self._clock()), leeway=self.config.leeway_s,
                              iss={"essential": True, "value": meta["issuer"]}, exp={"essential": True},
                              sub={"essential": True}).validate(claims)
        except JoseError as exc:
            raise SignInError(f"the token is not valid: {exc}", "令牌无效或已过期") from exc
        audience = claims.get("aud")
        audiences = set(audience) if isinstance(audience, list) else {audience}
        if not (audiences & self.config.audiences or claims.get("azp") == self.config.client_id):
            raise SignInError("the token is meant for another application (aud/azp)", "令牌不是签发给本系统的")
        return principal_from_claims(claims, self.config)

    async def _verified(self, token: str) -> jwt.Token:
        """``token`` decoded once its signature checks out against the provider's keys."""
        kid = _kid(token)
        keys = await self.keys_for(kid)
        decoded = _decode(token, keys)
        if decoded is None and kid is None:  # no key id to look up: perhaps the keys were rotated
            fresh = await self.keys_for(None, stale=keys)
            decoded = _decode(token, fresh) if fresh is not keys else None
        if decoded is None:
            raise SignInError("the token's signature does not verify against the provider's keys", "令牌签名无效")
        sub = decoded.claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise SignInError("the token names no subject (sub)", "令牌缺少用户标识")
        return decoded


def _decode(token: str, keys: KeySet) -> jwt.Token | None:
    try:
        return jwt.decode(token, keys, algorithms=list(ALGORITHMS))
    except JoseError:
        return None


def _digest(value: str) -> str:
    return sha256(value.encode("utf-8")).hexdigest()
