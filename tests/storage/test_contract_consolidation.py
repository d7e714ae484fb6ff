"""The storage contract of 12.4's consolidation reads, on both engines."""

from __future__ import annotations

import math
import time

import numpy as np

from memhub.storage.engine import WriteTxn
from memhub.storage.model import Filters
from memhub.storage.relations import Edge

from .engines import Engine
from .test_contract import store

EVERYTHING = 1e12


def edge(a: str, b: str, kind: str = "related") -> Edge:
    return Edge(source=a, target=b, similarity=0.5, connection_types=["x"], metadata={},
                relationship_type=kind, created_at=1.0)  # fmt: skip


def test_the_batch_is_the_least_recently_consolidated_of_the_window(engine: Engine, embedder):
    hashes = [store(engine, embedder, f"memory number {i} of the batch").content_hash
              for i in range(5)]  # fmt: skip
    a, b, c, d, e = hashes
    now = time.time()
    stamps: dict[str, object] = {a: now + 300, b: now + 100, c: "not a number"}
    for h, stamp in stamps.items():
        keys = {"last_consolidated_at": stamp}

        def stamped(txn: WriteTxn, h: str = h, keys: dict[str, object] = keys) -> object:
            return txn.update(h, tags=None, memory_type=None, metadata=keys,
                              preserve_timestamps=True)  # fmt: skip

        engine.write(stamped)
    engine.write(lambda txn: txn.resolve_conflict(e, d))  # d superseded: still in the batch
    gone = store(engine, embedder, "deleted before the run").content_hash
    engine.write(lambda txn: txn.delete_matching(Filters(), gone))
    batch = engine.read(lambda snap: snap.consolidation_batch(0.0, EVERYTHING, 10))
    # never consolidated (or a stamp that is not a number) by creation, then by the stamp
    assert [x.record.content_hash for x in batch] == [c, d, e, b, a]
    accessed = {x.record.content_hash: x.last_accessed for x in batch}
    assert accessed[e] is not None  # resolving a conflict touches the winner (12.4)
    assert all(accessed[h] is None for h in (a, b, c, d))
    for x in batch:
        assert x.vector is not None
        assert math.isclose(float(np.linalg.norm(x.vector)), 1.0, rel_tol=1e-5)
    two = engine.read(lambda snap: snap.consolidation_batch(0.0, EVERYTHING, 2))
    assert [x.record.content_hash for x in two] == [c, d]
    later = time.time() + 3600
    assert engine.read(lambda snap: snap.consolidation_batch(later, later + 1, 10)) == []


def test_neighbours_are_distinct_live_memories_without_entities(engine: Engine, embedder):
    a, b, c, gone = (store(engine, embedder, f"graph node {n}").content_hash
                     for n in ("a", "b", "c", "gone"))  # fmt: skip
    edges = [edge(a, b), edge(b, a), edge(c, a, "causes"), edge(a, gone),
             edge(a, "entity", "has_entity")]  # fmt: skip
    engine.write(lambda txn: txn.put_edges(edges, replace=True))
    engine.write(lambda txn: txn.delete_matching(Filters(), gone))
    counts = engine.read(lambda snap: snap.neighbour_counts([a, b, c, "unknown"]))
    assert counts == {a: 2, b: 1, c: 1}


def test_a_store_wide_hold_is_one_at_a_time(engine: Engine, engine_kind: str):
    first = engine.storage.try_hold("consolidation")
    assert first is not None
    second = engine.storage.try_hold("consolidation")
    if engine_kind == "postgresql":
        assert second is None  # another session: another daemon of the store
        other = engine.storage.try_hold("something else")
        assert other is not None
        other.release()
    else:
        assert second is not None  # one daemon per file: the daemon keeps its own slot
        second.release()
    first.release()
    again = engine.storage.try_hold("consolidation")
    assert again is not None
    again.release()
