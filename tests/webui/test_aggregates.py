"""Aggregates, connected clients and the writer's name in events, over the real protocol."""

from __future__ import annotations

import time
import uuid

import trio

from memhub.credentials import TICKET_TTL_S, Admitted, Credentials, Refused
from memhub.protocol import messages as m
from memhub.storage.sqlite.aggregates import count_all
from memhub.transport.client import open_daemon_client

from .helpers import Daemon


def test_counts_cover_the_whole_store(daemon: Daemon) -> None:
    rare = f"rare-{uuid.uuid4().hex[:6]}"
    kind = "reference"

    async def scenario() -> None:
        url = f"ws://127.0.0.1:{daemon.port}"
        async with open_daemon_client(url, daemon.token, client_name="agg") as client:
            before = await client.call(m.CountTags(id=0, limit=10_000))
            assert isinstance(before, m.TagCounts)
            types_before = await client.call(m.CountTypes(id=0))
            assert isinstance(types_before, m.TypeCounts)
            had = {t.memory_type: t.count for t in types_before.types}.get(kind, 0)
            for i in range(3):
                await client.call(
                    m.Store(
                        id=0, content=f"agg {rare} {i}", tags=[rare, "Shared"], memory_type=kind
                    )
                )
            deleted = await client.call(m.Store(id=0, content=f"gone {rare}", tags=[rare]))
            assert isinstance(deleted, m.Stored)
            await client.call(m.Delete(id=0, content_hash=deleted.content_hash))
            tags = await client.call(m.CountTags(id=0, limit=10_000))
            assert isinstance(tags, m.TagCounts)
            counted = {t.tag.lower(): t.count for t in tags.tags}
            assert counted[rare] == 3  # the deleted one is not counted
            assert tags.distinct == before.distinct + (
                2 if "shared" not in {t.tag.lower() for t in before.tags} else 1
            )
            top = await client.call(m.CountTags(id=0, limit=1))
            assert isinstance(top, m.TagCounts)
            assert len(top.tags) == 1
            assert top.tags[0].count == max(counted.values())
            types = await client.call(m.CountTypes(id=0))
            assert isinstance(types, m.TypeCounts)
            assert {t.memory_type: t.count for t in types.types}[kind] == had + 3
            assert [t.count for t in types.types] == sorted(
                (t.count for t in types.types), reverse=True
            )
            days = await client.call(m.CountDays(id=0, days=7))
            assert isinstance(days, m.DayCounts)
            today = time.strftime("%Y-%m-%d")
            assert days.days[-1].day == today
            total = await client.call(m.Health(id=0))
            assert isinstance(total, m.HealthReport)
            assert sum(d.count for d in days.days) == total.total_memories

    trio.run(scenario)


def test_clients_and_the_writer_name_in_events(daemon: Daemon) -> None:
    async def scenario() -> None:
        url = f"ws://127.0.0.1:{daemon.port}"
        async with (
            open_daemon_client(url, daemon.token, client_name="watcher") as watcher,
            open_daemon_client(url, daemon.token, client_name="claude-code") as writer,
        ):
            listed = await watcher.call(m.ListClients(id=0))
            assert isinstance(listed, m.Clients)
            names = [c.name for c in listed.clients]
            assert "watcher" in names
            assert "claude-code" in names
            mine = next(c for c in listed.clients if c.name == "watcher")
            assert mine.kind == "token"
            assert mine.in_flight == 1  # this very request
            assert mine.requests >= 1
            events = await watcher.subscribe()
            content = f"named write {uuid.uuid4().hex}"
            stored = await writer.call(m.Store(id=0, content=content, tags=["events"]))
            assert isinstance(stored, m.Stored)
            with trio.fail_after(10):
                async for event in events:
                    if event.content_hash == stored.content_hash:
                        break
            assert event.kind == "stored"
            assert event.client == "claude-code"
            assert event.memory is not None
            assert event.memory.content == content
        async with open_daemon_client(url, daemon.token, client_name="after") as after:
            listed = await after.call(m.ListClients(id=0))
            assert isinstance(listed, m.Clients)
            assert "claude-code" not in [c.name for c in listed.clients]

    trio.run(scenario)


def test_tickets_expire_and_sessions_do_not_mint_tickets(monkeypatch) -> None:
    credentials = Credentials("master")
    now = [1000.0]
    monkeypatch.setattr("memhub.credentials.time.monotonic", lambda: now[0])
    ticket = credentials.issue_ticket()
    now[0] += TICKET_TTL_S + 0.001
    refused = credentials.admit(ticket)
    assert isinstance(refused, Refused)
    assert "run `memhub ui` again" in refused.message
    fresh = credentials.issue_ticket()
    admitted = credentials.admit(fresh)
    assert isinstance(admitted, Admitted)
    assert admitted.kind == "browser"
    assert admitted.session_token is not None
    assert credentials.admit(admitted.session_token) == Admitted("browser")
    assert isinstance(credentials.admit(fresh), Refused)
    assert credentials.admit("master") == Admitted("token")


def test_tag_counts_merge_spellings_and_skip_the_untagged_marker(tmp_path) -> None:
    from memhub.storage.sqlite import schema as schema_mod

    conn = schema_mod.connect(tmp_path / "t.db", readonly=False, pragmas={}, create=True)
    schema = schema_mod.create(conn, tmp_path / "t.db", dimension=4, generation="v12")
    rows = [("a,B", None), ("b, c", None), ("untagged", None), ("a", 1.0)]
    for i, (tags, deleted_at) in enumerate(rows):
        conn.execute(
            "INSERT INTO memories (content_hash, content, tags, memory_type, created_at, "
            "deleted_at) VALUES (?, ?, ?, 'note', ?, ?)",
            (f"h{i}", f"c{i}", tags, time.time(), deleted_at),
        )
    totals = count_all(conn, schema)["default"]
    assert totals.ranked_tags(10) == [("B", 2), ("a", 1), ("c", 1)]
    assert totals.distinct_tags == 3


def test_cached_counts_follow_own_writes_and_rows_written_by_another_process(
    daemon: Daemon,
) -> None:
    import apsw

    from memhub.domain.hashing import content_hash

    tag = f"cache-{uuid.uuid4().hex[:6]}"

    async def count(client: object) -> int:
        assert hasattr(client, "call")
        reply = await client.call(m.CountTags(id=0, limit=10_000))
        assert isinstance(reply, m.TagCounts)
        return {t.tag: t.count for t in reply.tags}.get(tag, 0)

    async def scenario() -> None:
        url = f"ws://127.0.0.1:{daemon.port}"
        async with open_daemon_client(url, daemon.token, client_name="cache") as client:
            assert await count(client) == 0  # warms the cache
            for i in range(2):
                await client.call(m.Store(id=0, content=f"cached {tag} {i}", tags=[tag]))
            assert await count(client) == 2  # added from the events, no recount needed
            # A legacy process writes the file directly, beside the daemon.
            legacy = apsw.Connection(str(daemon.db))
            legacy.execute("PRAGMA busy_timeout=10000")
            text = f"legacy {tag}"
            with legacy:
                legacy.execute(
                    "INSERT INTO memories (content_hash, content, tags, memory_type, metadata, "
                    "created_at, updated_at) VALUES (?, ?, ?, 'note', '{}', ?, ?)",
                    (content_hash(text), text, tag, time.time(), time.time()),
                )
            legacy.close()
            assert await count(client) == 3
            await client.call(m.Store(id=0, content=f"cached {tag} again", tags=[tag]))
            assert await count(client) == 4

    trio.run(scenario)


def test_list_totals_stay_exact_once_the_counts_are_followed(daemon: Daemon) -> None:
    """A store-wide memory_list takes its total from the followed counts (no table scan) once
    the web UI started them: it must agree with the engine's own count after every write."""
    tag = f"listed-{uuid.uuid4().hex[:6]}"

    async def scenario() -> None:
        url = f"ws://127.0.0.1:{daemon.port}"
        async with open_daemon_client(url, daemon.token, client_name="lister") as client:

            async def total(**filters: object) -> int:
                page = await client.call(m.ListMemories(id=0, page_size=1, **filters))  # type: ignore[arg-type]
                assert isinstance(page, m.Page)
                return page.total

            async def scanned(store: str) -> int:
                # a tag filter is never answered from the counts: the engine counts the rows
                return await total(tags=[tag], store=store)

            before, before_named = await total(), await total(store="notes")
            assert isinstance(await client.call(m.CountTags(id=0, limit=1)), m.TagCounts)
            stored = []
            for i, store in enumerate(["default", "default", "notes", "default"]):
                reply = await client.call(
                    m.Store(
                        id=0,
                        content=f"list total {tag} {i}",
                        tags=[tag],
                        store=store,
                        skip_semantic_dedup=True,
                    )
                )
                assert isinstance(reply, m.Stored)
                stored.append(reply.content_hash)
            await client.call(m.Delete(id=0, content_hash=stored[0]))
            assert await total() == before + 2 == before + await scanned("default")
            assert await total(store="notes") == before_named + 1
            assert await scanned("notes") == 1
            everything = await total(store="all")
            assert everything >= before + 2 + before_named + 1

    trio.run(scenario)
