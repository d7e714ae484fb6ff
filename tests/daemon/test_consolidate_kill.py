"""A consolidation run killed with SIGKILL: the file is consistent, whole chunks or nothing of
each, and running again completes without writing anything twice.

The daemon is killed as soon as the run's first chunk is visible in the file; wherever the kill
lands (even after the run, on a very fast machine) the same invariants must hold, so nothing
here depends on timing.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import trio

from memhub.extras.consolidation_writes import METADATA_CHUNK as CHUNK
from memhub.protocol import messages as m
from memhub.transport.client import open_daemon_client

from .helpers import assert_consistent, start_daemon, stop_process, wait_for_runtime

pytestmark = pytest.mark.slow
MEMORIES = 500
NO_DEDUP = {"MCP_SEMANTIC_DEDUP_ENABLED": "false"}


def count(db: Path, sql: str) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


SCORED = (
    "SELECT count(*) FROM memories WHERE json_extract(metadata, '$.relevance_score') IS NOT NULL"
)
STAMPED = (
    "SELECT count(*) FROM memories WHERE json_extract(metadata, '$.last_consolidated_at') "
    "IS NOT NULL"
)


def run_request(tmp: Path) -> m.ConsolidateRun:
    settings = m.ConsolidationSettings(archive_path=str(tmp / "archive"))
    return m.ConsolidateRun(id=0, horizon="weekly", settings=settings)


async def fill_and_run(db: Path, tmp: Path) -> None:
    proc = start_daemon(db, NO_DEDUP)
    try:
        info = await trio.to_thread.run_sync(wait_for_runtime, db, proc)
        async with open_daemon_client(f"ws://{info.host}:{info.port}", info.token) as client:
            for i in range(MEMORIES):
                await client.call(m.Store(id=0, content=f"note {i} on topic {i % 23} ref {i * 7}"))

            async def consolidate() -> None:
                with contextlib.suppress(Exception):  # the connection dies with the daemon
                    await client.call(run_request(tmp))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(consolidate)
                while True:  # polling what another process writes: there is no event
                    if count(db, SCORED) or proc.poll() is not None:
                        break
                    await trio.sleep(0.005)
                proc.send_signal(signal.SIGKILL)
                await trio.to_thread.run_sync(proc.wait)
                nursery.cancel_scope.cancel()
    finally:
        stop_process(proc)


def check_whole_chunks(db: Path, *, first_run: bool) -> None:
    assert_consistent(db)
    for sql in (SCORED, STAMPED) if first_run else ():
        n = count(db, sql)
        assert n % CHUNK == 0 or n == MEMORIES, (sql, n)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        assocs = conn.execute(
            "SELECT content_hash, metadata FROM memories WHERE content_hash LIKE 'assoc_%' "
            "AND deleted_at IS NULL"
        ).fetchall()
        for h, meta in assocs:
            a, b = json.loads(meta)["source_memory_hashes"]
            edges = conn.execute(
                "SELECT count(*) FROM memory_graph WHERE (source_hash = ? AND target_hash = ?) "
                "OR (source_hash = ? AND target_hash = ?)",
                (a, b, b, a),
            ).fetchone()[0]
            assert edges >= 1, f"{h} was stored without its edge"
    finally:
        conn.close()


async def run_again(db: Path, tmp: Path) -> dict[str, Any]:
    proc = start_daemon(db, NO_DEDUP)
    try:
        info = await trio.to_thread.run_sync(wait_for_runtime, db, proc)
        async with open_daemon_client(f"ws://{info.host}:{info.port}", info.token) as client:
            reply = await client.call(run_request(tmp))
    finally:
        assert stop_process(proc) == 0
    assert isinstance(reply, m.ToolData)
    return reply.data


async def test_sigkill_mid_run_leaves_whole_chunks_and_a_rerun_completes(tmp_path: Path) -> None:
    db = tmp_path / "memories.db"
    with trio.fail_after(300):
        await fill_and_run(db, tmp_path)
        check_whole_chunks(db, first_run=True)
        report = await run_again(db, tmp_path)
    assert report["errors"] == []
    assert report["memories_processed"] == MEMORIES
    check_whole_chunks(db, first_run=False)
