"""MCP Streamable HTTP at /mcp of a real daemon, driven by the SDK's own client: the scripted
session answers exactly as through ``memhub bridge`` on stdio, the client's name names its
writes, and sessions, versions and scopes follow the spec and upstream."""

from __future__ import annotations

import difflib
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import httpx2
import pytest
import trio

from memhub.mcp_bridge.v12_tools.catalog import LOCAL_ONLY
from memhub.protocol import messages as m
from memhub.transport.client import open_daemon_client
from tests.clients import harness
from tests.http.helpers import HttpDaemon, http_daemon
from tests.http.mcp_clients import http_session, stdio_session
from tests.http.session_runner import run_steps
from tests.mcp_bridge.e2e import bridge_env, cleanup_daemons


async def test_the_scripted_session_over_http_answers_as_over_stdio(tmp_path: Path) -> None:
    stdio_dir, http_dir = tmp_path / "stdio", tmp_path / "http"
    stdio_dir.mkdir()
    http_dir.mkdir()
    stdio_db = stdio_dir / "sqlite_vec.db"
    try:
        with trio.fail_after(240):
            async with stdio_session(stdio_db, HOME=str(stdio_dir / "home")) as session:
                over_stdio = await run_steps(session, stdio_dir)
    finally:
        cleanup_daemons(stdio_db)
    with http_daemon(http_dir / "sqlite_vec.db") as daemon:
        with trio.fail_after(240):
            async with http_session(daemon.url, daemon.key) as session:
                over_http = await run_steps(session, http_dir)
    assert_same_session(over_http, http_dir, over_stdio, stdio_dir)


@pytest.mark.slow  # npm ci of the pinned SDK on first use
def test_the_typescript_sdk_over_http_answers_as_over_stdio(tmp_path: Path) -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed for the TypeScript SDK client")
    stdio_dir, http_dir = tmp_path / "stdio", tmp_path / "http"
    stdio_dir.mkdir()
    http_dir.mkdir()
    stdio_db = stdio_dir / "sqlite_vec.db"
    server = {
        "command": sys.executable,
        "args": ["-m", "memhub", "bridge"],
        "env": bridge_env(stdio_db),
    }
    try:
        over_stdio = harness.run_session("ts", server, stdio_dir)
    finally:
        cleanup_daemons(stdio_db)
    with http_daemon(http_dir / "sqlite_vec.db") as daemon:
        endpoint = {"url": f"{daemon.url}/mcp", "headers": {"X-API-Key": daemon.key}}
        over_http = harness.run_session("ts", endpoint, http_dir)
    assert over_http["server"] == over_stdio["server"] == {"name": "memory"}
    assert_same_session(over_http["steps"], http_dir, over_stdio["steps"], stdio_dir)


def assert_same_session(
    over_http: list[dict[str, Any]],
    http_dir: Path,
    over_stdio: list[dict[str, Any]],
    stdio_dir: Path,
) -> None:
    ours, theirs = _comparable(over_http, http_dir), _comparable(over_stdio, stdio_dir)
    steps = harness.load_steps()
    assert [s["id"] for s in ours] == [s["id"] for s in steps]
    assert not [s for s in ours if "error" in s], "a step raised over HTTP"
    # 12.4's local-only tools read the server's files: refused over HTTP (as 12.4's remote
    # transports do), so what they would have written is not there either.
    apart = set()
    for step, answer in zip(steps, ours, strict=True):
        if step.get("tool") in LOCAL_ONLY:
            refusal = {"error": f"Tool not available over this transport: {step['tool']}"}
            assert json.loads(answer["text"]) == refusal
            assert not answer["isError"]
            apart.add(step["id"])
        elif step.get("reads_local_only"):
            apart.add(step["id"])
    ingested = next(s for s in ours if s["id"] == "list_ingested")
    assert json.loads(ingested["text"])["total"] == 0
    differing = [
        (a, b) for a, b in zip(ours, theirs, strict=True) if a != b and a["id"] not in apart
    ]
    detail = [
        "\n".join(
            difflib.unified_diff(
                b.get("text", "").splitlines(),
                a.get("text", "").splitlines(),
                a["id"],
                "",
                lineterm="",
            )
        )
        for a, b in differing
    ]
    assert not differing, "\n".join(detail)
    flagged = {s["id"] for s in ours if s.get("isError")}
    assert "missing_argument" in flagged  # the session does reach an isError answer


async def test_the_client_name_from_initialize_names_its_writes(tmp_path: Path) -> None:
    with http_daemon(tmp_path / "db.sqlite") as daemon:
        with trio.fail_after(60):
            async with open_daemon_client(
                f"{daemon.info.host}:{daemon.info.port}", daemon.info.token, client_name="watcher"
            ) as watcher:
                events = await watcher.subscribe()
                async with http_session(daemon.url, daemon.key, name="claude-code") as session:
                    result = await session.call_tool("memory_store", {"content": "named write"})
                    assert not result.is_error
                    clients = await watcher.call(m.ListClients(id=0))
                    assert isinstance(clients, m.Clients)
                    assert "claude-code" in [c.name for c in clients.clients]
                event = await events.receive()
                assert (event.kind, event.client) == ("stored", "claude-code")
                # The client deleted its session on exit: it is no longer listed.
                after = await watcher.call(m.ListClients(id=0))
                assert isinstance(after, m.Clients)
                assert "claude-code" not in [c.name for c in after.clients]


# What legitimately differs between two daemons: pids, uptimes, timings, and the carriers' own
# counters (a bridge connects to its daemon once, "init" in memory_stats; an HTTP session is
# served in process and never connects).
_VOLATILE = re.compile(
    r'("(pid|uptime_s|uptime_seconds|db_path|database_size_bytes|wal_size_bytes|'
    r"connected_clients|requests|queries|mean_query_ms|batches|writes|texts|cache_hits|"
    r"cache_misses|last_batch_size|max_batch_size|mean_batch_size|checkpoints|"
    r"total_calls|hits|misses|hit_rate|size|keys|calls|average_query_time_ms|daemon_pid|"
    r'avg_init_time_ms|min_init_time_ms|max_init_time_ms|total_inits)"\s*:\s*)'
    r'("[^"]*"|\[[^\]]*\]|[-\d.e]+)'
)


def _comparable(steps: list[dict[str, Any]], work: Path) -> list[dict[str, Any]]:
    timed = set(json.loads(harness.ALLOWED.read_text())["time_dependent_hashes"]["steps"])
    out = []
    for step in steps:
        step = dict(step)
        for key in ("text", "error"):
            if isinstance(step.get(key), str):
                text = step[key].replace(str(work), "<WORK>")
                text = _VOLATILE.sub(r"\1<N>", harness.normalize(text))
                if step["id"] in timed:  # the learning note embeds the time it was written
                    text = re.sub(r"\b[0-9a-f]{64}\b", "<HASH>", text)
                step[key] = text
        out.append(step)
    return out


def _rpc(daemon: HttpDaemon, body: dict[str, Any], **headers: str) -> httpx2.Response:
    with daemon.client() as c:
        return c.post(
            "/mcp",
            json=body,
            headers={"Accept": "application/json, text/event-stream", **headers},
        )


INIT: dict[str, Any] = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"},
    },
}


def test_sessions_and_protocol_versions(tmp_path: Path) -> None:
    with http_daemon(tmp_path / "db.sqlite") as daemon:
        init = _rpc(daemon, INIT)
        assert init.status_code == 200
        assert init.json()["result"]["protocolVersion"] == "2025-06-18"
        assert init.json()["result"]["serverInfo"]["name"] == "memory"
        session = init.headers["mcp-session-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", session)
        newest = _rpc(
            daemon, {**INIT, "params": {**INIT["params"], "protocolVersion": "1999-01-01"}}
        )
        assert newest.json()["result"]["protocolVersion"] == "2025-11-25"
        listed = _rpc(
            daemon,
            {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
            **{"Mcp-Session-Id": session},
        )
        assert len(listed.json()["result"]["tools"]) == 9
        # No session id outside initialize: 400; an unknown one: 404 (the spec's rules).
        bare = _rpc(daemon, {"jsonrpc": "2.0", "id": 3, "method": "tools/list"})
        assert bare.status_code == 400
        unknown = _rpc(
            daemon,
            {"jsonrpc": "2.0", "id": 4, "method": "tools/list"},
            **{"Mcp-Session-Id": "f" * 32},
        )
        assert unknown.status_code == 404
        with daemon.client() as c:
            ended = c.delete("/mcp", headers={"Mcp-Session-Id": session})
        assert ended.status_code == 200
        gone = _rpc(
            daemon,
            {"jsonrpc": "2.0", "id": 5, "method": "tools/list"},
            **{"Mcp-Session-Id": session},
        )
        assert gone.status_code == 404


async def test_the_2026_protocol_without_a_session_is_served(tmp_path: Path) -> None:
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    with http_daemon(tmp_path / "db.sqlite") as daemon:
        headers = {"Authorization": f"Bearer {daemon.key}"}
        async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
            # A modern client: version discovery, then every request with its own _meta.
            transport = streamable_http_client(f"{daemon.url}/mcp", http_client=http)
            with trio.fail_after(60):
                async with Client(transport, mode="auto") as client:
                    stored = await client.call_tool("memory_store", {"content": "modern era"})
                    assert not stored.is_error
                    found = await client.call_tool("memory_search", {"query": "modern era"})
        assert "modern era" in found.content[0].text  # type: ignore[union-attr]


async def test_anonymous_read_scope_refuses_write_tools(tmp_path: Path) -> None:
    env = {"MCP_API_KEY": "", "MCP_ALLOW_ANONYMOUS_ACCESS": "true", "MCP_ANONYMOUS_SCOPE": "read"}
    with http_daemon(tmp_path / "db.sqlite", env) as daemon:
        with trio.fail_after(60):
            async with http_session(daemon.url, None) as session:
                write = await session.call_tool("memory_store", {"content": "no"})
                read = await session.call_tool("memory_search", {"query": "no"})
    assert "Insufficient scope: this tool requires 'write' access" in write.content[0].text  # type: ignore[union-attr]
    assert not read.is_error


def _text(result: Any) -> str:
    return "\n".join(getattr(c, "text", "") for c in result.content)


async def test_12_4_extra_tools_are_served_with_their_scope(tmp_path: Path) -> None:
    # The key has every scope; a request without one is anonymous and may only read.
    env = {"MCP_ALLOW_ANONYMOUS_ACCESS": "true", "MCP_ANONYMOUS_SCOPE": "read"}
    with http_daemon(tmp_path / "db.sqlite", env) as daemon:
        with trio.fail_after(120):
            async with http_session(daemon.url, daemon.key) as keyed:
                stored = await keyed.call_tool(
                    "memory_store", {"content": "the deploy script lives in ops/"}
                )
                assert not stored.is_error
                content_hash = re.findall(r"\b[0-9a-f]{64}\b", _text(stored))[0]
                # A read tool and a write tool of 12.4's nineteen, both over /mcp.
                explored = await keyed.call_tool("memory_explore", {"query": "deploy script"})
                assert not explored.is_error
                assert "entities" in json.loads(_text(explored))
                rated = await keyed.call_tool(
                    "memory_quality",
                    {"action": "rate", "content_hash": content_hash, "rating": "1"},
                )
                assert not rated.is_error, _text(rated)
                assert "not served over HTTP" not in _text(rated)

            async with http_session(daemon.url, None, name="reader") as anonymous:
                read = await anonymous.call_tool("memory_explore", {"query": "deploy script"})
                graph = await anonymous.call_tool(
                    "memory_graph", {"action": "connected", "hash": content_hash}
                )
                note = await anonymous.call_tool(
                    "mistake_note_add",
                    {
                        "error_pattern": "ran the wrong script",
                        "context_signature": "deploy",
                        "incorrect_action": "ran deploy.sh",
                        "correct_action": "ran ops/deploy.sh",
                    },
                )
                down = await anonymous.call_tool(
                    "memory_quality",
                    {"action": "rate", "content_hash": content_hash, "rating": "-1"},
                )
                # 12.4 classifies by tool: memory_quality needs write even to look.
                get = await anonymous.call_tool(
                    "memory_quality", {"action": "get", "content_hash": content_hash}
                )
                dry = await anonymous.call_tool(
                    "memory_delete", {"content_hash": content_hash, "dry_run": True}
                )

            async with http_session(daemon.url, daemon.key) as keyed:
                notes = await keyed.call_tool("mistake_note_search", {"query": "wrong script"})
                after = await keyed.call_tool(
                    "memory_quality", {"action": "get", "content_hash": content_hash}
                )
                listed = await keyed.call_tool("memory_list", {})

    assert not read.is_error
    assert not graph.is_error
    assert json.loads(_text(read)) == json.loads(_text(explored))
    refusal = "Insufficient scope: this tool requires 'write' access"
    for refused in (note, down, get, dry):
        assert refused.is_error
        assert _text(refused) == refusal
    # Nothing the anonymous session tried was written: no note, the rating is the keyed one.
    assert "ran the wrong script" not in _text(notes)
    assert "ran the wrong script" not in _text(listed)
    assert "the deploy script lives in ops/" in _text(listed)
    assert "Quality Score: 0.900" in _text(after)  # the keyed thumbs up, not the refused down
