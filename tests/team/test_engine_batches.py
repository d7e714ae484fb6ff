"""The team engine's optimistic batches: no savepoints until a write fails after writing.

A write that fails after it changed something (a session whose second chunk is a duplicate, a
store found to be a semantic duplicate once inserted) makes the writer roll the batch back and
run it again with one savepoint per write: the failed write leaves nothing behind, the others
commit, and the feed holds only what committed. Writes handed over once the lock is held
(``more``) commit in the same transaction and are answered in order.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import outcome
import pytest

from memhub.domain.hashing import content_hash
from memhub.embedding import HashEmbedder
from memhub.errors import BadRequest, Duplicate
from memhub.storage.engine import WriteCall, WriteTxn
from memhub.storage.relations import Edge
from tests.pgserver import PgDatabase, PgServer
from tests.storage.builders import make_item
from tests.storage.engines import Engine, settings_for


@pytest.fixture
def engine(pg_server: PgServer, pg_db: PgDatabase, tmp_path: Path) -> Iterator[Engine]:
    url = pg_server.passwordless_url(dbname=pg_db.name)
    opened = Engine(settings_for("postgresql", tmp_path, url=url), HashEmbedder())
    yield opened
    opened.close()


def test_a_write_failing_after_it_wrote_leaves_nothing(engine: Engine) -> None:
    e = HashEmbedder()
    a = make_item(e, "the first memory of the batch", skip_semantic=True)
    b = make_item(e, "a chunk that must not survive its session", skip_semantic=True)
    again = make_item(e, "THE FIRST MEMORY OF THE BATCH", skip_semantic=True)
    c = make_item(e, "the last memory of the batch", skip_semantic=True)
    results = engine.batch(
        [
            lambda txn: txn.store(a),
            lambda txn: txn.store_session([b, again]),
            lambda txn: txn.store(c),
        ]
    )
    assert results[0].content_hash == a.content_hash
    assert isinstance(results[1], Duplicate)
    assert results[2].content_hash == c.content_hash
    assert engine.read(lambda snap: snap.get(b.content_hash)) is None
    assert [(ch.kind, ch.content_hash) for ch in engine.follow()] == [
        ("stored", a.content_hash),
        ("stored", c.content_hash),
    ]


def test_a_semantic_duplicate_is_undone_after_its_insert(engine: Engine) -> None:
    e = HashEmbedder()
    first = make_item(e, "deploys happen on tuesday mornings after the standup")
    near = make_item(e, "deploys happen on tuesday mornings after the standup!")
    other = make_item(e, "the coffee machine on floor three is broken again")
    results = engine.batch(
        [lambda txn: txn.store(first), lambda txn: txn.store(near), lambda txn: txn.store(other)]
    )
    assert isinstance(results[1], Duplicate)
    assert results[1].detail == {"content_hash": first.content_hash, "kind": "semantic"}
    assert engine.read(lambda snap: snap.get(near.content_hash)) is None
    assert [ch.content_hash for ch in engine.follow()] == [first.content_hash, other.content_hash]
    # an exact duplicate is still told apart from a semantic one
    again = make_item(e, first.content.upper())
    [exact] = engine.batch([lambda txn: txn.store(again)])
    assert isinstance(exact, Duplicate)
    assert exact.detail == {"content_hash": first.content_hash, "kind": "exact"}


def test_writes_handed_over_under_the_lock_commit_with_the_batch(engine: Engine) -> None:
    e = HashEmbedder()
    a = make_item(e, "queued before the batch began", skip_semantic=True)
    b = make_item(e, "queued while the batch waited for the lock", skip_semantic=True)
    handed: list[int] = []

    def more() -> list[WriteCall]:
        handed.append(1)
        return [WriteCall(lambda txn: txn.store(b), "late")]

    results = engine.storage.writer.run_batch([WriteCall(lambda txn: txn.store(a), "early")], more)
    assert handed == [1]
    assert [r.unwrap().content_hash for r in results if isinstance(r, outcome.Value)] == [
        a.content_hash,
        b.content_hash,
    ]
    changes = engine.follow()
    assert [(ch.content_hash, ch.client) for ch in changes] == [
        (a.content_hash, "early"),
        (b.content_hash, "late"),
    ]
    assert content_hash(b.content) == b.content_hash


def test_a_graph_write_then_a_failure_leaves_no_edge(engine: Engine) -> None:
    """Writes no module counted by hand (the graph's) still make the batch rerun with
    savepoints: the cursor counts every statement that changed a row."""
    e = HashEmbedder()
    a = make_item(e, "the source of an edge that must not survive", skip_semantic=True)
    b = make_item(e, "the target of an edge that must not survive", skip_semantic=True)
    c = make_item(e, "a write after the failed one commits", skip_semantic=True)
    engine.batch([lambda txn: txn.store(a), lambda txn: txn.store(b)])
    edge = Edge(
        source=a.content_hash,
        target=b.content_hash,
        similarity=0.9,
        connection_types=["semantic"],
        metadata={},
        relationship_type="related",
        created_at=1.0,
    )

    def edge_then_fail(txn: WriteTxn) -> object:
        assert txn.put_edges([edge], replace=False) == 1
        raise BadRequest("the call fails after its edge was written")

    results = engine.batch([edge_then_fail, lambda txn: txn.store(c)])
    assert isinstance(results[0], BadRequest)
    assert results[1].content_hash == c.content_hash
    assert engine.read(lambda snap: snap.edges([a.content_hash], direction="both", limit=10)) == []
