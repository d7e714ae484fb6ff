"""The storage engine on real SQLite files: schema, duplicates, deletes, search, legacy files."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import apsw
import numpy as np
import pytest

from memhub.errors import Duplicate, NotFound, StartupError
from memhub.storage import queries
from memhub.storage import schema as schema_mod
from memhub.storage import writes as db
from memhub.storage.queries import Filters
from memhub.storage.vectors import VectorIndex
from memhub.storage.writes import DedupPolicy

from .helpers import build_mms_v10_db, make_item, open_rw, random_unit, run_write


def test_create_v12_schema_matches_12x_layout(new_db):
    conn, schema = new_db
    assert schema.generation == "v12"
    assert schema.dimension == 384
    assert schema.metric == "cosine"
    assert schema.has_fts
    assert schema.has_store
    vec_sql = conn.execute(
        "SELECT sql FROM sqlite_master WHERE name='memory_embeddings'"
    ).fetchall()[0][0]
    assert "store TEXT partition key" in vec_sql
    meta = dict(conn.execute("SELECT key, value FROM metadata").fetchall())
    assert meta["schema_version"] == "19"
    assert meta["distance_metric"] == "cosine"
    assert meta["fts5_enabled"] == "true"
    versions = [r[0] for r in conn.execute("SELECT version FROM migration_registry ORDER BY 1")]
    assert versions == [8, 9, 10, 11, 12, 15, 16, 17, 18, 19]
    triggers = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'")}
    assert triggers == {"memories_fts_ai", "memories_fts_au", "memories_fts_ad"}


def test_create_v10_schema(tmp_path):
    path = tmp_path / "v10.db"
    conn = open_rw(path)
    schema = schema_mod.create(conn, path, dimension=384, generation="v10")
    assert schema.generation == "v10"
    assert not schema.has_store
    conn.close()


def test_opening_existing_database_writes_nothing(tmp_path):
    path = tmp_path / "mms.db"
    build_mms_v10_db(path, [("a memory about trio nurseries", "python", "note", 1e9, False)])
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    mtime = os.stat(path).st_mtime_ns
    conn = open_rw(path, create=False)
    schema = schema_mod.inspect(conn, path)
    assert schema is not None
    assert schema.generation == "v10"
    assert conn.total_changes() == 0
    conn.close()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert os.stat(path).st_mtime_ns == mtime


def test_reads_dimension_and_refuses_unknown_metric(tmp_path):
    path = tmp_path / "l1.db"
    conn = open_rw(path)
    conn.execute("CREATE TABLE memories (id INTEGER PRIMARY KEY, content_hash TEXT, content TEXT)")
    conn.execute(
        "CREATE VIRTUAL TABLE memory_embeddings USING vec0(content_embedding FLOAT[8] "
        "distance_metric=l1)"
    )
    with pytest.raises(StartupError, match=r"l1\.db.*distance_metric=l1"):
        schema_mod.inspect(conn, path)
    conn.close()


def test_not_a_database_is_one_clear_line(tmp_path):
    path = tmp_path / "notes.db"
    path.write_bytes(b"this is not sqlite at all, just some text\n" * 200)
    with pytest.raises(StartupError) as info:
        open_rw(path, create=False)
    message = str(info.value)
    assert str(path) in message
    assert "not an SQLite database" in message
    assert "\n" not in message


def test_exact_duplicate_and_tombstone_purge(new_db, embedder):
    conn, schema = new_db
    item = make_item(embedder, "Deploy uses blue-green rollout", ["ops"])
    record = run_write(conn, schema, lambda b: db.store(b, item))
    assert record.content_hash == item.content_hash
    again = make_item(embedder, "  deploy USES blue-green rollout ")  # same hash
    with pytest.raises(Duplicate, match=r"exact match"):
        run_write(conn, schema, lambda b: db.store(b, again))
    deleted = run_write(conn, schema, lambda b: db.soft_delete(b, [(1, item.content_hash)]))
    assert deleted == [item.content_hash]
    # vector gone, row kept as a tombstone
    assert conn.execute("SELECT COUNT(*) FROM memory_embeddings").fetchall()[0][0] == 0
    assert conn.execute("SELECT deleted_at IS NOT NULL FROM memories").fetchall()[0][0] == 1
    # re-storing purges the tombstone and inserts anew
    run_write(conn, schema, lambda b: db.store(b, again))
    rows = conn.execute("SELECT id, deleted_at FROM memories").fetchall()
    assert len(rows) == 1
    assert rows[0][1] is None
    assert conn.execute("SELECT COUNT(*) FROM memory_embeddings").fetchall()[0][0] == 1


def test_semantic_dedup_rejects_near_copy_within_window(new_db, embedder):
    conn, schema = new_db
    index = VectorIndex(384)
    first = make_item(embedder, "the staging database password rotates every monday morning")
    run_write(conn, schema, lambda b: db.store(b, first), index=index)
    near = make_item(embedder, "the staging database password rotates every monday morning!!")
    with pytest.raises(Duplicate, match=first.content_hash):
        run_write(conn, schema, lambda b: db.store(b, near), index=index)
    # a conversation_id / session skips semantic dedup (not exact dedup)
    skipping = make_item(
        embedder,
        "the staging database password rotates every monday morning!!",
        skip_semantic=True,
    )
    run_write(conn, schema, lambda b: db.store(b, skipping), index=index)
    # disabled policy stores anything non-identical
    other = make_item(embedder, "The staging database password rotates every Monday morning.")
    run_write(
        conn, schema, lambda b: db.store(b, other), index=index, dedup=DedupPolicy(enabled=False)
    )


def test_semantic_dedup_within_one_batch(new_db, embedder):
    conn, schema = new_db
    a = make_item(embedder, "kafka consumer lag alert fires at ten thousand messages")
    b = make_item(embedder, "kafka consumer lag alert fires at ten thousand messages.")
    batch = db.WriteBatch(conn=conn, schema=schema, index=VectorIndex(384), dedup=DedupPolicy())
    with conn:
        db.store(batch, a)
        with pytest.raises(Duplicate):
            db.store(batch, b)


def test_update_merges_metadata_and_moves_updated_at_only_for_tags(new_db, embedder):
    conn, schema = new_db
    item = make_item(embedder, "prefer ruff over flake8", ["python"])
    stored = run_write(conn, schema, lambda b: db.store(b, item))
    time.sleep(0.01)
    rec, fields = run_write(
        conn,
        schema,
        lambda b: db.update(
            b,
            item.content_hash,
            tags=None,
            memory_type=None,
            metadata={"k": 1},
            preserve_timestamps=True,
        ),
    )
    assert fields == ["metadata"]
    assert rec.updated_at == stored.updated_at
    rec, fields = run_write(
        conn,
        schema,
        lambda b: db.update(
            b,
            item.content_hash,
            tags=["lint"],
            memory_type=None,
            metadata={"j": 2},
            preserve_timestamps=True,
        ),
    )
    assert fields == ["tags", "metadata", "updated_at"]
    assert rec.metadata == {"k": 1, "j": 2}
    assert rec.tags == ["lint"]
    assert rec.updated_at > stored.updated_at
    assert rec.created_at == stored.created_at
    with pytest.raises(NotFound):
        run_write(
            conn,
            schema,
            lambda b: db.update(
                b, "0" * 64, tags=["x"], memory_type=None, metadata=None, preserve_timestamps=True
            ),
        )


def _seed(conn, schema, embedder, index, n=60):
    rng = np.random.default_rng(7)
    topics = ["python", "ops", "frontend"]
    for i in range(n):
        content = f"memory {i} about {topics[i % 3]} number {rng.integers(1_000_000)}"
        item = make_item(embedder, content, [topics[i % 3]], skip_semantic=True)
        run_write(conn, schema, lambda b, item=item: db.store(b, item), index=index)


def test_ram_index_and_vec0_return_the_same_hits(new_db, embedder):
    conn, schema = new_db
    index = VectorIndex(384)
    _seed(conn, schema, embedder, index)
    rng = np.random.default_rng(3)
    for filters in (Filters(), Filters(tags=["ops"]), Filters(tags=["ops", "python"])):
        for _ in range(5):
            q = random_unit(rng)
            with conn:
                ram = queries.semantic_search(conn, schema, index, q, filters, 7)
                vec0 = queries.semantic_search(conn, schema, None, q, filters, 7)
            assert [h.memory.content_hash for h in ram] == [h.memory.content_hash for h in vec0]
            for a, b in zip(ram, vec0, strict=True):
                assert a.score == pytest.approx(b.score, abs=1e-5)


def test_filters_apply_before_the_top_k_cut(new_db, embedder):
    conn, schema = new_db
    index = VectorIndex(384)
    _seed(conn, schema, embedder, index, n=90)
    q = embedder.encode(["memory about python"])[0]
    with conn:
        hits = queries.semantic_search(conn, schema, index, q, Filters(tags=["frontend"]), 10)
    assert len(hits) == 10
    assert all(h.memory.tags == ["frontend"] for h in hits)


def test_search_never_returns_rows_deleted_behind_the_index(new_db, embedder):
    conn, schema = new_db
    index = VectorIndex(384)
    _seed(conn, schema, embedder, index, n=20)
    # Another process soft-deletes everything; our mirror still holds the vectors.
    conn.execute("UPDATE memories SET deleted_at = 1")
    q = embedder.encode(["memory about python"])[0]
    with conn:
        assert queries.semantic_search(conn, schema, index, q, Filters(), 5) == []


def test_index_catches_up_rows_written_by_another_process(new_db, embedder, tmp_path):
    conn, schema = new_db
    index = VectorIndex(384)
    _seed(conn, schema, embedder, index, n=5)
    other = open_rw(Path(conn.filename), create=False)
    item = make_item(embedder, "written directly by a legacy server", ["legacy"])
    run_write(other, schema, lambda b: db.store(b, item))  # not through our index
    other.close()
    q = embedder.encode(["written directly by a legacy server"])[0]
    with conn:
        hits = queries.semantic_search(conn, schema, index, q, Filters(), 1)
    assert hits[0].memory.content_hash == item.content_hash
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)


def test_legacy_mms_database_opens_and_searches(tmp_path, embedder):
    path = tmp_path / "sqlite_vec.db"
    build_mms_v10_db(
        path,
        [
            ("Grafana dashboards live in the ops repo", "Ops, Monitoring", "note", 1.7e9, False),
            ("Use uv for python environments", "python,Tooling", "fact", 1.7e9 + 5, False),
            ("Old deprecated runbook", "ops", "note", 1.7e9 + 9, True),
        ],
    )
    conn = open_rw(path, create=False)
    schema = schema_mod.inspect(conn, path)
    assert schema is not None
    index = VectorIndex(schema.dimension)
    index.load_all(conn)
    q = embedder.encode(["where are the grafana dashboards"])[0]
    with conn:
        hits = queries.semantic_search(conn, schema, index, q, Filters(), 10)
        monitoring = queries.semantic_search(
            conn, schema, index, q, Filters(tags=["monitoring"]), 10
        )
        page, total = queries.list_page(
            conn, schema, Filters(tags=["tooling"]), page=1, page_size=10
        )
        exact = queries.exact_search(conn, schema, "RUNBOOK", Filters(), 10)
    assert hits[0].memory.content == "Grafana dashboards live in the ops repo"
    assert len(hits) == 2  # the tombstone never shows
    assert hits[0].memory.tags == ["Ops", "Monitoring"]
    assert [h.memory.content for h in monitoring] == ["Grafana dashboards live in the ops repo"]
    assert total == 1
    assert page[0].memory_type == "fact"
    assert exact == []
    conn.close()


def test_hybrid_finds_keyword_only_match(new_db, embedder):
    conn, schema = new_db
    index = VectorIndex(384)
    _seed(conn, schema, embedder, index, n=30)
    item = make_item(embedder, "The flux capacitor needs 1.21 gigawatts", ["physics"])
    run_write(conn, schema, lambda b: db.store(b, item), index=index)
    q = embedder.encode(["gigawatts"])[0]
    with conn:
        hits = queries.hybrid_search(conn, schema, index, "gigawatts", q, Filters(), 5)
    assert hits[0].memory.content_hash == item.content_hash


def test_cleanup_duplicates_finds_none_with_unique_hashes(new_db, embedder):
    conn, schema = new_db
    _seed(conn, schema, embedder, None, n=5)
    assert run_write(conn, schema, db.cleanup_duplicates) == []


def test_read_only_connection_refuses_writes(new_db):
    conn, _ = new_db
    ro = schema_mod.connect(Path(conn.filename), readonly=True, pragmas={"busy_timeout": "5000"})
    with pytest.raises(apsw.ReadOnlyError):
        ro.execute("DELETE FROM memories")
    ro.close()


def test_duplicate_rows_keep_the_oldest_and_the_preview_matches_the_cleanup():
    # Only files written by tools that dropped upstream's UNIQUE(content_hash) can hold these.
    from memhub.storage.schema import Schema

    conn = apsw.Connection(":memory:")
    conn.execute(
        "CREATE TABLE memories (id INTEGER PRIMARY KEY, content_hash TEXT, created_at REAL, "
        "deleted_at REAL)"
    )
    rows = [(1, "a", 1.0, None), (2, "a", 2.0, None), (3, "b", 1.0, None), (4, "a", 0.5, 9.0)]
    conn.executemany("INSERT INTO memories VALUES (?, ?, ?, ?)", rows)
    schema = Schema(
        generation="v10",
        dimension=8,
        metric="cosine",
        has_fts=False,
        memory_columns=frozenset({"id", "content_hash", "created_at", "deleted_at"}),
        has_graph=False,
        embedder=None,
    )
    assert queries.duplicate_rows(conn, schema) == [(2, "a")]
