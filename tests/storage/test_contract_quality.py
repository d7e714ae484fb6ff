"""The storage contract of 12.4's quality statistics (``memory_quality analyze``), every engine.

The numbers come from one SQL aggregation per engine; these tests pin them to 12.4's Python
rules (:mod:`memhub.storage.quality`) over a known set.
"""

from __future__ import annotations

import time

import pytest

from memhub.storage.model import Filters

from .builders import make_item
from .engines import Engine


def store(engine: Engine, embedder, content: str, store: str = "default", **metadata):
    item = make_item(embedder, content, skip_semantic=True, metadata=metadata, store=store)
    return engine.write(lambda txn: txn.store(item)).content_hash


def known_set(engine: Engine, embedder) -> dict[str, str]:
    hashes = {
        "best": store(engine, embedder, "best memory " + "x" * 80, quality_score=0.9,
                      quality_provider="onnx_local"),
        "good": store(engine, embedder, "good memory", quality_score=0.7),
        "plain": store(engine, embedder, "plain memory"),  # no score: 0.5, implicit
        "odd": store(engine, embedder, "odd memory", quality_score="high"),  # not a number
        "weak": store(engine, embedder, "weak memory", quality_score=0.25,
                      quality_provider="implicit_signals"),
        "zero": store(engine, embedder, "zero memory", quality_score=0, quality_provider=7),
    }  # fmt: skip
    store(engine, embedder, "elsewhere memory", store="other", quality_score=0.1)
    hashes["newest"] = store(engine, embedder, "newest memory", quality_score=0.95)
    return hashes


def test_analyze_numbers_of_a_known_set(engine, embedder):
    h = known_set(engine, embedder)
    got = engine.read(lambda snap: snap.quality_summary("default", 0.0, 1.0))
    assert got.store_total == 7
    assert (got.total, got.high, got.medium, got.low) == (7, 3, 2, 2)
    assert abs(got.score_sum - (0.9 + 0.7 + 0.5 + 0.5 + 0.25 + 0 + 0.95)) < 1e-9
    assert abs(got.average - 3.8 / 7) < 1e-9
    # providers in order of first appearance, newest memory first
    assert got.providers == [("implicit", 5), ("implicit_signals", 1), ("onnx_local", 1)]
    assert [r.score for r in got.top] == [0.95, 0.9, 0.7, 0.5, 0.5, 0.25, 0.0]
    # equal scores: newest first, in both lists
    assert [r.content_hash for r in got.top][3:5] == [h["odd"], h["plain"]]
    assert [r.content_hash for r in got.bottom] == [r.content_hash for r in got.top]
    best = next(r for r in got.top if r.content_hash == h["best"])
    assert best.content == ("best memory " + "x" * 80)[:61]


def test_analyze_range_store_and_deletions(engine, embedder):
    known_set(engine, embedder)
    newest = make_item(embedder, "newest memory")
    engine.write(lambda txn: txn.delete_matching(Filters(store=None), newest.content_hash))
    got = engine.read(lambda snap: snap.quality_summary("default", 0.5, 0.8))
    assert got.store_total == 6
    assert (got.total, got.high, got.medium, got.low) == (3, 1, 2, 0)
    assert got.providers == [("implicit", 3)]
    assert [r.score for r in got.top] == [0.7, 0.5, 0.5]
    other = engine.read(lambda snap: snap.quality_summary("other", 0.0, 1.0))
    assert (other.store_total, other.total, other.low) == (1, 1, 1)
    empty = engine.read(lambda snap: snap.quality_summary("default", 0.96, 1.0))
    assert (empty.store_total, empty.total, empty.top, empty.providers) == (6, 0, [], [])
    assert empty.average == 0.0
    nowhere = engine.read(lambda snap: snap.quality_summary("nothing", 0.0, 1.0))
    assert nowhere.store_total == 0


def test_more_than_ten_ranked(engine, embedder):
    for i in range(25):
        store(engine, embedder, f"memory number {i}", quality_score=i / 100)
    got = engine.read(lambda snap: snap.quality_summary("default", 0.0, 1.0))
    assert [r.score for r in got.top] == [i / 100 for i in range(24, 14, -1)]
    assert [r.score for r in got.bottom] == [i / 100 for i in range(9, -1, -1)]
    assert (got.total, got.low) == (25, 25)


def test_stale_count(engine, embedder):
    store(engine, embedder, "an old memory")
    store(engine, embedder, "elsewhere", store="other")
    now = time.time()
    assert engine.read(lambda snap: snap.stale_count("default", now + 60)) == 1
    assert engine.read(lambda snap: snap.stale_count("default", now - 3600)) == 0


def test_unreadable_metadata_counts_with_the_defaults(engine, embedder, engine_kind):
    """A 12.x file can hold metadata no JSON parser reads (another writer's): its memory counts
    with score 0.5 and provider ``implicit`` instead of failing the whole analysis."""
    if engine_kind != "sqlite":
        pytest.skip("team stores hold only the metadata memhub wrote")
    h = store(engine, embedder, "broken metadata", quality_score=0.9)
    store(engine, embedder, "array metadata")
    import apsw

    conn = apsw.Connection(str(engine.settings.db_path))
    conn.execute("UPDATE memories SET metadata = '{not json' WHERE content_hash = ?", (h,))
    conn.execute("UPDATE memories SET metadata = '[1, 2]' WHERE content_hash <> ?", (h,))
    conn.close()
    got = engine.read(lambda snap: snap.quality_summary("default", 0.0, 1.0))
    assert (got.store_total, got.total, got.medium) == (2, 2, 2)
    assert got.providers == [("implicit", 2)]


def test_score_buckets_of_every_store(engine, embedder):
    before = time.time()
    known_set(engine, embedder)
    gone = make_item(embedder, "good memory")
    engine.write(lambda txn: txn.delete_matching(Filters(store=None), gone.content_hash))
    after = time.time()
    got = engine.read(lambda snap: snap.score_buckets(before - 1, after + 1))
    assert sum(b.count for b in got) == 7  # the other store counts, the deleted one not
    assert abs(sum(b.score_sum for b in got) - (0.9 + 0.5 + 0.5 + 0.25 + 0 + 0.1 + 0.95)) < 1e-9
    assert max(b.best for b in got) == 0.95
    assert min(b.worst for b in got) == 0.0
    for b in got:
        assert b.start % 900 == 0
        assert b.start <= after < b.start + 900 or b.start <= before < b.start + 900
    assert engine.read(lambda snap: snap.score_buckets(after + 10, after + 20)) == []
