"""Browser sessions on a fake clock: idle and absolute ends, exactly (hardening item 5)."""

from __future__ import annotations

import pytest

from memhub.credentials import (
    MAX_SESSIONS,
    SESSION_IDLE_S,
    SESSION_LIFETIME_S,
    Admitted,
    Credentials,
    Refused,
)


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    clock = [1000.0]
    monkeypatch.setattr("memhub.credentials.time.monotonic", lambda: clock[0])
    return clock


def session_of(credentials: Credentials) -> str:
    admitted = credentials.admit(credentials.issue_ticket())
    assert isinstance(admitted, Admitted)
    assert admitted.session_token is not None
    return admitted.session_token


def test_a_session_unused_for_half_an_hour_is_over(now: list[float]) -> None:
    credentials = Credentials("master")
    token = session_of(credentials)
    now[0] += SESSION_IDLE_S - 1
    assert isinstance(credentials.admit(token), Admitted)  # a reconnect is a use
    now[0] += SESSION_IDLE_S - 1
    admitted = credentials.admit(token)
    assert isinstance(admitted, Admitted)
    assert admitted.session is not None
    now[0] += SESSION_IDLE_S
    assert admitted.session.ended()
    refused = credentials.admit(token)
    assert isinstance(refused, Refused)
    assert "it was not used for 30 min" in refused.message
    # Gone for good, also once the clock says otherwise.
    assert "no longer valid" in str(credentials.admit(token))


def test_a_session_in_use_is_over_after_twelve_hours(now: list[float]) -> None:
    credentials = Credentials("master")
    token = session_of(credentials)
    admitted = credentials.admit(token)
    assert isinstance(admitted, Admitted)
    session = admitted.session
    assert session is not None
    while now[0] + 60 < 1000.0 + SESSION_LIFETIME_S:
        now[0] += 60
        session.touch()  # a request a minute
        assert not session.ended()
    now[0] = 1000.0 + SESSION_LIFETIME_S
    assert session.ended()
    refused = credentials.admit(token)
    assert isinstance(refused, Refused)
    assert "browser sessions last at most 12 h" in refused.message


def test_the_oldest_session_goes_first_past_the_bound(now: list[float]) -> None:
    credentials = Credentials("master")
    first = session_of(credentials)
    second = session_of(credentials)
    for _ in range(MAX_SESSIONS - 1):
        session_of(credentials)
    assert isinstance(credentials.admit(first), Refused)
    assert isinstance(credentials.admit(second), Admitted)
