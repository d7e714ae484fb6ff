"""The storage contract of 12.x's memory graph and memory evolution, on every engine.

Edges, entity links, conflicts, resolutions and versioned updates: what one engine does, the
other must do too (``ENGINES`` in :mod:`tests.storage.engines`).
"""

from __future__ import annotations

import itertools

import pytest

from memhub.errors import BadRequest, Duplicate, NotFound
from memhub.graph import entities
from memhub.storage.model import Filters
from memhub.storage.relations import Edge, EntityProfile

from .builders import make_item
from .engines import Engine


def store(engine: Engine, embedder, content: str, tags=None, **fields):
    item = make_item(embedder, content, tags, skip_semantic=True, **fields)
    return engine.write(lambda txn: txn.store(item))


def edge(source: str, target: str, rel: str = "related", **meta) -> Edge:
    return Edge(
        source=source,
        target=target,
        similarity=0.5,
        connection_types=["semantic"],
        metadata=dict(meta),
        relationship_type=rel,
        created_at=1_700_000_000.0,
    )


def test_edges_are_keyed_by_the_directed_pair_and_replace_or_keep(engine, embedder):
    a = store(engine, embedder, "alpha memory").content_hash
    b = store(engine, embedder, "beta memory").content_hash
    assert engine.write(lambda txn: txn.put_edges([edge(a, b), edge(b, a)], replace=True)) == 2
    # a later write of another type replaces the pair's edge (12.x's INSERT OR REPLACE)...
    engine.write(
        lambda txn: txn.put_edges([edge(a, b, "contradicts", divergence=0.3)], replace=True)
    )
    # ...and an entity-style write keeps what is there (INSERT OR IGNORE)
    assert engine.write(lambda txn: txn.put_edges([edge(a, b, "causes")], replace=False)) == 0
    out = engine.read(lambda snap: snap.edges([a], direction="out", limit=10))
    assert [(e.source, e.target, e.relationship_type) for e in out] == [(a, b, "contradicts")]
    assert out[0].metadata == {"divergence": 0.3}
    assert out[0].connection_types == ["semantic"]
    both = engine.read(lambda snap: snap.edges([a], direction="both", limit=10))
    assert {(e.source, e.target) for e in both} == {(a, b), (b, a)}
    incoming = engine.read(
        lambda snap: snap.edges([a], direction="in", relationship="related", limit=10)
    )
    assert [(e.source, e.target) for e in incoming] == [(b, a)]


def test_an_edge_listing_says_when_it_was_cut(engine, embedder):
    hub = store(engine, embedder, "hub memory").content_hash
    spokes = [f"{i:064x}" for i in range(30)]
    engine.write(lambda txn: txn.put_edges([edge(hub, s) for s in spokes], replace=True))
    cut = engine.read(lambda snap: snap.edges([hub], direction="out", limit=10))
    assert len(cut) == 11  # one past the limit: the caller knows there were more
    assert [e.target for e in cut] == sorted(spokes)[:11]
    assert len(engine.read(lambda snap: snap.edges_of_type("related", 100))) == 30
    among = engine.read(lambda snap: snap.edges_among([hub, *spokes[:3]]))
    assert {e.target for e in among} == set(spokes[:3])


def test_edge_ends_are_the_edges_pairs_in_the_same_order_and_cut(engine, embedder):
    """What a walk reads: the (source, target) of each edge an edge listing gives, nothing else."""
    hub = store(engine, embedder, "hub of ends").content_hash
    spokes = [f"{i:064x}" for i in range(30)]
    back = [edge(s, hub, "causes") for s in spokes[:5]]
    engine.write(lambda txn: txn.put_edges([edge(hub, s) for s in spokes] + back, replace=True))

    def listed_both_ways(snap):
        found = []
        for direction, relationship, limit in itertools.product(
            ("out", "in", "both"), (None, "causes"), (3, 100)
        ):
            asked = {"direction": direction, "relationship": relationship, "limit": limit}
            full = [(e.source, e.target) for e in snap.edges([hub], **asked)]
            found.append((asked, full, snap.edge_ends([hub], **asked)))
        return found

    for asked, full, ends in engine.read(listed_both_ways):
        assert ends == full, asked
    assert len(engine.read(lambda snap: snap.edge_ends([hub], direction="out", limit=10))) == 11


def test_a_soft_delete_drops_every_edge_of_the_memory(engine, embedder):
    a = store(engine, embedder, "alpha memory").content_hash
    b = store(engine, embedder, "beta memory").content_hash
    engine.write(
        lambda txn: txn.put_edges(
            [edge(a, b), edge(b, a), edge(a, "python", "has_entity")], replace=True
        )
    )
    engine.write(lambda txn: txn.delete_matching(Filters(store=None), a))
    assert engine.read(lambda snap: snap.edges([a, b], direction="both", limit=10)) == []
    assert engine.write(lambda txn: txn.delete_edges([(b, a)])) == 0


def test_entities_are_has_entity_rows_counted_and_listed_newest_first(engine, embedder):
    a = store(engine, embedder, "alpha memory").content_hash
    b = store(engine, embedder, "beta memory").content_hash
    old = edge(a, "python", "has_entity")
    new = Edge(
        source=b, target="python", similarity=1.0, connection_types=["entity"],
        metadata={"entity_type": "tag"}, relationship_type="has_entity", created_at=1_800_000_000.0,
    )  # fmt: skip
    engine.write(lambda txn: txn.put_edges([old, new, edge(a, "db", "has_entity")], replace=False))
    counts = engine.read(lambda snap: snap.entity_counts(10))
    assert [(c.name, c.count) for c in counts] == [("python", 2), ("db", 1)]
    assert counts[0].last_activity == 1_800_000_000.0
    assert engine.read(lambda snap: snap.entity_memories("python", 10)) == [b, a]
    assert engine.read(lambda snap: snap.entity_memories("nothing", 10)) == []


def test_entity_profiles_count_rows_and_collect_their_types(engine, embedder):
    a = store(engine, embedder, "alpha memory").content_hash
    b = store(engine, embedder, "beta memory").content_hash
    links = [
        *entities.links(a, [entities.Entity("Python", "tag", "metadata")], now=100.0),
        *entities.links(b, [entities.Entity("Python", "person", "content")], now=300.0),
        *entities.links(b, [entities.Entity("python", "tag", "metadata")], now=200.0),
        edge(a, "legacy", "has_entity"),  # metadata without an entity_type
        edge(a, b, "related", entity_type="not an entity"),
    ]
    engine.write(lambda txn: txn.put_edges(links, replace=False))
    found = engine.read(lambda snap: snap.entity_profiles(["Python", "python", "legacy", b, "x"]))
    assert found == {
        "Python": EntityProfile(
            name="Python", count=2, last_activity=300.0, types=["person", "tag"]
        ),
        "python": EntityProfile(name="python", count=1, last_activity=200.0, types=["tag"]),
        "legacy": EntityProfile(name="legacy", count=1, last_activity=1_700_000_000.0, types=[]),
    }
    assert engine.read(lambda snap: snap.entity_profiles([])) == {}
    # what 12.4 reads back: its own row layout
    [row] = engine.read(
        lambda snap: snap.edges([a], direction="out", relationship="has_entity", limit=5)
    )[:1]
    assert (row.connection_types, row.metadata, row.similarity) == (
        ["entity"],
        {"entity_type": "tag"},
        1.0,
    )


def test_conflicts_list_live_current_pairs_once_and_resolve_supersedes(engine, embedder):
    a = store(engine, embedder, "The server port is 8000", ["ops", "conflict:unresolved"])
    b = store(engine, embedder, "The server port is 9000", ["conflict:unresolved"])
    pair = [
        edge(a.content_hash, b.content_hash, "contradicts", similarity=0.97, divergence=0.25),
        edge(b.content_hash, a.content_hash, "contradicts", similarity=0.97, divergence=0.25),
    ]
    engine.write(lambda txn: txn.put_edges(pair, replace=True))
    found = engine.read(lambda snap: snap.conflicts())
    assert len(found) == 1
    low, high = sorted([a.content_hash, b.content_hash])
    assert (found[0].hash_a, found[0].hash_b) == (low, high)
    assert found[0].edge_metadata["divergence"] == 0.25
    engine.follow()
    engine.write(lambda txn: txn.resolve_conflict(a.content_hash, b.content_hash))
    changes = engine.follow()
    assert {c.content_hash for c in changes} == {a.content_hash, b.content_hash}
    assert all(c.kind == "updated" for c in changes)
    assert engine.read(lambda snap: snap.conflicts()) == []
    winner = engine.read(lambda snap: snap.get(a.content_hash))
    assert winner.tags == ["ops"]
    loser = engine.read(lambda snap: snap.lineage(b.content_hash))
    assert loser.superseded_by == a.content_hash
    assert engine.read(lambda snap: snap.lineage(a.content_hash)).confidence == 1.0
    # the edges stay (12.x keeps them); the superseded loser drops out of default search
    assert len(engine.read(lambda snap: snap.edges_of_type("contradicts", 10))) == 2
    hits = engine.read(lambda snap: snap.recent(Filters(), 10))
    assert b.content_hash not in {h.memory.content_hash for h in hits}
    with pytest.raises(NotFound, match=r"^Winner memory 0+ not found or deleted$"):
        engine.write(lambda txn: txn.resolve_conflict("0" * 64, b.content_hash))
    with pytest.raises(NotFound, match=r"^Loser memory"):
        engine.write(lambda txn: txn.resolve_conflict(a.content_hash, "0" * 64))


def test_a_versioned_update_links_both_rows_in_one_transaction(engine, embedder):
    old = store(engine, embedder, "deploys run on tuesday", ["ops"], store="work",
                metadata={"agent_id": "a"})  # fmt: skip
    engine.follow()
    item = make_item(embedder, "deploys run on wednesday", ["ops"], metadata={"agent_id": "a"})
    new = engine.write(lambda txn: txn.supersede(old.content_hash, item, reason="moved"))
    assert new.store == "work"  # the old version's store, whatever the item said
    changes = engine.follow()
    assert [c.kind for c in changes] == ["stored", "updated"]
    assert changes[0].vector is not None
    lineage = engine.read(lambda snap: snap.lineage(new.content_hash))
    assert (lineage.parent_id, lineage.version) == (old.content_hash, 2)
    before = engine.read(lambda snap: snap.lineage(old.content_hash))
    assert before.superseded_by == new.content_hash
    meta = engine.read(lambda snap: snap.get(old.content_hash)).metadata
    assert meta["superseded_by"] == new.content_hash
    assert meta["evolution_reason"] == "moved"
    # the old row keeps its vector but leaves searches; the new one is found
    vec = embedder.encode(["deploys run on tuesday"])[0]
    hits = engine.read(lambda snap: snap.semantic_search(vec, Filters(store="work"), 5))
    assert [h.memory.content_hash for h in hits] == [new.content_hash]
    # a second versioning of the superseded row fails whole: nothing of it stays
    again = make_item(embedder, "deploys run on thursday")
    with pytest.raises(BadRequest, match="no longer current"):
        engine.write(lambda txn: txn.supersede(old.content_hash, again, reason=None))
    assert engine.read(lambda snap: snap.get(again.content_hash)) is None
    with pytest.raises(Duplicate, match="exact match"):
        engine.write(
            lambda txn: txn.supersede(
                new.content_hash, make_item(embedder, "Deploys run on Wednesday"), reason=None
            )
        )
    with pytest.raises(NotFound, match=r"^Memory 0+ not found$"):
        engine.write(lambda txn: txn.supersede("0" * 64, item, reason=None))


def test_get_inside_a_write_sees_the_write_before_it(engine, embedder):
    item = make_item(embedder, "read my own write", skip_semantic=True)

    def store_then_get(txn):
        txn.store(item)
        return txn.get(item.content_hash)

    assert engine.write(store_then_get).content == "read my own write"
    assert engine.write(lambda txn: txn.get("0" * 64)) is None
