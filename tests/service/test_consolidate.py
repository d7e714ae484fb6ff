"""12.4's ``memory_consolidate`` requests in the daemon (merge, recommend), on both engines.

A merge is one write call of the single writer: the merged memory and the deleted sources
commit together, or (a missing source, a duplicate) nothing does.
"""

from __future__ import annotations

import itertools
import time

import pytest
import trio

from memhub.errors import BadRequest, Duplicate, NotFound, TooLarge
from memhub.protocol import messages as m
from memhub.storage.engine import WriteTxn
from memhub.storage.relations import Edge

from .conftest import InProcess

_databases = itertools.count()


@pytest.fixture
def svc(engine_daemon: InProcess) -> InProcess:
    return engine_daemon  # each engine, semantic dedup off


async def store(svc: InProcess, content: str, **kw: object) -> str:
    stored = await svc.call(m.Store(id=0, content=content, **kw))  # type: ignore[arg-type]
    assert isinstance(stored, m.Stored)
    return stored.content_hash


async def get(svc: InProcess, h: str) -> m.MemoryRecord | None:
    try:
        found = await svc.call(m.Get(id=0, content_hash=h))
    except NotFound:
        return None
    assert isinstance(found, m.Found)
    return found.memory


async def total(svc: InProcess) -> int:
    page = await svc.call(m.ListMemories(id=0, store="all"))
    assert isinstance(page, m.Page)
    return page.total


async def test_merge_stores_the_merged_memory_and_deletes_the_sources(svc: InProcess) -> None:
    a = await store(svc, "alpha about deploys", tags=["deploy", "ops"], memory_type="decision")
    b = await store(svc, "beta about deploys", tags=["ops", "zeta"], memory_type="note")
    other = await store(svc, "an unrelated memory")

    def link(txn: WriteTxn) -> int:
        edges = [
            Edge(
                source=a, target=other, similarity=0.5, connection_types=["semantic"],
                metadata={}, relationship_type="related", created_at=1.0,
            )
        ]  # fmt: skip
        return txn.put_edges(edges, replace=True)

    await svc.service.writer.submit(link, client="tests")
    before = await svc.service.readers.submit(lambda snap: snap.edges_among([a, other]))
    assert len(before) == 1
    done = await svc.call(
        m.ConsolidateMerge(id=0, content_hashes=[a, b, a], merged_content="deploys, merged")
    )
    assert isinstance(done, m.ToolData)
    new = done.data["content_hash"]
    assert done.data == {
        "ok": True,
        "content_hash": new,
        "merged": [a, b],
        "deleted": [a, b],
        "failed": None,
    }
    merged = await get(svc, new)
    assert merged is not None
    assert merged.content == "deploys, merged"
    assert merged.tags == ["deploy", "ops", "zeta"]  # the sorted union
    assert merged.memory_type == "decision"  # the first source's
    assert merged.metadata == {}
    assert merged.store == "default"
    assert await get(svc, a) is None
    assert await get(svc, b) is None
    assert await total(svc) == 2
    # as 12.4's delete: the sources' edges are gone with them
    edges = await svc.service.readers.submit(lambda snap: snap.edges_among([a, other]))
    assert edges == []


async def test_merge_with_given_tags_and_type(svc: InProcess) -> None:
    a = await store(svc, "one", tags=["x"])
    b = await store(svc, "two", tags=["y"])
    done = await svc.call(
        m.ConsolidateMerge(
            id=0, content_hashes=[a, b], merged_content="one and two", tags=["kept"],
            memory_type="learning",
        )
    )  # fmt: skip
    assert isinstance(done, m.ToolData)
    merged = await get(svc, done.data["content_hash"])
    assert merged is not None
    assert (merged.tags, merged.memory_type) == (["kept"], "learning")


async def test_a_refused_merge_writes_nothing(svc: InProcess) -> None:
    a = await store(svc, "first source")
    b = await store(svc, "second source")
    missing = "f" * 64
    with pytest.raises(NotFound, match=f"memories not found: {missing}"):
        await svc.call(m.ConsolidateMerge(id=0, content_hashes=[a, missing], merged_content="x"))
    with pytest.raises(Duplicate, match="Duplicate content detected"):
        await svc.call(
            m.ConsolidateMerge(id=0, content_hashes=[a, b], merged_content="first source")
        )
    with pytest.raises(BadRequest, match="at least 2 hashes"):
        await svc.call(m.ConsolidateMerge(id=0, content_hashes=[a, a], merged_content="x"))
    with pytest.raises(BadRequest, match="non-empty"):
        await svc.call(m.ConsolidateMerge(id=0, content_hashes=[a, b], merged_content="  "))
    with pytest.raises(TooLarge, match="at most 1000"):
        await svc.call(
            m.ConsolidateMerge(
                id=0, content_hashes=[f"{i:064x}" for i in range(1001)], merged_content="x"
            )
        )
    with pytest.raises(BadRequest, match="NUL"):
        await svc.call(m.ConsolidateMerge(id=0, content_hashes=[a, "b\x00"], merged_content="x"))
    assert await get(svc, a) is not None
    assert await get(svc, b) is not None
    assert await total(svc) == 2


async def test_a_source_in_another_store_is_found_but_not_deleted(svc: InProcess) -> None:
    a = await store(svc, "in the default store")
    b = await store(svc, "in the work store", store="work")
    done = await svc.call(m.ConsolidateMerge(id=0, content_hashes=[a, b], merged_content="both"))
    assert isinstance(done, m.ToolData)
    assert (done.data["ok"], done.data["deleted"], done.data["failed"]) == (False, [a], [b])
    assert await get(svc, b) is not None


async def test_merges_racing_stores_are_each_atomic(svc: InProcess) -> None:
    pairs = [
        (await store(svc, f"pair {i} left"), await store(svc, f"pair {i} right")) for i in range(6)
    ]
    results: list[m.Reply] = []

    async def merge(i: int) -> None:
        left, right = pairs[i]
        results.append(
            await svc.call(
                m.ConsolidateMerge(
                    id=0, content_hashes=[left, right], merged_content=f"pair {i} merged"
                )
            )
        )

    async def writes() -> None:
        for i in range(20):
            await store(svc, f"concurrent store {i}")

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writes)
            for i in range(len(pairs)):
                nursery.start_soon(merge, i)
    assert all(isinstance(r, m.ToolData) and r.data["ok"] for r in results)
    assert await total(svc) == 6 + 20
    for left, right in pairs:
        assert await get(svc, left) is None
        assert await get(svc, right) is None
    # the same sources merged twice at once: exactly one merge wins
    a = await store(svc, "contested left")
    b = await store(svc, "contested right")
    outcomes: list[object] = []

    async def contest(i: int) -> None:
        try:
            outcomes.append(
                await svc.call(
                    m.ConsolidateMerge(id=0, content_hashes=[a, b], merged_content=f"winner {i}")
                )
            )
        except NotFound as exc:
            outcomes.append(exc)

    async with trio.open_nursery() as nursery:
        for i in range(3):
            nursery.start_soon(contest, i)
    assert sum(isinstance(o, m.ToolData) for o in outcomes) == 1
    assert sum(isinstance(o, NotFound) for o in outcomes) == 2


async def test_recommend_counts_the_window_oldest_first(svc: InProcess) -> None:
    for i in range(3):
        await store(svc, f"note {i}", memory_type="note")
    await store(svc, "a decision", memory_type="decision")
    await store(svc, "elsewhere", store="work", memory_type="observation")
    now = time.time() + 1
    done = await svc.call(m.ConsolidateRecommend(id=0, now=now, window_days=7))
    assert isinstance(done, m.ToolData)
    assert done.data == {
        "memory_count": 5,
        "memory_types": {"note": 3, "decision": 1, "observation": 1},
        "total_size_bytes": sum(
            len(c) for c in ("note 0", "note 1", "note 2", "a decision", "elsewhere")
        ),
        "old_count": 0,
    }
    assert next(iter(done.data["memory_types"])) == "note"  # the oldest first
    capped = await svc.call(m.ConsolidateRecommend(id=0, now=now, window_days=7, limit=2))
    assert isinstance(capped, m.ToolData)
    assert capped.data["memory_count"] == 2
    assert capped.data["total_size_bytes"] == len("note 0") + len("note 1")
    three = await svc.call(m.ConsolidateRecommend(id=0, now=now, window_days=7, limit=3))
    assert isinstance(three, m.ToolData)
    assert three.data["memory_types"] == {"note": 3}
    later = await svc.call(m.ConsolidateRecommend(id=0, now=now + 40 * 86400, window_days=365))
    assert isinstance(later, m.ToolData)
    assert later.data["old_count"] == 5
    empty = await svc.call(m.ConsolidateRecommend(id=0, now=now + 40 * 86400, window_days=1))
    assert isinstance(empty, m.ToolData)
    assert empty.data["memory_count"] == 0
    with pytest.raises(BadRequest, match="limit"):
        await svc.call(m.ConsolidateRecommend(id=0, now=now, window_days=1, limit=0))


async def test_a_superseded_source_is_found_and_deleted_as_in_12_4(svc: InProcess) -> None:
    old = await store(svc, "the first version")
    versioned = await svc.call(m.VersionedUpdate(id=0, content_hash=old, content="version two"))
    assert isinstance(versioned, m.Versioned)
    other = await store(svc, "another memory")
    done = await svc.call(
        m.ConsolidateMerge(id=0, content_hashes=[old, other], merged_content="all merged")
    )
    assert isinstance(done, m.ToolData)
    assert (done.data["ok"], done.data["deleted"]) == (True, [old, other])
    assert await get(svc, versioned.content_hash) is not None  # the newer version stays
