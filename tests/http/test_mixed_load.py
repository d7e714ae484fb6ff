"""Mixed load through one daemon: stdio bridges, HTTP MCP sessions and REST clients store and
delete at once; then ``memhub stress``'s integrity check of the file against every
acknowledgement: nothing lost, nothing duplicated, every vector the content's own."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx2
import trio
from mcp.client.session import ClientSession

from memhub.domain.hashing import content_hash
from memhub.embedding.hashed import HashEmbedder
from memhub.stress.integrity import verify
from tests.http.helpers import http_daemon
from tests.http.mcp_clients import http_session, stdio_session
from tests.mcp_bridge.e2e import HASH_RE, cleanup_daemons

PER_CLIENT = 30
DELETE_EVERY = 4
Record = dict[str, Any]


def _ack(records: list[Record], op: str, ok: bool, text: str) -> None:
    records.append(
        {"op": op, "outcome": "ok" if ok else "error", "hash": content_hash(text), "t": time.time()}
    )


def _text(result: Any) -> str:
    return str(getattr(result.content[0], "text", ""))


async def _mcp_client(session: ClientSession, name: str, records: list[Record]) -> None:
    for i in range(PER_CLIENT):
        text = f"{name} wrote memory number {i} of the mixed load"
        stored = await session.call_tool(
            "memory_store", {"content": text, "metadata": {"tags": [name]}}
        )
        body = _text(stored)
        ok = not stored.is_error and HASH_RE.search(body) is not None
        _ack(records, "store", ok, text)
        if ok and i % DELETE_EVERY == 0:
            gone = await session.call_tool("memory_delete", {"content_hash": content_hash(text)})
            _ack(
                records,
                "delete",
                not gone.is_error and "Successfully deleted" in _text(gone),
                text,
            )


async def _rest_client(url: str, key: str, name: str, records: list[Record]) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx2.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
        for i in range(PER_CLIENT):
            text = f"{name} wrote memory number {i} of the mixed load"
            reply = await http.post("/api/memories", json={"content": text, "tags": [name]})
            ok = reply.status_code == 200 and reply.json()["success"] is True
            _ack(records, "store", ok, text)
            if ok and i % DELETE_EVERY == 0:
                gone = await http.delete(f"/api/memories/{content_hash(text)}")
                _ack(records, "delete", gone.status_code == 200, text)


async def test_bridges_http_sessions_and_rest_clients_write_at_once(tmp_path: Path) -> None:
    db = tmp_path / "sqlite_vec.db"
    records: list[Record] = []
    try:
        with http_daemon(db) as daemon:
            key = str(daemon.key)
            jobs: list[Callable[[], Awaitable[None]]] = []

            def over_stdio(name: str) -> Callable[[], Awaitable[None]]:
                async def job() -> None:
                    async with stdio_session(db, name) as session:
                        await _mcp_client(session, name, records)

                return job

            def over_http(name: str) -> Callable[[], Awaitable[None]]:
                async def job() -> None:
                    async with http_session(daemon.url, key, name) as session:
                        await _mcp_client(session, name, records)

                return job

            def over_rest(name: str) -> Callable[[], Awaitable[None]]:
                async def job() -> None:
                    await _rest_client(daemon.url, key, name, records)

                return job

            for n in range(2):
                jobs += [
                    over_stdio(f"bridge-{n}"),
                    over_http(f"http-mcp-{n}"),
                    over_rest(f"rest-{n}"),
                ]
            with trio.fail_after(300):
                async with trio.open_nursery() as nursery:
                    for job in jobs:
                        nursery.start_soon(job)
    finally:
        cleanup_daemons(db)
    stores = [r for r in records if r["op"] == "store"]
    assert len(stores) == 6 * PER_CLIENT
    assert all(r["outcome"] == "ok" for r in records), [r for r in records if r["outcome"] != "ok"][
        :3
    ]
    checks = verify(db, records, HashEmbedder(), exclusive=True)
    failed = [c for c in checks if not c.ok]
    assert not failed, failed
    deleted = sum(1 for r in records if r["op"] == "delete")
    counts = next(c for c in checks if c.name == "counts_consistent")
    assert counts.detail.startswith(f"{len(stores) - deleted} active")
