"""The reads that page and list walk ``idx_created_at``, never mcp-memory-service's
``idx_deleted_at``.

Without ANALYZE statistics SQLite takes ``deleted_at IS NULL`` for a selective equality and
prefers that index: at a million memories it then reads every live row and sorts them all for
one page of ``memory_list`` (1.4 s instead of 0.1 ms, ``docs/benchmarks.md``). The statements
are the engine's own, captured as it runs them, and each one's plan is asked of SQLite.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import apsw
import pytest

from memhub.config import DEFAULT_PRAGMAS
from memhub.storage.model import Filters
from memhub.storage.sqlite import queries
from memhub.storage.sqlite import schema as schema_mod
from memhub.storage.sqlite.schema import Generation

FILTERS = [
    Filters(),
    Filters(tags=["work"]),
    Filters(memory_type="note"),
    Filters(after=1e9, before=2e9),
    Filters(store=None),
]


def _plans(conn: apsw.Connection, run: Callable[[], object]) -> list[tuple[str, str]]:
    statements: list[tuple[str, Any]] = []

    def trace(_cursor: apsw.Cursor, sql: str, bindings: Any) -> bool:
        if not sql.lstrip().upper().startswith("EXPLAIN"):
            statements.append((sql, bindings))
        return True

    conn.exec_trace = trace
    try:
        run()
    finally:
        conn.exec_trace = None
    assert statements
    return [
        (sql, " / ".join(str(r[3]) for r in conn.execute("EXPLAIN QUERY PLAN " + sql, bindings)))
        for sql, bindings in statements
    ]


@pytest.mark.parametrize("generation", ["v10", "v12"])
def test_lists_and_recent_reads_walk_the_time_index(tmp_path: Path, generation: Generation) -> None:
    path = tmp_path / "memories.db"
    conn = schema_mod.connect(path, readonly=False, pragmas=dict(DEFAULT_PRAGMAS), create=True)
    schema = schema_mod.create(conn, path, dimension=384, generation=generation)
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert "idx_deleted_at" in indexes  # the trap is there to be avoided
    for filters in FILTERS:
        if filters.store is None and not schema.has_store:
            continue
        listed = _plans(
            conn, functools.partial(queries.list_page, conn, schema, filters, page=2, page_size=10)
        )
        recent = _plans(conn, functools.partial(queries.recent, conn, schema, filters, 10))
        for sql, plan in [*listed, *recent]:
            # (a COUNT may scan the smallest index that covers it: that is the cheap way)
            assert "SEARCH m USING INDEX idx_deleted_at" not in plan, (sql, plan)
            assert "SEARCH m USING INDEX idx_memories_embedding_pending" not in plan, (sql, plan)
            if "ORDER BY" in sql:
                assert "TEMP B-TREE" not in plan, (sql, plan)
                assert "idx_created_at" in plan, (sql, plan)
    conn.close()


@pytest.mark.parametrize("generation", ["v10", "v12"])
def test_entity_reads_walk_the_graph_by_memory_or_entity(
    tmp_path: Path, generation: Generation
) -> None:
    """Without statistics SQLite prefers ``idx_graph_relationship`` (every ``has_entity`` row of
    the store) to the index of the one memory or entity asked about; the graph reads of
    ``memory_explore``/``memory_detail`` must not."""
    from memhub.storage.sqlite import graph

    path = tmp_path / "memories.db"
    conn = schema_mod.connect(path, readonly=False, pragmas=dict(DEFAULT_PRAGMAS), create=True)
    schema = schema_mod.create(conn, path, dimension=384, generation=generation)
    if not schema.has_graph:
        pytest.skip("no memory_graph in this generation")
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert "idx_graph_relationship" in indexes
    reads: list[Callable[[], object]] = [
        functools.partial(graph.entity_memories, conn, schema, "python", 20),
        functools.partial(graph.entity_profiles, conn, schema, ["python", "Python"]),
        functools.partial(
            graph.edges,
            conn,
            schema,
            ["a" * 64],
            direction="out",
            relationship="has_entity",
            limit=10,
        ),
    ]
    for read in reads:
        for sql, plan in _plans(conn, read):
            assert "idx_graph_relationship" not in plan, (sql, plan)
            assert "SCAN" not in plan, (sql, plan)
    conn.close()
