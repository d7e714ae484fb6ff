"""Two-way compatibility with real mcp-memory-service 10.x and 12.x from PyPI.

Each test installs (once, cached) the release into a throwaway virtualenv and runs its own
``SqliteVecMemoryStorage`` with the same offline all-MiniLM-L6-v2 weights. memhub runs as a
real daemon with the real model. What one writes, the other must read and find by meaning.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from memhub.protocol import messages as m
from memhub.storage.sqlite import schema as schema_mod
from memhub.transport.client import open_daemon_client
from tests.daemon.helpers import assert_consistent, daemon_process

from .mms_env import VERSIONS, run_mms

pytestmark = [pytest.mark.compat, pytest.mark.slow]

THEIRS = [
    ("The VPN certificate for staging expires every ninety days", ["ops", "Security"]),
    ("Team lunch on Fridays is at the ramen place near the office", ["social"]),
]
OURS = [
    ("Release branches are cut every second Tuesday after the planning meeting", ["process"]),
    ("The billing service retries failed card payments three times over a week", ["billing"]),
]


def sqlite_master(db: Path) -> list[tuple[Any, ...]]:
    conn = schema_mod.connect(db, readonly=True, pragmas={"busy_timeout": "5000"})
    try:
        return sorted(conn.execute("SELECT type, name, sql FROM sqlite_master").fetchall())
    finally:
        conn.close()


async def memhub_round(db: Path, expect_theirs: list[str]) -> list[str]:
    """Store OURS through a memhub daemon and check it finds THEIRS by meaning."""
    hashes = []
    async with daemon_process(db, {"MEMHUB_EMBEDDER": "model"}) as (_, info):
        async with open_daemon_client(info.url, info.token) as client:
            for content, tags in OURS:
                reply = await client.call(m.Store(id=0, content=content, tags=tags))
                assert isinstance(reply, m.Stored)
                hashes.append(reply.content_hash)
            for content in expect_theirs:
                query = {
                    THEIRS[0][0]: "when does the staging certificate run out",
                    THEIRS[1][0]: "where do we eat together at the end of the week",
                }[content]
                found = await client.call(m.Search(id=0, query=query, limit=2))
                assert isinstance(found, m.SearchResult)
                assert found.hits[0].memory.content == content
            page = await client.call(m.ListMemories(id=0, tags=["security"]))
            assert isinstance(page, m.Page)
            assert [r.content for r in page.memories] == [THEIRS[0][0]] * (
                THEIRS[0][0] in expect_theirs
            )
    return hashes


def mms_round(version: str, db: Path, tmp: Path, *, store: bool) -> list[Any]:
    ops: list[dict[str, Any]] = []
    if store:
        ops += [{"op": "store", "content": c, "tags": t} for c, t in THEIRS]
    ops += [
        {"op": "search", "query": "how often are release branches created", "n": 2},
        {"op": "search", "query": "payment retry policy for cards", "n": 2},
        {"op": "list"},
    ]
    return run_mms(version, db, ops, tmp)


@pytest.mark.parametrize("generation", ["v10", "v12"])
def test_database_created_by_mcp_memory_service_opens_in_place(tmp_path, generation):
    version = VERSIONS[generation]
    db = tmp_path / "sqlite_vec.db"
    first = mms_round(version, db, tmp_path, store=True)
    assert first[0]["embedding_model"] == "SentenceTransformer"
    assert [r["ok"] for r in first[1:3]] == [True, True]
    schema_before = sqlite_master(db)
    ours = trio.run(memhub_round, db, [c for c, _ in THEIRS])
    assert sqlite_master(db) == schema_before  # no DDL, no migration to another generation
    conn = schema_mod.connect(db, readonly=True, pragmas={})
    found = schema_mod.inspect(conn, db)
    conn.close()
    assert found is not None
    assert found.generation == generation
    # and mcp-memory-service sees and finds what memhub stored
    after = mms_round(version, db, tmp_path, store=False)
    assert after[1][0]["content_hash"] == ours[0]
    assert after[2][0]["content_hash"] == ours[1]
    listed = {r["content_hash"]: r for r in after[3]}
    assert set(ours) <= set(listed)
    assert listed[ours[0]]["tags"] == ["process"]
    assert_consistent(db)


@pytest.mark.parametrize("generation", ["v10", "v12"])
def test_database_created_by_memhub_is_usable_by_mcp_memory_service(
    tmp_path, generation, monkeypatch
):
    version = VERSIONS[generation]
    db = tmp_path / "sqlite_vec.db"
    monkeypatch.setenv("MEMHUB_NEW_SCHEMA", generation)
    ours = trio.run(memhub_round, db, [])
    result = mms_round(version, db, tmp_path, store=True)
    assert result[0]["embedding_model"] == "SentenceTransformer"
    assert [r["ok"] for r in result[1:3]] == [True, True]
    assert result[3][0]["content_hash"] == ours[0]  # found by meaning, not by accident
    assert result[4][0]["content_hash"] == ours[1]
    assert {r["content_hash"] for r in result[5]} >= set(ours)
    # memhub then finds what mcp-memory-service stored in memhub's file
    trio.run(memhub_round_readonly, db)
    assert_consistent(db)


async def memhub_round_readonly(db: Path) -> None:
    async with daemon_process(db, {"MEMHUB_EMBEDDER": "model"}) as (_, info):
        async with open_daemon_client(info.url, info.token) as client:
            found = await client.call(
                m.Search(id=0, query="when does the staging certificate run out", limit=1)
            )
            assert isinstance(found, m.SearchResult)
            assert found.hits[0].memory.content == THEIRS[0][0]
            # its storage layer keeps case (its service layer lower-cases);
            # memhub shows what is stored
            assert found.hits[0].memory.tags == ["ops", "Security"]
