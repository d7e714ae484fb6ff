"""The storage contract: what every engine behind ``storage/engine.py`` must do.

Each test runs once per engine (``ENGINES`` in :mod:`tests.storage.engines`), through the same
open path the daemon takes, so a second engine is held to exactly these rules.
"""

from __future__ import annotations

import time
from typing import Any

import attrs
import numpy as np
import pytest

from memhub.errors import Duplicate, NotFound, QueryTimeout, ServiceError
from memhub.storage.engine import ReadTimeout
from memhub.storage.model import Facets, Filters

from .builders import make_item, random_unit, storing
from .engines import Engine


def store(engine: Engine, embedder, content: str, tags=None, client: str = "", **fields: Any):
    item = make_item(embedder, content, tags, skip_semantic=True, **fields)
    return engine.write(lambda txn: txn.store(item), client=client)


def seed(engine: Engine, embedder, n: int = 60) -> None:
    rng = np.random.default_rng(7)
    topics = ["python", "ops", "frontend"]
    items = [
        make_item(
            embedder,
            f"memory {i} about {topics[i % 3]} number {rng.integers(1_000_000)}",
            [topics[i % 3]],
            skip_semantic=True,
        )
        for i in range(n)
    ]
    engine.batch([storing(item) for item in items])


# -- stores and duplicates ------------------------------------------------------------------------


def test_a_stored_memory_reads_back_as_it_was_acknowledged(engine, embedder):
    record = store(engine, embedder, "Deploy uses blue-green rollout", ["ops", "deploy"])
    found = engine.read(lambda snap: snap.get(record.content_hash))
    assert found == record
    assert found.tags == ["ops", "deploy"]
    assert engine.read(lambda snap: snap.counts()) == (1, 0)


def test_an_exact_duplicate_is_refused_and_a_tombstone_is_revived(engine, embedder):
    first = store(engine, embedder, "Deploy uses blue-green rollout", ["ops"])
    with pytest.raises(Duplicate, match="exact match"):
        store(engine, embedder, "  deploy USES blue-green rollout ")  # the same hash
    deleted = engine.write(lambda txn: txn.delete_matching(Filters(), first.content_hash))
    assert deleted == [first.content_hash]
    assert engine.read(lambda snap: snap.get(first.content_hash)) is None
    assert engine.read(lambda snap: snap.counts()) == (0, 1)
    again = store(engine, embedder, "  deploy USES blue-green rollout ")
    assert again.content_hash == first.content_hash
    assert engine.read(lambda snap: snap.counts()) == (1, 0)


def test_semantic_dedup_rejects_a_near_copy_within_the_window(make_engine, embedder):
    engine = make_engine()
    first = make_item(embedder, "the staging database password rotates every monday morning")
    engine.write(lambda txn: txn.store(first))
    near = make_item(embedder, "the staging database password rotates every monday morning!!")
    with pytest.raises(Duplicate, match=first.content_hash):
        engine.write(lambda txn: txn.store(near))
    engine.follow()  # and once the mirror holds the first one, the same
    with pytest.raises(Duplicate, match=first.content_hash):
        engine.write(lambda txn: txn.store(near))
    skipping = attrs.evolve(near, skip_semantic_dedup=True)
    engine.write(lambda txn: txn.store(skipping))
    relaxed = make_engine(semantic_dedup=False)
    relaxed.write(lambda txn: txn.store(first))
    relaxed.write(lambda txn: txn.store(near))


def test_two_near_copies_in_one_batch_cannot_both_get_in(engine, embedder):
    a = make_item(embedder, "kafka consumer lag alert fires at ten thousand messages")
    b = make_item(embedder, "kafka consumer lag alert fires at ten thousand messages.")
    stored, refused = engine.batch([lambda txn: txn.store(a), lambda txn: txn.store(b)])
    assert stored.content_hash == a.content_hash
    assert isinstance(refused, Duplicate)


def test_a_failing_write_fails_alone_and_its_batch_commits(engine, embedder):
    a = make_item(embedder, "first of the batch", skip_semantic=True)
    c = make_item(embedder, "third of the batch", skip_semantic=True)

    def half_then_fail(txn):
        txn.store(make_item(embedder, "written, then undone", skip_semantic=True))
        raise ValueError("boom")

    results = engine.batch(
        [lambda txn: txn.store(a), half_then_fail, lambda txn: txn.store(c)], client="cli"
    )
    assert results[0].content_hash == a.content_hash
    assert isinstance(results[1], ServiceError)
    assert "boom" in results[1].message
    assert results[2].content_hash == c.content_hash
    page, total = engine.read(lambda snap: snap.list_page(Filters(), page=1, page_size=10))
    assert total == 2
    assert {r.content for r in page} == {"first of the batch", "third of the batch"}
    changes = engine.follow()
    assert [c.content_hash for c in changes] == [a.content_hash, c.content_hash]


# -- updates and deletes --------------------------------------------------------------------


def test_update_merges_metadata_and_moves_updated_at_only_for_tags_or_type(engine, embedder):
    stored = store(engine, embedder, "prefer ruff over flake8", ["python"])
    time.sleep(0.01)
    rec, fields = engine.write(
        lambda txn: txn.update(
            stored.content_hash,
            tags=None,
            memory_type=None,
            metadata={"k": 1},
            preserve_timestamps=True,
        )
    )
    assert fields == ["metadata"]
    assert rec.updated_at == stored.updated_at
    rec, fields = engine.write(
        lambda txn: txn.update(
            stored.content_hash,
            tags=["lint"],
            memory_type="decision",
            metadata={"j": 2},
            preserve_timestamps=True,
        )
    )
    assert fields == ["tags", "memory_type", "metadata", "updated_at"]
    assert (rec.metadata, rec.tags, rec.memory_type) == ({"k": 1, "j": 2}, ["lint"], "decision")
    assert rec.updated_at > stored.updated_at
    assert rec.created_at == stored.created_at
    assert engine.read(lambda snap: snap.get(stored.content_hash)) == rec
    with pytest.raises(NotFound):
        engine.write(
            lambda txn: txn.update(
                "0" * 64, tags=["x"], memory_type=None, metadata=None, preserve_timestamps=True
            )
        )


def test_deletes_by_tag_and_time_match_their_dry_run(engine, embedder):
    seed(engine, embedder, n=30)
    by_tag = Filters(tags=["ops"])
    preview = engine.read(lambda snap: snap.matching_hashes(by_tag, None))
    assert len(preview) == 10
    assert engine.write(lambda txn: txn.delete_matching(by_tag, None)) == preview
    assert engine.read(lambda snap: snap.counts()) == (20, 10)
    assert engine.write(lambda txn: txn.delete_matching(by_tag, None)) == []
    future = Filters(after=time.time() + 3600)
    assert engine.write(lambda txn: txn.delete_matching(future, None)) == []


def test_cleanup_finds_no_duplicates_where_hashes_are_unique(engine, embedder):
    seed(engine, embedder, n=5)
    assert engine.read(lambda snap: snap.duplicate_hashes()) == []
    assert engine.write(lambda txn: txn.cleanup_duplicates()) == []


# -- reads ------------------------------------------------------------------------------------


def test_filters_apply_before_the_top_k_cut(engine, embedder):
    seed(engine, embedder, n=90)
    engine.follow()
    q = embedder.encode(["memory about python"])[0]
    hits = engine.read(lambda snap: snap.semantic_search(q, Filters(tags=["frontend"]), 10))
    assert len(hits) == 10
    assert all(h.memory.tags == ["frontend"] for h in hits)


def test_search_ranks_exactly_with_or_without_the_mirror_caught_up(engine, embedder):
    seed(engine, embedder, n=40)
    rng = np.random.default_rng(3)
    queries = [random_unit(rng) for _ in range(5)]
    before = [engine.read(lambda snap, q=q: snap.semantic_search(q, Filters(), 7)) for q in queries]
    engine.follow()
    after = [engine.read(lambda snap, q=q: snap.semantic_search(q, Filters(), 7)) for q in queries]
    for one, two in zip(before, after, strict=True):
        assert [h.memory.content_hash for h in one] == [h.memory.content_hash for h in two]
        assert [h.score for h in one] == pytest.approx([h.score for h in two], abs=1e-6)


def test_an_acknowledged_write_is_found_before_the_follower_runs(engine, embedder):
    seed(engine, embedder, n=10)
    engine.follow()
    record = store(engine, embedder, "written a moment ago and not yet mirrored")
    q = embedder.encode(["written a moment ago and not yet mirrored"])[0]
    hits = engine.read(lambda snap: snap.semantic_search(q, Filters(), 1))
    assert hits[0].memory.content_hash == record.content_hash
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)


def test_search_never_returns_a_memory_deleted_behind_the_mirror(engine, embedder):
    seed(engine, embedder, n=20)
    engine.follow()
    engine.write(lambda txn: txn.delete_matching(Filters(tags=["ops", "python", "frontend"]), None))
    q = embedder.encode(["memory about python"])[0]
    assert engine.read(lambda snap: snap.semantic_search(q, Filters(), 5)) == []


def test_exact_search_takes_the_query_literally(engine, embedder):
    store(engine, embedder, "use snake_case for python names")
    store(engine, embedder, "use snakeXcase for nothing")
    store(engine, embedder, "100% of the tests pass")
    hits = engine.read(lambda snap: snap.exact_search("SNAKE_CASE", Filters(), 10))
    assert [h.memory.content for h in hits] == ["use snake_case for python names"]
    assert [
        h.memory.content for h in engine.read(lambda s: s.exact_search("%", Filters(), 10))
    ] == ["100% of the tests pass"]


def test_hybrid_finds_a_keyword_only_match(engine, embedder):
    seed(engine, embedder, n=30)
    item = store(engine, embedder, "The flux capacitor needs 1.21 gigawatts", ["physics"])
    engine.follow()
    q = embedder.encode(["gigawatts"])[0]
    hits = engine.read(lambda snap: snap.hybrid_search("gigawatts", q, Filters(), 5))
    assert hits[0].memory.content_hash == item.content_hash


def test_recent_and_pages_are_newest_first(engine, embedder):
    for i in range(5):
        store(engine, embedder, f"note number {i}")
        time.sleep(0.002)
    hits = engine.read(lambda snap: snap.recent(Filters(), 3))
    assert [h.memory.content for h in hits] == ["note number 4", "note number 3", "note number 2"]
    assert all(h.score == 0.5 for h in hits)
    page, total = engine.read(lambda snap: snap.list_page(Filters(), page=2, page_size=2))
    assert total == 5
    assert [r.content for r in page] == ["note number 2", "note number 1"]
    empty, _ = engine.read(lambda snap: snap.list_page(Filters(), page=10**12, page_size=2))
    assert empty == []


def test_agent_scope_matches_metadata_or_tag_before_the_cut(engine, embedder):
    for i in range(40):  # other agents' memories, all closer to the query than agent a's
        store(engine, embedder, f"deploy checklist item {i}", metadata={"agent_id": "b"})
    store(engine, embedder, "deploy checklist by tag", ["agent:a"])
    store(engine, embedder, "agent a lookalike", ["agent:ab"], metadata={"agent_id": "ab"})
    store(engine, embedder, "notes of a", metadata={"agent_id": "a"})
    engine.follow()
    scoped = Filters(agent_id="a")
    q = embedder.encode(["deploy checklist"])[0]
    hits = engine.read(lambda snap: snap.semantic_search(q, scoped, 1))
    assert [h.memory.content for h in hits] == ["deploy checklist by tag"]
    hits = engine.read(lambda snap: snap.semantic_search(q, scoped, 10))
    assert sorted(h.memory.content for h in hits) == ["deploy checklist by tag", "notes of a"]
    _, total = engine.read(lambda snap: snap.list_page(scoped, page=1, page_size=10))
    assert total == 2
    found = engine.read(lambda snap: snap.exact_search("checklist", scoped, 10))
    assert [h.memory.tags for h in found] == [["agent:a"]]
    _, others = engine.read(lambda snap: snap.list_page(Filters(agent_id="b"), page=1, page_size=1))
    assert others == 40
    _, none = engine.read(lambda snap: snap.list_page(Filters(agent_id="a_"), page=1, page_size=1))
    assert none == 0


def test_a_read_past_its_deadline_is_stopped(engine, embedder):
    seed(engine, embedder, n=200)

    def slow(snap):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # engines check the deadline inside their queries
            snap.list_page(Filters(), page=1, page_size=100)
        return "not stopped"

    with pytest.raises((ReadTimeout, QueryTimeout)):
        engine.read(slow, timeout=0.05)
    assert engine.read(lambda snap: snap.counts()) == (200, 0)  # the session still reads


# -- the change feed ----------------------------------------------------------------------------


def test_the_feed_lists_every_change_once_in_commit_order_with_its_client(engine, embedder):
    a = store(engine, embedder, "first", ["one"], client="claude-code")
    b = store(engine, embedder, "second", ["two"], client="cursor")
    engine.write(
        lambda txn: txn.update(
            a.content_hash, tags=["uno"], memory_type=None, metadata=None, preserve_timestamps=True
        ),
        client="web-ui",
    )
    engine.write(lambda txn: txn.delete_matching(Filters(), b.content_hash), client="cli")
    changes = engine.follow()
    assert [(c.kind, c.content_hash, c.client) for c in changes] == [
        ("stored", a.content_hash, "claude-code"),
        ("stored", b.content_hash, "cursor"),
        ("updated", a.content_hash, "web-ui"),
        ("deleted", b.content_hash, "cli"),
    ]
    assert all(c.origin == "test-box" for c in changes)
    assert changes[2].before == Facets(("one",), "note", a.created_at)
    assert changes[2].memory is not None
    assert changes[2].memory.tags == ["uno"]
    assert changes[3].before == Facets(("two",), "note", b.created_at)
    assert engine.follow() == []  # nothing twice
    mirror = engine.storage.mirror
    assert mirror is None or len(mirror) == 1  # the first memory; the second was deleted


def test_counts_at_a_feed_cursor_plus_the_changes_after_it_are_the_counts_now(engine, embedder):
    store(engine, embedder, "tagged a", ["alpha", "beta"])
    doomed = store(engine, embedder, "tagged b", ["beta"])
    by_store, at = _totals(engine)
    store(engine, embedder, "tagged c", ["alpha"], memory_type="decision")
    engine.write(lambda txn: txn.delete_matching(Filters(), doomed.content_hash))
    batch = engine.storage.changes_since(at)
    totals = by_store["default"]
    for change in batch.changes:
        if change.before is not None:
            totals.count(change.before, -1)
        if change.after is not None:
            totals.count(change.after, 1)
    fresh = _totals(engine)[0]["default"]
    assert totals.ranked_tags(10) == fresh.ranked_tags(10) == [("alpha", 2), ("beta", 1)]
    assert totals.ranked_types() == fresh.ranked_types() == [("decision", 1), ("note", 1)]
    assert totals.memories == fresh.memories == 2


def _totals(engine: Engine):
    while (found := engine.read(lambda snap: snap.aggregate_totals())) is None:
        pass
    return found


def test_the_engine_describes_itself(engine, embedder):
    store(engine, embedder, "something to measure")
    stats = engine.storage.describe()
    assert stats.engine in ("sqlite", "postgresql")
    assert stats.engine_version
    assert stats.extension_version
    assert stats.store_bytes > 0
    assert "password" not in stats.location


# -- named stores (mcp-memory-service 12.x) ---------------------------------------------------


def test_named_stores_partition_reads_and_writes_before_the_cut(engine, embedder):
    for i in range(30):  # the default store's rows all rank above the one in 'home'
        store(engine, embedder, f"deploy checklist step {i}")
    home = store(engine, embedder, "the home router password lives in the safe", store="home")
    assert home.store == "home"
    engine.follow()
    q = embedder.encode(["deploy checklist"])[0]
    in_home = engine.read(lambda snap: snap.semantic_search(q, Filters(store="home"), 5))
    assert [h.memory.content_hash for h in in_home] == [home.content_hash]
    default = engine.read(lambda snap: snap.semantic_search(q, Filters(), 40))
    assert home.content_hash not in {h.memory.content_hash for h in default}
    everywhere = engine.read(lambda snap: snap.semantic_search(q, Filters(store=None), 40))
    assert home.content_hash in {h.memory.content_hash for h in everywhere}
    _, total = engine.read(lambda snap: snap.list_page(Filters(store="home"), page=1, page_size=9))
    assert total == 1
    _, every = engine.read(lambda snap: snap.list_page(Filters(store=None), page=1, page_size=9))
    assert every == 31
    assert engine.read(lambda snap: snap.counts()) == (31, 0)  # health counts every store


def test_a_hash_is_unique_across_stores_and_deletes_and_updates_respect_the_store(engine, embedder):
    home = store(engine, embedder, "Kept in the home store", store="home")
    with pytest.raises(Duplicate, match="already exists in store 'home'"):
        store(engine, embedder, "kept in the home store")  # the same hash, the default store
    assert engine.write(lambda txn: txn.delete_matching(Filters(), home.content_hash)) == []
    with pytest.raises(NotFound, match="requested store"):
        engine.write(
            lambda txn: txn.update(
                home.content_hash,
                tags=["x"],
                memory_type=None,
                metadata=None,
                preserve_timestamps=True,
                store="default",
            )
        )
    everywhere = Filters(store=None)
    gone = engine.write(lambda txn: txn.delete_matching(everywhere, home.content_hash))
    assert gone == [home.content_hash]
    changes = engine.follow()
    assert [(c.kind, c.store) for c in changes] == [("stored", "home"), ("deleted", "home")]


def test_counts_are_kept_per_store(engine, embedder):
    store(engine, embedder, "one at home", ["a"], store="home")
    store(engine, embedder, "one at work", ["a", "b"], store="work")
    store(engine, embedder, "one in the default store", ["b"])
    by_store, _ = _totals(engine)
    assert {name: t.memories for name, t in by_store.items()} == {
        "home": 1,
        "work": 1,
        "default": 1,
    }
    assert by_store["work"].ranked_tags(5) == [("a", 1), ("b", 1)]


def test_a_rare_filter_is_answered_exactly_beside_the_vectors(engine, embedder):
    rng = np.random.default_rng(11)
    items = [
        make_item(
            embedder,
            f"note {i} about {rng.integers(10**6)}",
            ["rare"] if i % 97 == 0 else [f"common{i % 3}"],
            skip_semantic=True,
            store="home" if i % 89 == 0 else "default",
        )
        for i in range(600)
    ]
    engine.batch([storing(item) for item in items])
    engine.follow()
    mirror = engine.storage.mirror
    assert mirror is not None
    assert mirror.facets.ready
    for filters in (
        Filters(tags=["rare"]),
        Filters(tags=["RARE", "nothing"]),
        Filters(store="home"),
    ):
        q = random_unit(rng)
        hits = engine.read(lambda snap, q=q, f=filters: snap.semantic_search(q, f, 5))
        expected = [
            item
            for item in items
            if (not filters.tags or "rare" in item.tags) and (filters.store in (None, item.store))
        ]
        expected.sort(key=lambda item: -float(item.vector @ q))
        assert [h.memory.content_hash for h in hits] == [i.content_hash for i in expected[:5]]
