"""The guard's rules as pure logic (fast tier); tests/test_web_security.py runs them over real HTTP."""

from __future__ import annotations

import pytest

from rag.api import guard
from rag.api.guard import Keys, LoginThrottle, Sessions, safe_next, same_origin
from rag.models import Principal


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_sessions_expire_are_revoked_and_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    sessions = Sessions(60, clock=clock)
    writer, reader = Principal(name="w", role="write"), Principal(name="r", role="read")
    a, b = sessions.create(writer), sessions.create(reader)
    assert a != b and len(a) >= 40 and sessions.principal(a) == writer and sessions.principal(b) == reader
    sessions.revoke(b)
    assert sessions.principal(b) is None
    clock.now += 61
    assert sessions.principal(a) is None
    monkeypatch.setattr(guard, "MAX_SESSIONS", 3)
    tokens = [sessions.create(reader) for _ in range(5)]
    assert [sessions.principal(t) for t in tokens] == [None, None, reader, reader, reader]


def test_keys_stand_for_service_accounts_named_without_the_key() -> None:
    keys = Keys(write=["w-secret"], read=["r-secret"])
    writer, reader = keys.principal_of_key("w-secret"), keys.principal_of_key("r-secret")
    assert writer.role == "write" and reader.role == "read" and keys.principal_of_key("nope") is None
    assert writer.name.startswith("key:") and writer.name != reader.name and "secret" not in writer.name


def test_keys_bound_to_groups_are_service_accounts_not_administrators() -> None:
    from rag.api.guard import key_account
    from rag.config import Settings

    bound = Settings(key_groups=f"{key_account('bot')}=法制科|司法局, {key_account('desk')}=服务大厅").key_group_map
    keys = Keys(write=["admin", "bot"], read=["desk", "kiosk"], groups=bound)
    admin, bot, desk, kiosk = (keys.principal_of_key(k) for k in ("admin", "bot", "desk", "kiosk"))
    assert admin.admin and not admin.groups
    assert (bot.role, bot.groups, bot.admin) == ("write", frozenset({"法制科", "司法局"}), False)
    assert (desk.groups, desk.admin, kiosk.groups, kiosk.admin) == (frozenset({"服务大厅"}), False, frozenset(), False)
    with pytest.raises(ValueError, match="POLICYQA_KEY_GROUPS"):
        _ = Settings(key_groups="法制科").key_group_map


def test_login_throttle_counts_per_address_within_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    throttle = LoginThrottle(3, 60, clock=clock)
    for _ in range(3):
        assert throttle.retry_after("10.0.0.1") == 0
        throttle.failed("10.0.0.1")
    assert 59 < throttle.retry_after("10.0.0.1") <= 60 and throttle.retry_after("10.0.0.2") == 0
    clock.now += 61
    assert throttle.retry_after("10.0.0.1") == 0
    throttle.failed("10.0.0.1")
    throttle.succeeded("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 0
    monkeypatch.setattr(guard, "MAX_THROTTLED_CLIENTS", 10)
    for i in range(50):
        throttle.failed(f"10.1.0.{i}")
    assert len(throttle._failures) == 10


@pytest.mark.parametrize("target", ["//evil", "/\\evil", "/%5Cevil", "/%5cevil", "/%2F%2Fevil", "/%252F%252Fevil",
                                    "/\t/evil", "/\r\n/x", "https://evil", "evil", "", "javascript:x", "/%09/evil",
                                    "/ui/%5C", "/a b"])
def test_unsafe_next_targets(target: str) -> None:
    assert safe_next(target) is None


@pytest.mark.parametrize("target", ["/ui", "/ui/", "/ui/?tab=1&x=2", "/docs", "/ui/文档", "/ui/%E6%96%87"])
def test_safe_next_targets(target: str) -> None:
    assert safe_next(target) == target


@pytest.mark.parametrize("headers, ok", [
    ({"sec-fetch-site": "same-origin", "origin": "http://h:1", "host": "h:1"}, True),
    ({"sec-fetch-site": "same-site", "origin": "http://h:2", "host": "h:1"}, False),
    ({"sec-fetch-site": "cross-site"}, False),
    ({"sec-fetch-site": "none"}, False),
    ({"origin": "http://h:1", "host": "h:1"}, True),
    ({"origin": "http://h:2", "host": "h:1"}, False),
    ({"origin": "null", "host": "h:1"}, False),
    ({"host": "h:1"}, True),  # not a browser page: curl, scripts with a cookie
])
def test_same_origin(headers: dict, ok: bool) -> None:
    assert same_origin(headers) is ok


def test_gradio_client_errors_are_mapped_by_cause() -> None:
    from starlette.exceptions import HTTPException

    from rag.ui.errors import client_error

    assert client_error(KeyError("/x"))[0] == 404
    assert client_error(TypeError("bad kwarg"))[0] == 422
    wrapped = RuntimeError("Caught handled exception, but response already started.")
    wrapped.__cause__ = HTTPException(404)
    assert client_error(wrapped)[0] == 404
    assert client_error(RuntimeError("disk on fire")) is None and client_error(HTTPException(503)) is None
