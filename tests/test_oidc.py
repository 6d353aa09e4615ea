"""Sign-in through an OpenID Connect provider: a real provider (oidc-provider-mock, on loopback in a
thread) and the real server, over HTTP and in a real browser; the pure parts without either."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey

from rag.api.guard import Access, Guard, Keys, LoginThrottle, Sessions, access_for
from rag.api.oidc import (
    MAX_PENDING,
    OIDC,
    OIDCConfig,
    Pending,
    PendingLogins,
    SignInError,
    looks_like_jwt,
    principal_from_claims,
)
from rag.config import Settings
from tests.conftest import copy_index, start_server

CLIENT = "policyqa"
USERS = {"alice": ["法制科", "editors"], "bob": ["服务大厅"]}


def _config(**updates) -> OIDCConfig:
    fields = {"oidc_issuer": "http://localhost:9", "oidc_client_id": CLIENT, "oidc_write_groups": "editors"}
    return OIDCConfig.from_settings(Settings(**(fields | updates)))


# -- pure parts -------------------------------------------------------------------------------------

def test_a_jwt_is_told_from_a_key_by_its_shape_alone() -> None:
    header = base64.urlsafe_b64encode(b'{"alg":"RS256"}').rstrip(b"=").decode()
    assert looks_like_jwt(f"{header}.eyJzdWIiOiJhIn0.c2ln")
    for key in ("test-key", secrets.token_urlsafe(32), "a.b.c", f"{header}.payload", f"{header}.x.y z", ""):
        assert not looks_like_jwt(key), key


def test_groups_come_from_the_configured_claim_and_name_the_role() -> None:
    config = _config()
    alice = principal_from_claims({"sub": "alice", "groups": ["法制科", "editors"]}, config)
    assert (alice.name, alice.role, alice.groups) == ("oidc:alice", "write", frozenset({"法制科", "editors"}))
    bob = principal_from_claims({"sub": "bob", "groups": "服务大厅"}, config)  # a lone group as a string
    assert (bob.role, bob.groups) == ("read", frozenset({"服务大厅"}))
    assert principal_from_claims({"sub": "c", "groups": [1, 2]}, config).groups == frozenset()
    assert principal_from_claims({"sub": "d"}, config).groups == frozenset()
    nested = _config(oidc_groups_claim="realm_access.roles")
    assert principal_from_claims({"sub": "e", "realm_access": {"roles": ["editors"]}}, nested).role == "write"


def test_the_provider_settings_are_checked_where_they_are_read() -> None:
    assert OIDCConfig.from_settings(Settings()) is None
    assert _config(oidc_scopes="profile email").scopes == "openid profile email"
    with pytest.raises(ValueError, match="CLIENT_ID"):
        _config(oidc_client_id="")
    with pytest.raises(ValueError, match="https"):
        _config(oidc_issuer="http://idp.example.gov.cn")
    with pytest.raises(ValueError, match="shaped like a JWT"):
        access_for(Settings(oidc_issuer="https://idp.example.gov.cn", oidc_client_id=CLIENT,
                            api_keys="eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"))


def test_a_sign_in_in_progress_is_taken_once_and_expires() -> None:
    now = [0.0]
    pending = PendingLogins(clock=lambda: now[0])
    entry = Pending(binding="b", nonce="n", verifier="v", redirect_uri="r", next="/", ends=600)
    pending.put("s1", entry)
    pending.put("s2", entry)
    assert pending.take("s1") == entry and pending.take("s1") is None
    now[0] = 600
    assert pending.take("s2") is None
    for i in range(MAX_PENDING + 5):
        pending.put(f"x{i}", Pending(binding="b", nonce="n", verifier="v", redirect_uri="r", next="/", ends=10**9))
    assert pending.take("x0") is None and pending.take(f"x{MAX_PENDING + 4}") is not None


def test_a_token_shaped_bearer_is_never_tried_as_a_key() -> None:
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
    keys = Keys(write=[token], read=[])  # access_for refuses such a key; here it proves the key is not tried
    access = Access(keys, Sessions(60), OIDC(_config()))
    assert access.principal({"authorization": f"Bearer {token}"}, {}) is None
    assert Access(keys, Sessions(60)).principal({"authorization": f"Bearer {token}"}, {}) is not None  # no provider


class _Served(OIDC):
    """The relying party against a key set held in the test (fast tier; the real provider is below):
    counts how often the keys are fetched."""

    def __init__(self, config: OIDCConfig, keys: list, clock=time.time) -> None:
        super().__init__(config, clock)
        self.served, self.fetches = keys, 0

    async def _get_json(self, url: str) -> dict:
        if url.endswith("/.well-known/openid-configuration"):
            return {"issuer": self.config.issuer, "authorization_endpoint": "a", "token_endpoint": "t",
                    "jwks_uri": "jwks", "end_session_endpoint": "http://localhost:9/logout?realm=city"}
        self.fetches += 1
        return KeySet(self.served).as_dict()


def _signed(key, kid: str | None = None, **claims) -> str:
    header = {"alg": "ES256"} | ({"kid": kid} if kid else {})
    body = {"iss": "http://localhost:9", "sub": "alice", "aud": CLIENT, "exp": int(time.time()) + 300} | claims
    return jwt.encode(header, body, key)


def test_bearer_claims_are_checked_and_only_public_key_signatures_count() -> None:
    key = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    oidc = _Served(_config(oidc_audiences="policyqa-api"), [key])

    def check(token: str):
        return asyncio.run(oidc.bearer_principal(token))

    assert check(_signed(key, "k1")).name == "oidc:alice"
    assert check(_signed(key, "k1", aud="policyqa-api")).name == "oidc:alice"
    assert check(_signed(key, "k1", aud="account", azp=CLIENT)).name == "oidc:alice"  # Keycloak's shape
    for bad in (_signed(key, "k1", aud="another-app"), _signed(key, "k1", iss="http://localhost:8"),
                _signed(key, "k1", exp=None), _signed(key, "k1", sub=""),
                _signed(ECKey.generate_key("P-256", parameters={"kid": "k1"}), "k1"),
                jwt.encode({"alg": "HS256"}, {"iss": "http://localhost:9", "sub": "a", "aud": CLIENT,
                                              "exp": int(time.time()) + 300}, OctKey.import_key("s" * 32))):
        with pytest.raises(SignInError):
            check(bad)


def test_keys_are_fetched_again_for_a_new_key_id_and_at_most_once_a_minute() -> None:
    now = [1000.0]
    old, new = (ECKey.generate_key("P-256", parameters={"kid": k}) for k in ("old", "new"))
    oidc = _Served(_config(), [old], clock=lambda: now[0])
    assert asyncio.run(oidc.bearer_principal(_signed(old, "old", exp=2000))) and oidc.fetches == 1
    now[0] += 61
    oidc.served = [new]  # the provider rotates its key
    assert asyncio.run(oidc.bearer_principal(_signed(new, "new", exp=2000))) and oidc.fetches == 2
    for i in range(5):  # made-up key ids within the minute of that fetch: no more fetches
        with pytest.raises(SignInError):
            asyncio.run(oidc.bearer_principal(_signed(old, f"made-up-{i}", exp=2000)))
    assert oidc.fetches == 2
    now[0] += 61
    oidc.served = [old]  # rotated back; a token naming no key id is tried against the fresh keys
    assert asyncio.run(oidc.bearer_principal(_signed(old, exp=2000))) and oidc.fetches == 3


def test_logout_goes_on_to_the_provider_only_for_people_it_signed_in() -> None:
    person = principal_from_claims({"sub": "alice"}, _config())
    oidc = _Served(_config(), [])
    url = asyncio.run(oidc.logout_url(person, "https://policyqa.example.gov.cn/login"))
    assert url.startswith("http://localhost:9/logout?realm=city&") and parse_qs(urlsplit(url).query) == {
        "realm": ["city"], "client_id": [CLIENT], "post_logout_redirect_uri": ["https://policyqa.example.gov.cn/login"]}
    service = Keys(write=["k"], read=[]).principal_of_key("k")
    assert asyncio.run(oidc.logout_url(service, "/login")) is None
    assert asyncio.run(_Served(_config(oidc_provider_logout=False), []).logout_url(person, "/login")) is None


def _guard(keys: list[str], oidc: bool):
    """The guard around an app that says who it was handed, over ASGI (no server, no provider: the
    issuer is a loopback port nothing listens on)."""
    async def whoami(scope, receive, send):
        body = json.dumps(scope.get("state", {}).get("principal", None) and scope["state"]["principal"].name)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body.encode()})

    access = Access(Keys(write=keys, read=[]), Sessions(60), OIDC(_config(oidc_timeout_s=5)) if oidc else None)
    guard = Guard(whoami, access=access, throttle=LoginThrottle(5, 60), max_body_bytes=1024, ui_path="/ui")
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=guard), base_url="http://127.0.0.1:8000")


def test_the_login_page_offers_what_is_configured_and_an_unreachable_provider_is_a_503() -> None:
    async def run() -> None:
        async with _guard([], oidc=True) as oidc_only, _guard(["k"], oidc=False) as keys_only:
            page = (await oidc_only.get("/login")).text
            assert "统一身份认证登录" in page and 'name="key"' not in page
            page = (await keys_only.get("/login")).text
            assert "统一身份认证登录" not in page and 'name="key"' in page
            assert (await oidc_only.post("/login/oidc")).status_code == 401  # a sign-in starts with a GET only
            start = await oidc_only.get("/login/oidc")
            assert start.status_code == 503 and "暂时无法连接统一身份认证服务" in start.text
            token = await oidc_only.get("/v1/me", headers={"Authorization": f"Bearer {_signed(ECKey.generate_key('P-256'))}"})
            assert token.status_code == 503 and token.headers["retry-after"] == "10"
            anonymous = await oidc_only.get("/v1/me")
            assert anonymous.status_code == 401 and "identity provider" in anonymous.json()["error"]["message"]

    asyncio.run(run())


# -- a real provider --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def provider():
    from oidc_provider_mock import User, run_server_in_thread

    with run_server_in_thread(user_claims=[User(sub=s, claims={"groups": g}) for s, g in USERS.items()]) as server:
        yield SimpleNamespace(port=server.server_port, issuer=f"http://localhost:{server.server_port}")


def _id_token(provider, sub: str = "alice", client_id: str = CLIENT, host: str = "localhost") -> str:
    """An ID token the provider signs for ``sub`` (its issuer is the host it was asked on)."""
    base = f"http://{host}:{provider.port}"
    redirect = "http://127.0.0.1:9/cb"
    r = httpx.post(f"{base}/oauth2/authorize", data={"sub": sub}, params={
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect, "scope": "openid", "nonce": "n"})
    code = parse_qs(urlsplit(r.headers["location"]).query)["code"][0]
    token = httpx.post(f"{base}/oauth2/token", auth=(client_id, "secret"), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect})
    return token.json()["id_token"]


def _claims(token: str) -> dict:
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def _follow_to_callback(client: httpx.Client, sub: str, next_path: str = "/v1/me") -> str:
    """Start a sign-in on the server and answer the provider's form as ``sub``: the callback URL."""
    start = client.get("/login/oidc", params={"next": next_path})
    assert start.status_code == 303, start.text
    authorized = httpx.post(start.headers["location"], data={"sub": sub})
    assert authorized.status_code == 302, authorized.text
    return authorized.headers["location"]


@pytest.mark.full
def test_an_expired_bearer_token_is_refused(provider) -> None:
    """A real bearer token read with the clock moved past its expiry plus the leeway: refused; a
    minute before its expiry, accepted."""
    token = _id_token(provider)
    expiry = _claims(token)["exp"]
    config = _config(oidc_issuer=provider.issuer, oidc_leeway_s=30)
    assert asyncio.run(OIDC(config, clock=lambda: expiry - 60).bearer_principal(token)).name == "oidc:alice"
    with pytest.raises(SignInError, match="expired"):
        asyncio.run(OIDC(config, clock=lambda: expiry + 31).bearer_principal(token))



@pytest.mark.full
def test_an_id_token_expired_when_it_reaches_the_callback_is_refused() -> None:
    """A provider issuing 5-second tokens and the server's clock 10 s ahead at the callback (the
    sign-in itself, 600 s, still running): the ID token is refused as expired."""
    from oidc_provider_mock import run_server_in_thread

    with run_server_in_thread(access_token_max_age=timedelta(seconds=5)) as server:
        ahead = [0.0]
        oidc = OIDC(_config(oidc_issuer=f"http://localhost:{server.server_port}", oidc_leeway_s=0,
                            oidc_client_secret="s"),
                    clock=lambda: time.time() + ahead[0])

        async def sign_in() -> None:
            url, binding = await oidc.start("http://127.0.0.1:9/login/oidc/callback", "/")
            async with httpx.AsyncClient() as client:
                callback = (await client.post(url, data={"sub": "alice"})).headers["location"]
            ahead[0] = 10
            await oidc.complete({k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}, binding)

        with pytest.raises(SignInError, match="expired"):
            asyncio.run(sign_in())


@pytest.fixture(scope="module")
def site(tmp_path_factory, docs_index, e5, provider):
    settings = copy_index(docs_index, tmp_path_factory.mktemp("oidc"), api_keys="svc-key",
                          oidc_issuer=provider.issuer, oidc_client_id=CLIENT, oidc_client_secret="s3cret",
                          oidc_write_groups="editors")
    base, stop = start_server(settings)
    yield SimpleNamespace(base=base, settings=settings)
    stop()


def test_a_sign_in_gives_a_session_with_the_claimed_groups_and_logout_ends_it(site, provider) -> None:
    with httpx.Client(base_url=site.base) as alice, httpx.Client(base_url=site.base) as bob:
        assert "统一身份认证登录" in alice.get("/login").text and "访问密钥" in alice.get("/login").text
        callback = _follow_to_callback(alice, "alice")
        signed_in = alice.get(callback)
        assert signed_in.status_code == 200 and 'url=/v1/me' in signed_in.text
        assert "policyqa_oidc=;" in ";".join(signed_in.headers.get_list("set-cookie"))  # the binding is spent
        first = alice.cookies["policyqa_session"]
        alice.get(_follow_to_callback(alice, "alice"))  # signing in again ends the session before
        cookie = alice.cookies["policyqa_session"]
        assert cookie != first and httpx.get(site.base + "/v1/me", cookies={"policyqa_session": first}).status_code == 401
        assert "HttpOnly; SameSite=Strict" in next(c for c in signed_in.headers.get_list("set-cookie")
                                               if c.startswith("policyqa_session="))
        assert alice.get("/v1/me").json() == {"name": "oidc:alice", "role": "write", "groups": ["editors", "法制科"],
                                           "admin": False}

        bob.get(_follow_to_callback(bob, "bob"))
        assert bob.get("/v1/me").json() == {"name": "oidc:bob", "role": "read", "groups": ["服务大厅"], "admin": False}
        upload = bob.post("/v1/documents", files={"file": ("a.txt", b"x")}, headers={"origin": site.base})
        assert upload.status_code == 403, upload.text  # read role: no writes

        # the callback again (a replayed state and code): refused, and no new session
        replayed = httpx.get(callback, cookies={"policyqa_oidc": "whatever"})
        assert replayed.status_code == 400 and "policyqa_session=" not in replayed.headers.get("set-cookie", "")

        out = alice.get("/logout")  # on to the provider's logout, which returns to /login
        assert out.status_code == 303 and out.headers["location"].startswith(provider.issuer + "/oauth2/end_session?")
        assert parse_qs(urlsplit(out.headers["location"]).query)["post_logout_redirect_uri"] == [site.base + "/login"]
        assert httpx.get(site.base + "/v1/me", cookies={"policyqa_session": cookie}).status_code == 401
        assert bob.get("/v1/me").status_code == 200


def test_a_callback_from_another_browser_or_a_forged_cookie_is_refused(site) -> None:
    with httpx.Client(base_url=site.base) as victim, httpx.Client(base_url=site.base) as attacker:
        callback = _follow_to_callback(attacker, "bob")  # the attacker's own sign-in, handed to the victim
        refused = victim.get(callback)
        assert refused.status_code == 400 and "不是从本浏览器发起的" in refused.text
        assert "policyqa_session" not in victim.cookies
        assert attacker.get(callback).status_code == 400  # used up by the attempt
    forged = httpx.get(site.base + "/v1/me", cookies={"policyqa_session": secrets.token_urlsafe(32)})
    assert forged.status_code == 401
    stale = httpx.get(site.base + "/login/oidc/callback", params={"state": "made-up", "code": "x"},
                      cookies={"policyqa_oidc": "x"})
    assert stale.status_code == 400 and "已失效" in stale.text


def test_bearer_tokens_from_the_provider_and_keys_beside_them(site, provider) -> None:
    def me(token: str) -> httpx.Response:
        return httpx.get(site.base + "/v1/me", headers={"Authorization": f"Bearer {token}"})

    good = _id_token(provider, "bob")
    assert me(good).json() == {"name": "oidc:bob", "role": "read", "groups": ["服务大厅"], "admin": False}
    assert me("svc-key").json()["name"].startswith("key:")  # API keys keep working
    head, body, signature = good.split(".")
    forged_body = base64.urlsafe_b64encode(json.dumps(_claims(good) | {"groups": ["editors"]}).encode()).rstrip(b"=")
    flipped = signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")
    refused = {
        "bad signature": f"{head}.{body}.{flipped}",
        "changed claims": f"{head}.{forged_body.decode()}.{signature}",
        "wrong issuer": _id_token(provider, "bob", host="127.0.0.1"),  # the same key, another issuer
        "wrong audience": _id_token(provider, "bob", client_id="another-app"),
        "not a token": "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln",
    }
    for what, token in refused.items():
        r = me(token)
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_token", (what, r.text)
    assert _claims(refused["wrong issuer"])["iss"] != provider.issuer  # the case is the one it says


@pytest.mark.full
def test_a_browser_signs_in_through_the_provider_and_out(chromium, site) -> None:
    """The whole round trip in Chromium: the provider (localhost) is another site than the server
    (127.0.0.1), so the redirect back is cross-site, as at a real site."""
    context = chromium.new_context()
    context.route("https://**/*", lambda route: route.abort())  # the provider's page links a CDN stylesheet
    page = context.new_page()
    page.goto(site.base + "/ui/")
    assert "/login" in page.url
    page.get_by_text("统一身份认证登录").click()
    page.wait_for_url("http://localhost:*/oauth2/authorize*")
    page.fill("input[name=sub]", "alice")
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(site.base + "/ui/**")
    page.goto(site.base + "/v1/me")
    assert json.loads(page.inner_text("body"))["groups"] == ["editors", "法制科"]
    cookie = next(c for c in context.cookies() if c["name"] == "policyqa_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.goto(site.base + "/logout")
    page.get_by_role("button", name="End session").click()  # the provider's own logout
    page.wait_for_url(site.base + "/login")
    page.goto(site.base + "/v1/me")
    assert page.url.startswith(site.base + "/login?next=")  # signed out: back to the login page
    context.close()


def test_the_groups_claim_decides_what_a_signed_in_person_may_read(site, provider, e5, tmp_path) -> None:
    """Permissions with the provider's groups (rag.index.acl): alice (法制科) is cited the internal
    notice of 法制科's knowledge base, bob (服务大厅) is refused with no trace of it."""
    from rag.index.build import access_store, update_index

    notice = tmp_path / "internal"
    notice.mkdir()
    (notice / "jiangxin-notice.txt").write_text(
        "江心市司法局内部通报\n\n2024年，江心市行政复议纠错率为17.3%，较上年下降2.1个百分点。\n", encoding="utf-8")
    (notice / ".policyqa.toml").write_text('classification = "内部"\naudience = ["法制科"]\n', encoding="utf-8")
    with access_store(site.settings) as store:
        store.update_catalogue(lambda c: c.create("法制科").grant("法制科", "group", "法制科", "viewer"))
    update_index(site.settings, [notice], e5, kb="法制科")
    question = {"question": "江心市2024年行政复议纠错率是多少？"}
    alice = httpx.post(f"{site.base}/v1/answer", json=question, timeout=300,
                       headers={"Authorization": f"Bearer {_id_token(provider, 'alice')}"}).json()
    assert [c["docid"] for c in alice["citations"]] == ["jiangxin-notice.txt"]
    bob = httpx.post(f"{site.base}/v1/answer", json=question, timeout=300,
                     headers={"Authorization": f"Bearer {_id_token(provider, 'bob')}"})
    assert bob.status_code == 200 and bob.json()["refused"]
    assert "jiangxin" not in bob.text and "17.3" not in bob.text and "内部通报" not in bob.text
