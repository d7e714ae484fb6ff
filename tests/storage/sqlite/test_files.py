"""The SQLite engine on real files: the layouts it creates, files other programs wrote, and
other programs writing beside it."""

from __future__ import annotations

import hashlib
import os
import time

import apsw
import numpy as np
import pytest

from memhub.errors import BadRequest, StartupError
from memhub.storage.model import Filters
from memhub.storage.sqlite import schema as schema_mod
from memhub.storage.sqlite.queries import duplicate_rows

from ..builders import (
    build_mms_v10_db,
    insert_legacy_row,
    make_item,
    open_rw,
    random_unit,
    storing,
)
from ..engines import Engine, settings_for


def test_a_new_file_has_the_12x_layout(tmp_path, embedder):
    engine = Engine(settings_for("sqlite", tmp_path), embedder)
    engine.close()
    conn = open_rw(tmp_path / "memories.db", create=False)
    schema = schema_mod.inspect(conn, tmp_path / "memories.db")
    assert schema is not None
    assert (schema.generation, schema.dimension, schema.metric) == ("v12", 384, "cosine")
    assert schema.has_fts
    assert schema.has_store
    vec_sql = str(
        conn.execute("SELECT sql FROM sqlite_master WHERE name='memory_embeddings'").fetchall()[0][
            0
        ]
    )
    assert "store TEXT partition key" in vec_sql
    meta = {str(k): str(v) for k, v in conn.execute("SELECT key, value FROM metadata")}
    assert meta["schema_version"] == "19"
    assert meta["distance_metric"] == "cosine"
    assert meta["fts5_enabled"] == "true"
    versions = [r[0] for r in conn.execute("SELECT version FROM migration_registry ORDER BY 1")]
    assert versions == [8, 9, 10, 11, 12, 15, 16, 17, 18, 19]
    triggers = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'")}
    assert triggers == {"memories_fts_ai", "memories_fts_au", "memories_fts_ad"}
    conn.close()


def test_a_new_file_can_have_the_10x_layout(tmp_path, embedder):
    engine = Engine(settings_for("sqlite", tmp_path, new_schema="v10"), embedder)
    assert engine.storage.describe().schema == "v10"
    engine.close()


def test_opening_an_existing_file_writes_nothing(tmp_path):
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


def test_an_unknown_metric_is_refused(tmp_path):
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


def test_a_10x_file_opens_and_searches_in_place(tmp_path, embedder):
    path = tmp_path / "memories.db"
    build_mms_v10_db(
        path,
        [
            ("Grafana dashboards live in the ops repo", "Ops, Monitoring", "note", 1.7e9, False),
            ("Use uv for python environments", "python,Tooling", "fact", 1.7e9 + 5, False),
            ("Old deprecated runbook", "ops", "note", 1.7e9 + 9, True),
        ],
    )
    _vectors_are_the_hash_embedders(path)
    engine = Engine(settings_for("sqlite", tmp_path), embedder)
    q = embedder.encode(["where are the grafana dashboards"])[0]
    hits = engine.read(lambda snap: snap.semantic_search(q, Filters(), 10))
    assert hits[0].memory.content == "Grafana dashboards live in the ops repo"
    assert len(hits) == 2  # the tombstone never shows
    assert hits[0].memory.tags == ["Ops", "Monitoring"]
    monitoring = engine.read(lambda snap: snap.semantic_search(q, Filters(tags=["monitoring"]), 9))
    assert [h.memory.content for h in monitoring] == ["Grafana dashboards live in the ops repo"]
    page, total = engine.read(lambda s: s.list_page(Filters(tags=["tooling"]), page=1, page_size=9))
    assert total == 1
    assert page[0].memory_type == "fact"
    assert engine.read(lambda snap: snap.exact_search("RUNBOOK", Filters(), 10)) == []
    elsewhere = make_item(embedder, "a memory for another store", store="home")
    with pytest.raises(BadRequest, match=r"10\.x layout"):
        engine.write(lambda txn: txn.store(elsewhere))
    engine.close()


def _vectors_are_the_hash_embedders(path):
    # The builder's vectors come from the test embedder; say so, as memhub would have.
    conn = open_rw(path, create=False)
    conn.execute("INSERT INTO metadata (key, value) VALUES ('memhub_embedder', 'hash:v1')")
    conn.close()


def test_ram_mirror_and_sqlite_vec_return_the_same_hits(make_engine, embedder):
    ram, vec0 = make_engine(), make_engine(vector_index="vec0")
    rng = np.random.default_rng(7)
    items = [
        make_item(
            embedder, f"memory {i} number {rng.integers(10**6)}", [str(i % 3)], skip_semantic=True
        )
        for i in range(60)
    ]
    for engine in (ram, vec0):
        engine.batch([storing(item) for item in items])
        engine.follow()
    assert vec0.storage.mirror is None
    for filters in (Filters(), Filters(tags=["1"]), Filters(tags=["1", "2"])):
        for _ in range(5):
            q = random_unit(rng)
            a = ram.read(lambda snap, q=q, f=filters: snap.semantic_search(q, f, 7))
            b = vec0.read(lambda snap, q=q, f=filters: snap.semantic_search(q, f, 7))
            assert [h.memory.content for h in a] == [h.memory.content for h in b]
            assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-5)


def test_a_read_only_connection_refuses_writes(engine):
    ro = schema_mod.connect(
        engine.settings.db_path, readonly=True, pragmas={"busy_timeout": "5000"}
    )
    with pytest.raises(apsw.ReadOnlyError):
        ro.execute("DELETE FROM memories")
    ro.close()


def test_duplicate_rows_keep_the_oldest():
    # Only files written by tools that dropped upstream's UNIQUE(content_hash) can hold these.
    conn = apsw.Connection(":memory:")
    conn.execute(
        "CREATE TABLE memories (id INTEGER PRIMARY KEY, content_hash TEXT, created_at REAL, "
        "deleted_at REAL)"
    )
    rows = [(1, "a", 1.0, None), (2, "a", 2.0, None), (3, "b", 1.0, None), (4, "a", 0.5, 9.0)]
    conn.executemany("INSERT INTO memories VALUES (?, ?, ?, ?)", rows)
    schema = schema_mod.Schema(
        generation="v10",
        dimension=8,
        metric="cosine",
        has_fts=False,
        memory_columns=frozenset({"id", "content_hash", "created_at", "deleted_at"}),
        has_graph=False,
        embedder=None,
    )
    assert duplicate_rows(conn, schema) == [(2, "a")]


# -- other programs writing the same file ------------------------------------------------------


def test_rows_another_program_inserts_reach_the_feed_and_search_at_once(engine, embedder):
    engine.write(lambda txn: txn.store(make_item(embedder, "ours", skip_semantic=True)))
    engine.follow()
    other = open_rw(engine.settings.db_path, create=False)
    with other:
        insert_legacy_row(
            other,
            "written directly by a legacy server",
            "legacy",
            "note",
            time.time(),
            store="default",
        )
    other.close()
    q = embedder.encode(["written directly by a legacy server"])[0]
    hits = engine.read(lambda snap: snap.semantic_search(q, Filters(), 1))  # before any look
    assert hits[0].memory.content == "written directly by a legacy server"
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert engine.storage.writer.observe_others()
    changes = engine.follow()
    assert [(c.kind, c.content_hash, c.origin) for c in changes] == [
        ("stored", hits[0].memory.content_hash, "")
    ]
    assert changes[0].vector is not None
    assert not engine.storage.writer.observe_others()  # nothing new since


def test_another_program_deleting_rows_makes_the_feed_ask_for_a_recount(engine, embedder):
    engine.write(lambda txn: txn.store(make_item(embedder, "doomed", skip_semantic=True)))
    engine.follow()
    other = open_rw(engine.settings.db_path, create=False)
    with other:
        other.execute("UPDATE memories SET deleted_at = 1")
    other.close()
    assert engine.storage.writer.observe_others()
    batch = engine.storage.changes_since(engine.cursor)
    assert batch.resync
    assert batch.changes == []


def test_another_programs_commit_is_seen_before_our_next_batch(engine, embedder):
    other = open_rw(engine.settings.db_path, create=False)
    with other:
        insert_legacy_row(other, "theirs first", None, None, time.time(), store="default")
    other.close()
    engine.write(lambda txn: txn.store(make_item(embedder, "ours second", skip_semantic=True)))
    changes = engine.follow()
    assert [(c.memory.content if c.memory else None, c.origin) for c in changes] == [
        ("theirs first", ""),
        ("ours second", "test-box"),
    ]


@pytest.mark.parametrize("companion", ["-wal", "-shm"])
def test_a_deleted_or_replaced_wal_stops_writes(engine, embedder, companion):
    engine.write(lambda txn: txn.store(make_item(embedder, "before", skip_semantic=True)))
    assert engine.storage.writer.problem() is None
    path = engine.settings.db_path.with_name(engine.settings.db_path.name + companion)
    assert path.exists()
    path.unlink()
    problem = engine.storage.writer.problem()
    assert problem is not None
    assert companion in problem
    path.write_bytes(b"")  # a new file in its place is no better
    assert engine.storage.writer.problem() == problem  # once gone, always refused


def test_a_tag_another_program_edits_in_place_is_found_once_its_commit_is_seen(engine, embedder):
    items = [
        make_item(embedder, f"plain note {i}", ["plain"], skip_semantic=True) for i in range(50)
    ]
    engine.batch([storing(item) for item in items])
    engine.follow()
    other = open_rw(engine.settings.db_path, create=False)
    with other:
        other.execute(
            "UPDATE memories SET tags = 'plain,Hot Topic' WHERE content_hash = ?",
            (items[7].content_hash,),
        )
    other.close()
    assert engine.storage.writer.observe_others()
    engine.follow()  # the facet index is rebuilt: no feed itemises an edit in place
    q = embedder.encode(["plain note 3"])[0]
    hits = engine.read(lambda snap: snap.semantic_search(q, Filters(tags=["hottopic"]), 5))
    assert [h.memory.content_hash for h in hits] == [items[7].content_hash]
