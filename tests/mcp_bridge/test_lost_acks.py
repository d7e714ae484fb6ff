"""The link settles a retried write that failed only because its first attempt had committed.

Scripted answers for the follow-up reads (FakeDaemon); the real-daemon version, with SIGKILLs,
is ``test_a_bridge_keeps_storing_while_its_daemon_is_killed_twice`` in
tests/daemon/test_files_and_processes.py.
"""

from __future__ import annotations

import hashlib

import pytest

from memhub.errors import Duplicate
from memhub.mcp_bridge.calls import Delivery
from memhub.mcp_bridge.lost_acks import settle
from memhub.protocol import messages as m

from .fakes import H1, FakeDaemon, record

CONTENT = "remember me"
OURS = hashlib.sha256(CONTENT.encode()).hexdigest()
STORE = m.Store(id=3, content=CONTENT, memory_type="note")


def exact_duplicate(content_hash: str = OURS, kind: str = "exact") -> Duplicate:
    message = "Duplicate content detected (exact match)"
    return Duplicate(message, detail={"content_hash": content_hash, "kind": kind})


def lost(error: Duplicate, *, ambiguous: bool = True) -> Delivery:
    return Delivery(error=error, ambiguous=ambiguous, sent_at=1000.0)


async def test_a_retried_store_meeting_its_own_commit_is_the_lost_success() -> None:
    daemon = FakeDaemon(m.Found(id=1, memory=record(CONTENT, OURS, created_at=1000.2)))
    settled = await settle(daemon.call, STORE, lost(exact_duplicate()))
    assert settled.error is None
    assert settled.reply == m.Stored(
        id=3, content_hash=OURS, memory_type="note", created_at=1000.2, warning=None
    )
    assert settled.ambiguous
    assert daemon.requests == [m.Get(id=0, content_hash=OURS)]


@pytest.mark.parametrize(
    ("delivery", "found"),
    [
        # The memory was there before we first sent: the first attempt was refused too.
        pytest.param(lost(exact_duplicate()), record(CONTENT, OURS, created_at=500.0), id="older"),
        # Nothing was retried: the duplicate is the daemon's first and only answer.
        pytest.param(lost(exact_duplicate(), ambiguous=False), None, id="not-retried"),
        # A duplicate of another memory (semantic, or another hash) is never our own echo.
        pytest.param(lost(exact_duplicate(H1)), None, id="other-hash"),
        pytest.param(lost(exact_duplicate(OURS, "semantic")), None, id="semantic"),
    ],
)
async def test_a_genuine_duplicate_stays_a_duplicate(delivery, found) -> None:
    daemon = FakeDaemon(*([m.Found(id=1, memory=found)] if found else []))
    settled = await settle(daemon.call, STORE, delivery)
    assert settled is delivery
    assert not daemon.answers  # every scripted read was asked, and no other


async def test_a_retried_session_meeting_its_chunks_is_the_lost_success() -> None:
    chunks = [
        record("second", "c" * 64, metadata={"chunk_index": 1}, created_at=1000.6),
        record("first", H1, metadata={"chunk_index": 0}, created_at=1000.5),
        record("a day old", "d" * 64, metadata={"chunk_index": 0}, created_at=10.0),
    ]
    page = m.Page(
        id=2, memories=chunks, page=1, page_size=100, total=3, total_pages=1, has_more=False
    )
    daemon = FakeDaemon(page)
    request = m.StoreSession(id=4, turns=[m.Turn(role="u", content="x")], session_id="s9")
    settled = await settle(daemon.call, request, lost(exact_duplicate(H1)))
    assert settled.reply == m.SessionStored(
        id=4, session_id="s9", content_hashes=[H1, "c" * 64], turns=1
    )
    assert daemon.requests == [m.ListMemories(id=0, page_size=100, tags=["session:s9"])]


async def test_a_session_without_an_id_of_ours_cannot_be_settled() -> None:
    request = m.StoreSession(id=4, turns=[m.Turn(role="u", content="x")])
    delivery = lost(exact_duplicate(H1))
    assert await settle(FakeDaemon().call, request, delivery) is delivery
