"""Upstream's authentication order, without OAuth, as pure decisions on headers and queries."""

from __future__ import annotations

import pytest

from memhub.http.auth import (
    KEY_IN_QUERY,
    NEEDS_KEY,
    NOTHING_CONFIGURED,
    AuthPolicy,
    Identity,
    Refusal,
    insufficient_scope,
)

KEY = "k-ümlaut-🔑"  # any text is a valid key: compared as UTF-8 bytes


def policy(key: str | None = KEY, anonymous: bool = False, scope: str = "read write") -> AuthPolicy:
    return AuthPolicy(key, allow_anonymous=anonymous, anonymous_scope=scope)


def refusal(outcome: Identity | Refusal) -> dict[str, str]:
    assert isinstance(outcome, Refusal)
    assert outcome.status == 401
    assert outcome.headers == {"WWW-Authenticate": "Bearer"}
    detail: dict[str, str] = outcome.body["detail"]
    return detail


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"authorization": f"Bearer {KEY}"}, id="bearer"),
        pytest.param({"authorization": f"bearer   {KEY}  "}, id="bearer-lower-spaces"),
        pytest.param({"x-api-key": KEY}, id="x-api-key"),
        pytest.param({"x-api-key": "wrong", "authorization": f"Bearer {KEY}"}, id="bearer-wins"),
    ],
)
def test_the_key_grants_read_write_admin(headers: dict[str, str]) -> None:
    outcome = policy().authenticate(headers, {})
    assert outcome == Identity("api_key_client", frozenset({"read", "write", "admin"}), "api_key")


def test_a_wrong_bearer_is_refused_even_with_anonymous_access() -> None:
    detail = refusal(policy(anonymous=True).authenticate({"authorization": "Bearer nope"}, {}))
    assert detail["error"] == "invalid_token"


def test_a_wrong_x_api_key_falls_through_as_upstream() -> None:
    assert isinstance(policy(anonymous=True).authenticate({"x-api-key": "nope"}, {}), Identity)
    detail = refusal(policy().authenticate({"x-api-key": "nope"}, {}))
    assert detail == {"error": "authorization_required", "error_description": NEEDS_KEY}


def test_other_schemes_and_overlong_keys_are_no_credential() -> None:
    assert refusal(policy().authenticate({"authorization": f"Basic {KEY}"}, {}))["error"] == (
        "authorization_required"
    )
    long_key = "x" * 513
    assert isinstance(policy(long_key).authenticate({"x-api-key": long_key}, {}), Refusal)


def test_anonymous_access_gets_the_configured_scope() -> None:
    outcome = policy(None, anonymous=True, scope="read:default").authenticate({}, {})
    assert isinstance(outcome, Identity)
    assert outcome.may("read")
    assert not outcome.may("read", None)  # store "all" needs the global scope
    assert not outcome.may("write")
    assert policy(None, anonymous=True, scope="").authenticate({}, {}) == Identity(
        "anonymous", frozenset(), "none"
    )


@pytest.mark.parametrize("name", ["api_key", "API_KEY", "apikey"])
def test_a_key_in_the_query_is_refused_even_when_right(name: str) -> None:
    detail = refusal(policy().authenticate({"x-api-key": KEY}, {name: KEY}))
    assert detail == {"error": "invalid_request", "error_description": KEY_IN_QUERY}


def test_nothing_configured_names_the_variables() -> None:
    detail = refusal(policy(None).authenticate({"authorization": "Bearer guess"}, {}))
    assert detail["error"] == "invalid_token"
    detail = refusal(policy(None).authenticate({}, {}))
    assert detail["error_description"] == NOTHING_CONFIGURED


def test_insufficient_scope_texts_are_upstreams() -> None:
    assert insufficient_scope("write").body["detail"]["error_description"] == (
        "Required scope 'write' not granted"
    )
    assert insufficient_scope("read", "s2").body["detail"]["error_description"] == (
        "Access to store requires scope 'read' or 'read:s2'"
    )
    assert insufficient_scope("read", None).status == 403
