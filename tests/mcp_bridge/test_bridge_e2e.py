"""End to end: real ``memhub bridge`` processes, driven as Claude drives them, on one daemon.

Every bridge is a subprocess speaking MCP over stdio to the SDK's own client; the bridges
start ``memhub serve`` (hash embedder) themselves. The ``db`` fixture stops every daemon a
test left running.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import pytest
import trio

from memhub.config import runtime_paths
from memhub.discovery import DaemonLock

from .e2e import (
    bridge_env,
    call_err,
    call_ok,
    call_refused,
    open_bridge,
    runtime_pid,
    serve_processes,
    stored_hash,
    wait_until,
)

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow

ADVERTISED = {
    "memory_store",
    "memory_store_session",
    "memory_search",
    "memory_list",
    "memory_delete",
    "memory_cleanup",
    "memory_health",
    "memory_stats",
    "memory_update",
}


def _lock_held(db: Path) -> bool:
    from memhub.discovery import lock_is_held

    return bool(lock_is_held(runtime_paths(db).lock))


async def test_initialize_and_tools_list_need_no_daemon(db: Path) -> None:
    with trio.fail_after(30):
        async with open_bridge(db, MEMHUB_BRIDGE_WARMUP="0") as client:
            tools = await client.list_tools()
            assert {t.name for t in tools.tools} == ADVERTISED
            assert client.server_info is not None
            assert client.server_info.name == "memory"
            resources = await client.list_resources()
            assert [r.uri for r in resources.resources][:3] == [
                "memory://stats",
                "memory://tags",
                "memory://recent/10",
            ]
    assert not _lock_held(db)
    assert not await trio.Path(db).exists()


async def test_every_tool_end_to_end(db: Path) -> None:
    with trio.fail_after(120):
        async with open_bridge(db) as c:
            text = await call_ok(
                c,
                "memory_store",
                {"content": "The deploy key lives in vault", "metadata": {"tags": "ops,Secrets"}},
            )
            h1 = stored_hash(text)
            assert text == f"Memory stored successfully (hash: {h1})"
            h2 = stored_hash(
                await call_ok(
                    c, "memory_store", {"content": "Tea is brewed at 80C", "tags": ["tea"]}
                )
            )
            dup = await call_refused(
                c, "memory_store", {"content": "the deploy key lives in VAULT  "}
            )
            assert dup == "Error storing memory: Duplicate content detected (exact match)"
            assert (await call_err(c, "memory_store", {})) == (
                "Input validation error: 'content' is a required property"
            )
            assert (await call_refused(c, "memory_store", {"content": ""})) == (
                "Error: Content is required"
            )
            coerced = await call_ok(
                c, "memory_store", {"content": "a fact", "metadata": {"type": "fact"}}
            )
            assert coerced.endswith(
                "\nWarning: requested memory_type 'fact' is not in the ontology — stored as "
                "'observation'. Register custom types via the MCP_CUSTOM_MEMORY_TYPES env var, "
                "e.g. '{\"fact\": []}'."
            )
            await call_ok(c, "memory_delete", {"content_hash": stored_hash(coerced)})

            session = await call_ok(
                c,
                "memory_store_session",
                {
                    "session_id": "s-1",
                    "turns": [
                        {"role": "user", "content": "How do I rotate keys?"},
                        {"role": "assistant", "content": "Use the vault CLI."},
                    ],
                },
            )
            assert session.startswith("Session stored successfully (session_id: s-1, hash: ")
            assert session.endswith(", turns: 2)")

            found = await call_ok(c, "memory_search", {"query": "deploy key", "mode": "exact"})
            assert found.startswith("Found 1 memories (mode: exact) for query: 'deploy key'\n\n1. ")
            assert f"   Hash: {h1}\n" in found
            assert "[ops, secrets]" in found
            semantic = await call_ok(c, "memory_search", {"query": "tea", "limit": 2})
            assert semantic.startswith("Found ")
            tagged = await call_ok(c, "memory_search", {"tags": "tea"})
            assert h2 in tagged
            limited = await call_ok(
                c, "memory_search", {"query": "tea", "mode": "hybrid", "max_response_chars": 100}
            )
            assert "=== Memory 1 ===" in limited
            none = await call_ok(c, "memory_search", {"query": "zebra crossing", "mode": "exact"})
            assert none == "No memories found for query: 'zebra crossing'"
            assert "At least one filter required" in await call_refused(c, "memory_search", {})

            listed = json.loads(await call_ok(c, "memory_list", {"page_size": 10}))
            assert listed["total"] == 3
            assert {"memories", "page", "page_size", "total", "total_pages", "has_more"} == set(
                listed
            )

            updated = await call_ok(
                c, "memory_update", {"content_hash": h2, "updates": {"tags": ["tea", "green"]}}
            )
            assert (
                updated == "Successfully updated memory metadata. Updated fields: tags, updated_at"
            )
            missing = await call_refused(
                c, "memory_update", {"content_hash": "0" * 64, "updates": {"x": 1}}
            )
            assert missing.startswith("Failed to update memory metadata: ")

            dry = await call_ok(c, "memory_delete", {"tags": ["green"], "dry_run": True})
            assert dry == f"Would delete 1 memories\n\nWould delete 1 memories\nHashes: {h2}"
            gone = await call_ok(c, "memory_delete", {"content_hash": h2})
            assert gone == f"Successfully deleted memory {h2}\n\nDeleted 1 memories"
            again = await call_refused(c, "memory_delete", {"content_hash": h2})
            assert again == f"Error: Memory with hash {h2} not found"

            health = await call_ok(c, "memory_health")
            assert health.startswith("Database Health Check Results:\n")
            data = json.loads(health.split("\n", 1)[1])
            assert data["statistics"]["total_memories"] == 2
            stats = json.loads(await call_ok(c, "memory_stats"))
            assert stats["backend_info"]["sqlite_path"] == str(db)
            assert await call_ok(c, "memory_cleanup") == "No duplicate memories found"

            tags = await c.read_resource("memory://tags")
            assert "ops" in json.loads(tags.contents[0].text)["tags"]  # type: ignore[union-attr]


async def test_every_alias_end_to_end(db: Path) -> None:
    with trio.fail_after(120):
        async with open_bridge(db) as c:
            h = stored_hash(
                await call_ok(
                    c, "store_memory", {"content": "alpha note", "metadata": {"tags": "a1"}}
                )
            )
            for i in range(3):
                await call_ok(c, "memory_store", {"content": f"beta {i}", "tags": ["b1", "b2"]})
            assert (await call_ok(c, "retrieve_memory", {"query": "alpha"})).startswith("Found ")
            assert (await call_ok(c, "recall_memory", {"query": "today"})).startswith("Found ")
            today = time.strftime("%Y-%m-%d")
            assert "Found 4 memories" in await call_ok(
                c, "recall_by_timeframe", {"start_date": today, "n_results": 10}
            )
            assert (await call_ok(c, "retrieve_with_quality_boost", {"query": "beta"})).startswith(
                "Found "
            )
            assert f"Hash: {h}" in await call_ok(c, "exact_match_retrieve", {"content": "alpha"})
            assert "Debug Info:" in await call_ok(c, "debug_retrieve", {"query": "beta"})
            assert json.loads(await call_ok(c, "search_by_tag", {"tags": ["b1"]}))["total"] == 3
            assert json.loads(await call_ok(c, "list_memories", {}))["total"] == 4
            assert (await call_ok(c, "check_database_health")).startswith("Database Health Check")
            assert "total_calls" in json.loads(await call_ok(c, "get_cache_stats"))
            assert (await call_ok(c, "cleanup_duplicates")) == "No duplicate memories found"
            assert (
                await call_ok(
                    c, "update_memory_metadata", {"content_hash": h, "updates": {"tags": "x1"}}
                )
            ).endswith("Updated fields: tags, updated_at")
            assert (await call_ok(c, "delete_by_tag", {"tags": "x1"})).startswith(
                "Successfully deleted 1 memories matching 1 tag(s)"
            )
            b0 = stored_hash(await call_ok(c, "memory_store", {"content": "gamma", "tags": "g"}))
            assert (await call_ok(c, "delete_memory", {"content_hash": b0})).startswith(
                "Successfully deleted memory"
            )
            assert "Deleted 3 memories" in await call_ok(
                c, "delete_by_all_tags", {"tags": ["b1", "b2"]}
            )
            await call_ok(c, "memory_store", {"content": "delta", "tags": "d"})
            assert "Deleted 1 memories" in await call_ok(c, "delete_by_tags", {"tags": ["d"]})
            await call_ok(c, "memory_store", {"content": "epsilon", "tags": "e"})
            assert "Would delete 0 memories" in await call_ok(
                c, "memory_delete", {"before": "2001-01-01", "dry_run": True}
            )
            assert "Deleted 0 memories" in await call_ok(
                c, "delete_before_date", {"before_date": "2001-01-01"}
            )
            assert "Deleted" in await call_ok(
                c, "delete_by_timeframe", {"start_date": "2001-01-01", "end_date": "2001-01-02"}
            )
            # the consolidation aliases reach memory_consolidate: 12.4's master switch is off
            for name, args in [
                ("consolidate_memories", {"time_horizon": "weekly"}),
                ("consolidation_status", {}),
                ("consolidation_recommendations", {"time_horizon": "weekly"}),
                ("scheduler_status", {}),
                ("trigger_consolidation", {"time_horizon": "daily"}),
                ("pause_consolidation", {}),
                ("resume_consolidation", {}),
            ]:
                assert await call_ok(c, name, args) == "Consolidation is disabled"
            unsupported: list[tuple[str, dict[str, Any]]] = [
                ("get_raw_embedding", {"content": "x"}),
                ("memory_rate", {"content_hash": h}),
            ]
            for name, args in unsupported:
                assert "is not supported by memhub" in await call_refused(c, name, args)
            # the quality aliases reach memory_quality (unvalidated: an integer rating works)
            q = stored_hash(await call_ok(c, "memory_store", {"content": "quality note"}))
            rated = await call_ok(c, "rate_memory", {"content_hash": q, "rating": 1})
            assert rated.startswith("✅ Memory rated successfully: thumbs up")
            got = await call_ok(c, "get_memory_quality", {"content_hash": q})
            assert "Quality Score: 0.900 / 1.0" in got
            analyzed = await call_ok(c, "analyze_quality_distribution", {})
            assert analyzed.startswith("📊 Quality Score Distribution Analysis")


async def test_parallel_bridges_share_one_daemon(db: Path) -> None:
    per_bridge, bridges = 10, 4
    hashes: list[str] = []

    async def worker(n: int, done: trio.Event, all_done: trio.Event) -> None:
        async with open_bridge(db) as c:
            async with trio.open_nursery() as nursery:
                for i in range(per_bridge):

                    async def store(i: int = i) -> None:
                        text = await call_ok(
                            c,
                            "memory_store",
                            {"content": f"bridge {n} fact {i}", "tags": [f"b{n}"]},
                        )
                        hashes.append(stored_hash(text))

                    nursery.start_soon(store)
            done.set()
            await all_done.wait()
            listed = json.loads(await call_ok(c, "memory_list", {"page_size": 100}))
            assert listed["total"] == per_bridge * bridges
            for other in range(bridges):
                found = await call_ok(
                    c,
                    "memory_search",
                    {"query": f"bridge {other} fact", "mode": "exact", "limit": 100},
                )
                assert found.startswith(f"Found {per_bridge} memories")

    with trio.fail_after(120):
        events = [trio.Event() for _ in range(bridges)]
        all_done = trio.Event()

        async def gate() -> None:
            for event in events:
                await event.wait()
            all_done.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(gate)
            for n in range(bridges):
                nursery.start_soon(worker, n, events[n], all_done)
    assert len(set(hashes)) == per_bridge * bridges
    assert len(serve_processes(db)) == 1
    assert runtime_pid(db) == serve_processes(db)[0].pid


async def test_eight_bridges_starting_together_end_on_one_daemon(db: Path) -> None:
    pids: list[int] = []
    # The test holds the daemon's lock first: to the bridges, a daemon is starting and slow
    # about it, on every machine. It lets go once every bridge has had the "starting" answer.
    slow_start = DaemonLock(runtime_paths(db).lock)
    assert slow_start.acquire()
    told_starting = 0
    all_told = trio.Event()

    async def one() -> None:
        nonlocal told_starting
        async with open_bridge(db) as c:
            early = json.loads((await call_ok(c, "memory_health")).split("\n", 1)[1])
            assert early["memhub"]["state"] == "starting"  # every key, even before the daemon
            assert early["memhub"]["daemon_pid"] is None
            told_starting += 1
            if told_starting == 8:
                all_told.set()
            # memory_health says "starting" after 2 s, however long the daemon takes; a list
            # waits for the daemon itself (within the bridge's 90 s start timeout).
            await call_ok(c, "memory_list")
            health = json.loads((await call_ok(c, "memory_health")).split("\n", 1)[1])
            assert health["memhub"]["state"] == "serving", health
            pids.append(health["memhub"]["daemon_pid"])

    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            for _ in range(8):
                nursery.start_soon(one)
            await all_told.wait()
            slow_start.release()
    assert len(pids) == 8
    assert len(set(pids)) == 1
    wait_until(lambda: len(serve_processes(db)) == 1, 10, "losing daemons to exit")
    assert serve_processes(db)[0].pid == pids[0]


async def test_kill_9_of_the_daemon_loses_no_acked_store(db: Path) -> None:
    acked: list[str] = []
    killed = trio.Event()

    async def writer(n: int) -> None:
        async with open_bridge(db) as c:
            for i in range(40):
                text = await call_ok(c, "memory_store", {"content": f"writer {n} item {i}"})
                acked.append(stored_hash(text))
                if n == 0 and i == 10:
                    pid = runtime_pid(db)
                    assert pid is not None
                    os.kill(pid, signal.SIGKILL)
                    killed.set()
                await trio.sleep(0.01)

    with trio.fail_after(180):
        async with trio.open_nursery() as nursery:
            for n in range(3):
                nursery.start_soon(writer, n)
    assert killed.is_set()
    assert len(acked) == 120
    async with open_bridge(db) as c:
        listed = json.loads(await call_ok(c, "memory_list", {"page_size": 100}))
        seen = {m["content_hash"] for m in listed["memories"]}
        page2 = json.loads(await call_ok(c, "memory_list", {"page_size": 100, "page": 2}))
        seen |= {m["content_hash"] for m in page2["memories"]}
    assert set(acked) <= seen
    assert len(serve_processes(db)) == 1


def _raw_bridge(db: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "memhub", "bridge"],
        env=bridge_env(db, MEMHUB_BRIDGE_WARMUP="0"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )


def _initialize(proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    assert proc.stdin is not None
    assert proc.stdout is not None
    request = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "0"},
        },
    }
    proc.stdin.write(json.dumps(request).encode() + b"\n")
    proc.stdin.flush()
    reply: dict[str, Any] = json.loads(proc.stdout.readline())
    return reply


def test_stdin_eof_ends_the_bridge_quickly(db: Path) -> None:
    proc = _raw_bridge(db)
    try:
        reply = _initialize(proc)
        assert reply["result"]["serverInfo"]["name"] == "memory"
        assert proc.stdin is not None
        proc.stdin.close()
        began = time.monotonic()
        proc.wait(timeout=5)
        assert time.monotonic() - began < 3
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


def test_bridges_ending_together_are_gone_within_the_clients_grace(db: Path) -> None:
    # An app that quits closes every bridge's stdin at once and kills what is still there
    # after its grace (the SDK: 2 s). The interpreter's own teardown took ~0.4 s of CPU per
    # bridge, and eight at once on two cores over 3.9 s.
    procs = [_raw_bridge(db) for _ in range(8)]
    try:
        for proc in procs:
            assert _initialize(proc)["result"]["serverInfo"]["name"] == "memory"
        began = time.monotonic()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.close()
        for proc in procs:
            assert proc.wait(timeout=10) == 0
        assert time.monotonic() - began < 2.0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stdout:
                proc.stdout.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_signals_end_the_bridge(db: Path, signum: int) -> None:
    proc = _raw_bridge(db)
    try:
        _initialize(proc)
        proc.send_signal(signum)
        proc.wait(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream:
                stream.close()


async def test_modern_protocol_era_client(db: Path) -> None:
    with trio.fail_after(60):
        async with open_bridge(db, mode="auto") as c:
            assert c.protocol_version == "2026-07-28"
            h = stored_hash(await call_ok(c, "memory_store", {"content": "modern era"}))
            assert h in await call_ok(c, "memory_search", {"query": "modern", "mode": "exact"})
