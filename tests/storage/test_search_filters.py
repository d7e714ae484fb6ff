"""Filtered semantic search on a real SQLite file large enough for the two-pass search.

The filters are SQL (tags, type, time); their matching rowids go to the index as ``allowed``
before the cut, so a filtered search returns the top-k among the matching rows, never the
matching rows that happen to be in the unfiltered top-k.
"""

from __future__ import annotations

from collections.abc import Iterator

import apsw
import numpy as np
import pytest

from memhub.config import DEFAULT_PRAGMAS
from memhub.domain.hashing import content_hash
from memhub.storage.mirror import TWO_PASS_MIN_ROWS, VectorIndex
from memhub.storage.model import Filters
from memhub.storage.sqlite import queries
from memhub.storage.sqlite import schema as schema_mod
from memhub.storage.sqlite.vectors import load_all

from .vector_sets import clustered_set, queries_for

ROWS = TWO_PASS_MIN_ROWS * 2
TYPES = ("note", "fact", "decision")


@pytest.fixture(scope="module")
def big_db(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[apsw.Connection, schema_mod.Schema, np.ndarray]]:
    path = tmp_path_factory.mktemp("search") / "memories.db"
    conn = schema_mod.connect(path, readonly=False, pragmas=dict(DEFAULT_PRAGMAS), create=True)
    schema = schema_mod.create(conn, path, dimension=384, generation="v12")
    data = clustered_set(ROWS, 384, 21)
    with conn:
        for i, vec in enumerate(data):
            text = f"memory number {i}"
            conn.execute(
                "INSERT INTO memories (content_hash, content, tags, memory_type, metadata, "
                "created_at, updated_at, created_at_iso, updated_at_iso, store) "
                "VALUES (?, ?, ?, ?, '{}', ?, ?, 'x', 'x', 'default')",
                (content_hash(text), text, f"t{i % 10}", TYPES[i % 3], 1e9 + i, 1e9 + i),
            )
            conn.execute(
                "INSERT INTO memory_embeddings (rowid, content_embedding, store) "
                "VALUES (?, ?, 'default')",
                (conn.last_insert_rowid(), vec.astype("<f4").tobytes()),
            )
    yield conn, schema, data
    conn.close()


def loaded_index(conn: apsw.Connection) -> VectorIndex:
    index = VectorIndex(384)
    with conn:
        load_all(conn, index, up_to=ROWS)
    index.mark_loaded(ROWS)  # the mirror holds every row: no snapshot tail
    return index


def brute_force(data: np.ndarray, query: np.ndarray, keep: np.ndarray, k: int) -> list[str]:
    rows = np.flatnonzero(keep)
    sims = data[rows].astype(np.float64) @ query.astype(np.float64)
    return [f"memory number {rows[i]}" for i in np.argsort(-sims)[:k]]


def test_filtered_search_returns_the_top_k_among_matching_rows(big_db):
    conn, schema, data = big_db
    index = loaded_index(conn)
    row = np.arange(ROWS)
    cases = [
        (Filters(tags=["t3"]), row % 10 == 3),
        (Filters(memory_type="fact"), row % 3 == 1),
        (Filters(after=1e9 + ROWS * 0.7), row >= ROWS * 0.7),
        (
            Filters(tags=["t1", "t2"], before=1e9 + ROWS / 2),
            (row % 10 < 3) & (row % 10 > 0) & (row <= ROWS / 2),
        ),
        (Filters(), row >= 0),
        # Too selective for the nearest rows to hold ten matches: every matching id is listed.
        (Filters(tags=["t7"], after=1e9 + ROWS * 0.95), (row % 10 == 7) & (row >= ROWS * 0.95)),
        (Filters(after=1e9 + ROWS - 5), row >= ROWS - 5),  # fewer matches than the limit
    ]
    for filters, keep in cases:
        for query in queries_for("clustered", data, 5, seed=4):
            with conn:
                ram = queries.semantic_search(conn, schema, index, query, filters, 10)
                vec0 = queries.semantic_search(conn, schema, None, query, filters, 10)
            contents = [h.memory.content for h in ram]
            assert contents == brute_force(data, query, keep, 10)
            assert contents == [h.memory.content for h in vec0]
            for a, b in zip(ram, vec0, strict=True):
                assert a.score == pytest.approx(b.score, abs=1e-5)


def test_filtered_search_skips_rows_deleted_in_this_snapshot(big_db):
    conn, schema, data = big_db
    index = loaded_index(conn)
    query = queries_for("clustered", data, 1, seed=8)[0]
    keep = np.arange(ROWS) % 3 == 1
    facts = Filters(memory_type="fact")
    with conn:
        before = queries.semantic_search(conn, schema, index, query, facts, 10)
    gone = [h.memory.content for h in before[:4]]
    conn.execute("BEGIN")
    try:
        # Another writer's delete, seen by this snapshot but not by the index's mirror.
        conn.execute(
            f"UPDATE memories SET deleted_at = 1 WHERE content IN ({','.join('?' * len(gone))})",
            gone,
        )
        after = queries.semantic_search(conn, schema, index, query, facts, 10)
    finally:
        conn.execute("ROLLBACK")
    deleted_rows = {int(c.rsplit(" ", 1)[1]) for c in gone}
    keep[list(deleted_rows)] = False
    assert [h.memory.content for h in after] == brute_force(data, query, keep, 10)
    assert not set(gone) & {h.memory.content for h in after}
