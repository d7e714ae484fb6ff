"""12.4's ``memory_consolidate run`` in the daemon, on both engines: each phase's effect.

Memories are stored through the service (hash embedder: near-identical texts have cosine
~0.95, unrelated ones ~0); "old" memories are made old by editing their timestamps in the
store directly, as another program could.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import apsw
import attrs
import psycopg
import pytest
import trio

from memhub.credentials import Caller
from memhub.daemon import DaemonHandle, run_daemon
from memhub.errors import BadRequest
from memhub.extras import consolidation_run
from memhub.protocol import messages as m
from memhub.storage.model import Filters
from memhub.storage.relations import Edge
from tests.pgserver import PgServer
from tests.storage.engines import ENGINES, prepare_team_store

from .conftest import InProcess, service_settings

DAY = 86400.0
_databases = itertools.count()
CLUSTER = [f"the deploy runbook for the payments service step {i}" for i in range(6)]
OTHERS = ["lunch on fridays at the ramen place", "rotate api keys every ninety days"]


@attrs.define
class Store:
    svc: InProcess
    engine: str
    where: str  # the SQLite file or the PostgreSQL URL
    archive: Path

    async def call(self, request: m.Request, client: str | None = None) -> m.Reply:
        return await self.svc.call(request, client=client)

    def sql(self, statement: str, *params: object) -> list[tuple[Any, ...]]:
        """One statement straight on the store (another program's edit)."""
        if self.engine == "sqlite":
            conn = apsw.Connection(self.where)
            conn.set_busy_timeout(30_000)
            try:
                return list(conn.execute(statement.replace("%s", "?"), params))
            finally:
                conn.close()
        with psycopg.connect(self.where.split("?")[0], autocommit=True) as pg:
            pg.execute("SET search_path TO memhub")
            cur = pg.execute(statement, params)
            return list(cur.fetchall()) if cur.description else []


@pytest.fixture(params=ENGINES)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    overrides: dict[str, Any] = {}
    where = str(tmp_path / "memories.db")
    if request.param == "postgresql":
        server: PgServer = request.getfixturevalue("pg_server")
        name = f"consolidate_run_{next(_databases)}"
        server.create_database(name, vector=False)
        where = server.passwordless_url(dbname=name)
        prepare_team_store(where)
        overrides["database_url"] = where
    settings = service_settings(tmp_path, semantic_dedup=False, **overrides)
    async with trio.open_nursery() as nursery:
        handle: DaemonHandle = await nursery.start(
            lambda task_status: run_daemon(settings, write_runtime=False, task_status=task_status)
        )
        svc = InProcess(handle, Caller(name="tests", kind="token"))
        yield Store(svc, request.param, where, tmp_path / "archive")
        handle.stop()


async def put(s: Store, content: str, **kw: Any) -> str:
    stored = await s.call(m.Store(id=0, content=content, **kw))
    assert isinstance(stored, m.Stored)
    return stored.content_hash


async def every(s: Store) -> list[m.MemoryRecord]:
    """Every live memory of every store (superseded ones too), in one snapshot."""
    everything = Filters(store=None, include_superseded=True)
    rows, _ = await s.svc.service.readers.submit(
        lambda snap: snap.list_page(everything, page=1, page_size=100_000)
    )
    return list(rows)


async def get(s: Store, h: str) -> m.MemoryRecord | None:
    return next((r for r in await every(s) if r.content_hash == h), None)


async def run(s: Store, horizon: str, client: str | None = None, **settings: Any) -> dict[str, Any]:
    chosen = m.ConsolidationSettings(archive_path=str(s.archive), **settings)
    reply = await s.call(m.ConsolidateRun(id=0, horizon=horizon, settings=chosen), client)
    assert isinstance(reply, m.ToolData)
    return reply.data


def age(s: Store, h: str, created_days: float, updated_days: float | None = None) -> None:
    now = time.time()
    created = now - created_days * DAY
    updated = now - (created_days if updated_days is None else updated_days) * DAY
    s.sql("UPDATE memories SET created_at = %s, updated_at = %s WHERE content_hash = %s",
          created, updated, h)  # fmt: skip


async def test_daily_scores_decay_only(store: Store) -> None:
    plain = await put(store, "a plain note about the build")
    critical = await put(store, "the production database password rotates", tags=["critical"])
    report = await run(store, "daily")
    assert report["memories_processed"] == 2
    assert report["associations_discovered"] == report["clusters_created"] == 0
    assert report["memories_compressed"] == report["memories_archived"] == 0
    assert report["errors"] == []
    for h, expected in ((plain, 1.0 * 1.5 * 1.25), (critical, 2.0 * 1.5 * 1.25)):
        record = await get(store, h)
        assert record is not None
        meta = record.metadata
        # new: no decay, accessed (updated) today 1.5, quality 0.5 -> 1.25, no neighbours
        assert math.isclose(meta["relevance_score"], expected)
        assert meta["decay_factor"] == 1.0
        assert meta["access_boost"] == 1.5
        assert meta["connection_boost"] == 1.0
        assert isinstance(meta["relevance_calculated_at"], str)
        assert isinstance(meta["last_consolidated_at"], float)
        assert record.updated_at == record.created_at  # timestamps kept


async def test_decay_counts_live_neighbours_and_ages_by_type(store: Store) -> None:
    a = await put(store, "decision: we deploy on tuesdays", memory_type="decision")
    b = await put(store, "observation about tuesday deploys")
    gone = await put(store, "a neighbour that will be deleted")
    edges = [
        Edge(source=a, target=b, similarity=0.5, connection_types=["x"], metadata={},
             relationship_type="related", created_at=1.0),
        Edge(source=b, target=a, similarity=0.5, connection_types=["x"], metadata={},
             relationship_type="related", created_at=1.0),
        Edge(source=a, target=gone, similarity=0.5, connection_types=["x"], metadata={},
             relationship_type="related", created_at=1.0),
        Edge(source=a, target="entity-x", similarity=1.0, connection_types=["entity"],
             metadata={}, relationship_type="has_entity", created_at=1.0),
    ]  # fmt: skip
    await store.svc.service.writer.submit(lambda txn: txn.put_edges(edges, replace=True))
    await store.call(m.Delete(id=0, content_hash=gone))
    age(store, a, 10)
    await run(store, "weekly", associations_enabled=False)  # 10 days: outside the window
    record = await get(store, a)
    assert record is not None
    assert "relevance_score" not in record.metadata
    await run(store, "monthly", associations_enabled=False, forgetting_enabled=False)
    record = await get(store, a)
    assert record is not None
    meta = record.metadata
    assert meta["connection_boost"] == 1.1  # b once; the deleted one and the entity do not count
    assert math.isclose(meta["decay_factor"], math.exp(-10 / 365))
    assert meta["access_boost"] == 1.1  # "updated" 10 days ago
    assert math.isclose(meta["relevance_score"], math.exp(-10 / 365) * 1.1 * 1.1 * 1.25)


async def test_weekly_clusters_associates_and_compresses(store: Store) -> None:
    members = [await put(store, c, tags=["deploy"]) for c in CLUSTER]
    others = [await put(store, c) for c in OTHERS]
    report = await run(store, "weekly")
    assert report["memories_processed"] == 8
    assert report["errors"] == []
    assert report["clusters_created"] == 1
    assert report["memories_compressed"] == 1
    assert report["associations_discovered"] > 0
    rows = await every(store)
    [summary] = [r for r in rows if r.memory_type == "pattern"]
    assert summary.tags[:3] == ["cluster", "compressed", "deploy"]
    assert summary.content.startswith("Cluster of 6 related memories about ")
    assert sorted(summary.metadata["source_memory_hashes"]) == sorted(members)
    assert summary.metadata["compression_version"] == "1.0"
    assocs = [r for r in rows if r.content_hash.startswith("assoc_")]
    assert len(assocs) == report["associations_discovered"]
    one = assocs[0]
    a, b = one.metadata["source_memory_hashes"]
    assert one.content_hash == f"assoc_{a[:8]}_{b[:8]}"
    assert one.tags[:2] == ["association", "discovered"]
    assert one.memory_type == "observation"
    assert one.content.startswith(f"Association between memories {a[:8]} and {b[:8]}: ")
    assert one.metadata["discovery_method"] == "creative_association"
    assert 0.3 <= one.metadata["similarity_score"] <= 0.7
    # the cluster's near-identical pairs (cosine ~0.95) are too similar to associate
    assert not {a, b} <= set(members)
    assert {a, b} <= set(members) | set(others)

    def edges(snap: Any) -> list[Edge]:
        return list(snap.edges([a], direction="both", limit=100))

    found = await store.svc.service.readers.submit(edges)
    pair = [e for e in found if {e.source, e.target} == {a, b}]
    assert pair
    assert all(e.metadata["discovery_method"] == "creative_association" for e in pair)
    label = pair[0].relationship_type
    assert len(pair) == (2 if label in ("related", "contradicts") else 1)


async def test_a_second_run_writes_nothing_twice(store: Store) -> None:
    for c in CLUSTER + OTHERS:
        await put(store, c, tags=["deploy"])
    await run(store, "weekly")
    first = {r.content_hash for r in await every(store)}
    again = await run(store, "weekly")
    rows = await every(store)
    assert len({r.content_hash for r in rows}) == len(rows)
    assert len([r for r in rows if r.memory_type == "pattern"]) == 1  # the same summary
    assert first <= {r.content_hash for r in rows}
    pairs = [tuple(sorted(r.metadata["source_memory_hashes"])) for r in rows
             if r.content_hash.startswith("assoc_")]  # fmt: skip
    assert len(pairs) == len(set(pairs))
    assert again["errors"] == []


def files(root: Path, folder: str) -> list[Path]:
    return sorted(p for p in (root / folder).iterdir() if p.suffix == ".json")


async def test_monthly_forgets_as_12_4(store: Store) -> None:
    text = "the old staging cluster in the basement rack was decommissioned in the spring"
    original = await put(store, text)
    copy = await put(store, text + " of that year")  # a near-duplicate that ranks lower
    temporary = await put(store, "scratch notes for the migration weekend", tags=["temporary"])
    compressible = await put(
        store, "First we chose Postgres. Then Redis for caching. Then Kafka. Finally we kept it.",
        memory_type="decision",
    )  # fmt: skip
    hostile = await put(store, 'x"}\n../../etc/passwd \u202e {"memory": 1} ' * 3)
    fresh = await put(store, "this one is new and stays untouched")
    for h in (original, copy, temporary, hostile):
        age(store, h, 400)
    age(store, copy, 401)  # a day older: a lower relevance, so the copy is what goes
    age(store, compressible, 400, 200)  # updated 200 days ago: idle 200 > 180, relevance high
    report = await run(store, "monthly")
    assert report["memories_processed"] == 1  # the window: only the fresh one
    assert report["errors"] == []
    rows = {r.content_hash: r for r in await every(store)}
    assert fresh in rows
    # a duplicate is deleted (with a copy in metadata/), the rest archived and kept
    assert original in rows
    assert copy not in rows
    assert temporary in rows
    assert hostile in rows
    assert compressible not in rows  # replaced by its compressed version
    [shorter] = [r for r in rows.values() if r.metadata.get("original_hash") == compressible]
    assert shorter.memory_type == "pattern"
    assert "compressed" in shorter.tags
    assert shorter.content.startswith("First we chose Postgres. ")
    assert shorter.metadata["forgetting_reasons"] == ["old_access"]
    archived = {json.loads(p.read_text())["memory"]["content_hash"]: p
                for folder in ("daily", "compressed") for p in files(store.archive, folder)
                if not p.name.startswith("original_")}  # fmt: skip
    assert temporary in archived
    assert hostile in archived
    assert report["memories_archived"] == len(archived) + 1
    doc = json.loads(archived[hostile].read_text())
    assert doc["memory"]["content"] == rows[hostile].content  # data, nothing more
    assert set(doc) == {"memory", "relevance_score", "forgetting_metadata"}
    assert doc["forgetting_metadata"]["original_hash"] == hostile
    assert "relevance_score" in doc["memory"]  # the scores just computed
    [gone_copy] = [p for p in files(store.archive, "metadata") if p.name.startswith("deleted_")]
    assert json.loads(gone_copy.read_text())["deletion_metadata"]["reasons"][-1] == (
        "potential_duplicate"
    )
    [kept] = [p for p in files(store.archive, "compressed") if p.name.startswith("original_")]
    assert json.loads(kept.read_text())["content_hash"] == compressible
    log = (store.archive / "metadata" / "forgetting_log.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["action"] for line in log) == sorted(
        ["archived"] * len(archived) + ["compressed"]
    )
    for path in [store.archive, *store.archive.iterdir()]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o700
    for path in store.archive.rglob("*.json*"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not list(store.archive.rglob("*.tmp"))


async def test_bad_requests_write_nothing(store: Store) -> None:
    h = await put(store, "a memory that must stay as it is")
    for horizon, settings in (("hourly", {}), ("weekly", {"clustering_algorithm": "dbscan"}),
                              ("weekly", {"batch_size": 0})):  # fmt: skip
        chosen = m.ConsolidationSettings(archive_path=str(store.archive), **settings)
        with pytest.raises(BadRequest):
            await store.call(m.ConsolidateRun(id=0, horizon=horizon, settings=chosen))
    record = await get(store, h)
    assert record is not None
    assert record.metadata == {}
    assert not store.archive.exists()


async def test_one_run_at_a_time_however_many_ask(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    for c in CLUSTER:
        await put(store, c)
    gate = trio.Event()
    started = trio.Event()
    real = consolidation_run.pipeline

    async def held(*args: Any) -> Any:
        started.set()
        await gate.wait()  # the first run holds the slot until the others have asked
        return await real(*args)

    monkeypatch.setattr(consolidation_run, "pipeline", held)
    results: dict[str, dict[str, Any]] = {}

    async def ask(client: str) -> None:
        results[client] = await run(store, "weekly", client=client)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ask, "first")
        await started.wait()
        async with trio.open_nursery() as others:
            for i in range(5):
                others.start_soon(ask, f"other-{i}")
        gate.set()
    assert results["first"]["memories_processed"] == 6
    for i in range(5):
        busy = results[f"other-{i}"]
        assert busy["busy"] is True
        assert busy["client"] == "first"
        assert busy["horizon"] == "weekly"
    # the slot is free again
    monkeypatch.setattr(consolidation_run, "pipeline", real)
    assert "busy" not in await run(store, "daily")


async def test_writes_during_a_run_are_all_kept(store: Store) -> None:
    for i in range(300):
        await put(store, f"memory number {i} about topic {i % 17} and detail {i * 7}")
    stored: list[str] = []

    async def writer() -> None:
        for i in range(100):
            h = await put(store, f"written during the run {i}")
            stored.append(h)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer)
        report = await run(store, "weekly")
    # the run's batch holds the 300 and whatever the writer had stored when it was read
    assert 300 <= report["memories_processed"] <= 400
    assert report["errors"] == []
    hashes = {r.content_hash for r in await every(store)}
    assert set(stored) <= hashes
    assert len(stored) == 100


def test_archive_default_follows_12_4(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from memhub.mcp_bridge.v12_tools.consolidate_run import archive_path

    env = {"MCP_MEMORY_BASE_DIR": str(tmp_path)}
    assert archive_path(env) == str(tmp_path / "consolidation_archive")
    env["MCP_MEMORY_ARCHIVE_PATH"] = str(tmp_path / "b")
    assert archive_path(env) == str(tmp_path / "b")
    env["MCP_CONSOLIDATION_ARCHIVE_PATH"] = "~/c"
    assert archive_path(env) == os.path.expanduser("~/c")


async def test_a_run_on_another_machine_holds_a_team_store(store: Store) -> None:
    await put(store, "one memory to consolidate")
    # another daemon of the store: its own session takes the store-wide lock
    other = await trio.to_thread.run_sync(store.svc.service.storage.try_hold, "consolidation")
    assert other is not None
    try:
        answer = await run(store, "daily")
    finally:
        await trio.to_thread.run_sync(other.release)
    if store.engine == "postgresql":
        assert answer == {"busy": True, "horizon": None, "client": None, "since": None}
    else:  # one daemon per file: nothing else can hold it
        assert answer["memories_processed"] == 1
    assert (await run(store, "daily"))["memories_processed"] == 1


@pytest.mark.parametrize(
    ("horizon", "clusters", "associates"),
    [("daily", 0, False), ("quarterly", 1, False), ("yearly", 0, False), ("monthly", 1, True)],
)
async def test_each_horizon_runs_12_4s_phases(
    store: Store, horizon: str, clusters: int, associates: bool
) -> None:
    for c in CLUSTER + OTHERS:
        await put(store, c, tags=["deploy"])
    report = await run(store, horizon)
    assert report["time_horizon"] == horizon
    assert report["memories_processed"] == 8
    assert report["clusters_created"] == clusters
    assert report["memories_compressed"] == clusters
    assert (report["associations_discovered"] > 0) is associates
    assert report["errors"] == []


async def test_an_unusable_archive_forgets_nothing(store: Store) -> None:
    text = "the old staging cluster in the basement rack was decommissioned in the spring"
    original = await put(store, text)
    copy = await put(store, text + " of that year")
    for h in (original, copy):
        age(store, h, 400)
    await put(store, "a fresh memory in the window")
    store.archive.write_text("a file where the archive directory should be")
    with pytest.raises(BadRequest, match="cannot be used"):
        await run(store, "monthly")
    rows = await every(store)
    assert {original, copy} <= {r.content_hash for r in rows}  # nothing deleted without a copy
    assert all("relevance_score" not in r.metadata for r in rows)  # refused before any write
