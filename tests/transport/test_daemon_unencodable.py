"""Metadata no reply can encode: refused on the wire, and harmless when a legacy writer left it.

A real daemon serves a real file; the bad rows are planted with apsw, as mcp-memory-service (or
an older memhub) would have written them, while the daemon runs.
"""

from __future__ import annotations

import json
from typing import Any

import apsw
import orjson
import pytest
import trio
from trio_websocket import open_websocket_url

from memhub import PROTOCOL_VERSION
from memhub.errors import BadRequest
from memhub.protocol import messages as m
from memhub.protocol.limits import MAX_METADATA_DEPTH, UNREADABLE_METADATA_KEY
from memhub.transport.client import DaemonClient, open_daemon_client
from tests.daemon.helpers import daemon_process


def nested(levels: int) -> dict[str, Any]:
    """An object nesting ``levels`` objects (itself included)."""
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"k": value}
    return value


# Each written by Python's json, which accepts what no reply (orjson) can carry.
LEGACY_METADATA = {
    "deep": json.dumps(nested(300)),
    "deeper-than-json-reads": '{"k":' * 5000 + "{}" + "}" * 5000,
    "huge-int": json.dumps({"n": 2**70}),
    "lone-surrogate": json.dumps({"s": "\ud800"}),
}


def plant(db, content_hash: str, metadata_text: str) -> None:
    conn = apsw.Connection(str(db))
    try:
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute(
            "UPDATE memories SET metadata = ? WHERE content_hash = ?", (metadata_text, content_hash)
        )
    finally:
        conn.close()


async def store(client: DaemonClient, content: str, **fields: Any) -> str:
    reply = await client.call(m.Store(id=0, content=content, **fields))
    assert isinstance(reply, m.Stored)
    return reply.content_hash


def marked(record: m.MemoryRecord) -> bool:
    return set(record.metadata) == {UNREADABLE_METADATA_KEY}


async def check_events(client: DaemonClient, watcher: DaemonClient, bad: str) -> None:
    """A change to the bad memory reaches a subscriber without costing its connection."""
    events = await watcher.subscribe()
    await client.call(m.Update(id=0, content_hash=bad, tags=["old", "touched"]))
    event = await events.receive()
    assert event.content_hash == bad
    assert event.kind == "updated"
    assert event.memory is None or marked(event.memory)
    later = await store(client, "stored after the awkward event")
    event = await events.receive()
    assert event.content_hash == later
    assert not watcher.closed


async def raw_call(info: Any, frame: str) -> dict[str, Any]:
    """One request as a raw frame (our client cannot even encode what is tested here)."""
    async with open_websocket_url(f"ws://{info.host}:{info.port}") as ws:
        hello = {"type": "hello", "id": 1, "protocol": PROTOCOL_VERSION, "token": info.token}
        await ws.send_message(orjson.dumps(hello).decode())
        assert orjson.loads(await ws.get_message())["type"] == "welcome"
        await ws.send_message(frame)
        reply: dict[str, Any] = orjson.loads(await ws.get_message())
        return reply


@pytest.mark.parametrize("kind", sorted(LEGACY_METADATA))
async def test_one_unencodable_legacy_row_never_fails_reads_or_drops_subscribers(tmp_path, kind):
    db = tmp_path / "m.db"
    async with daemon_process(db) as (_, info):
        address = f"{info.host}:{info.port}"
        async with (
            open_daemon_client(address, info.token) as client,
            open_daemon_client(address, info.token) as watcher,
        ):
            with trio.fail_after(60):
                bad = await store(client, "legacy row with strange metadata", tags=["old"])
                good = await store(client, "a healthy neighbour", metadata={"ok": 1})
                plant(db, bad, LEGACY_METADATA[kind])

                page = await client.call(m.ListMemories(id=0))
                assert isinstance(page, m.Page)
                by_hash = {r.content_hash: r for r in page.memories}
                assert marked(by_hash[bad])
                assert by_hash[good].metadata == {"ok": 1}

                found = await client.call(m.Get(id=0, content_hash=bad))
                assert isinstance(found, m.Found)
                assert marked(found.memory)
                for mode in ("exact", "semantic", "hybrid"):
                    result = await client.call(m.Search(id=0, query="legacy row", mode=mode))
                    assert isinstance(result, m.SearchResult)
                    assert bad in {h.memory.content_hash for h in result.hits}
                    assert all(
                        marked(h.memory) for h in result.hits if h.memory.content_hash == bad
                    )

                if kind != "deeper-than-json-reads":  # no update can merge into that one
                    await check_events(client, watcher, bad)

        # The stored value itself is left as the legacy writer wrote it.
        conn = apsw.Connection(str(db), flags=apsw.SQLITE_OPEN_READONLY)
        try:
            ((text,),) = conn.execute(
                "SELECT metadata FROM memories WHERE content_hash = ?", (bad,)
            ).fetchall()
        finally:
            conn.close()
        assert text == LEGACY_METADATA[kind]


async def test_metadata_deeper_than_the_reply_limit_is_a_bad_request(tmp_path):
    db = tmp_path / "m.db"
    async with daemon_process(db) as (_, info):
        async with open_daemon_client(f"{info.host}:{info.port}", info.token) as client:
            with trio.fail_after(60):
                fits = await store(client, "just deep enough", metadata=nested(MAX_METADATA_DEPTH))
                # 300 levels: once accepted, then no read could carry it; 1000: once `internal`.
                for levels in (MAX_METADATA_DEPTH + 1, 300, 1000):
                    deep = '{"k": ' * (levels - 1) + "{}" + "}" * (levels - 1)
                    for frame in (
                        f'{{"type": "store", "id": 5, "content": "deep", "metadata": {deep}}}',
                        f'{{"type": "update", "id": 5, "content_hash": "{fits}", '
                        f'"metadata": {deep}}}',
                    ):
                        reply = await raw_call(info, frame)
                        assert reply["code"] == "bad_request", reply
                        assert "deeper than 64 levels" in reply["message"]
                        assert reply["id"] == 5
                found = await client.call(m.Get(id=0, content_hash=fits))
                assert isinstance(found, m.Found)
                assert found.memory.metadata == nested(MAX_METADATA_DEPTH)


async def test_a_huge_page_number_is_a_bad_request_or_an_empty_page(tmp_path):
    db = tmp_path / "m.db"
    async with daemon_process(db) as (_, info):
        async with open_daemon_client(f"{info.host}:{info.port}", info.token) as client:
            with trio.fail_after(60):
                await store(client, "one memory")
                with pytest.raises(BadRequest, match="signed 64-bit range"):
                    await client.call(m.ListMemories(id=0, page=2**64 - 1))
                page = await client.call(m.ListMemories(id=0, page=2**63 - 1, page_size=100))
                assert isinstance(page, m.Page)
                assert page.memories == []
                assert page.total == 1
