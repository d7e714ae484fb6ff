"""``memory_graph`` rows (12.x's relations, the entity graph among them) on either end of a
migration: read in the source's snapshot, written after the memories, counted back.

A row is keyed by ``(source_hash, target_hash)`` (12.x's primary key): a second run copies
nothing twice, and an edge the destination already holds is left as it is.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Final

import apsw

EDGE_COLUMNS: Final = (
    "source_hash",
    "target_hash",
    "similarity",
    "connection_types",
    "metadata",
    "created_at",
    "relationship_type",
)
#: The relationship of a row written before 12.x added the column.
DEFAULT_RELATIONSHIP: Final = "related"
EdgeRow = tuple[Any, ...]  # in EDGE_COLUMNS order
CHUNK: Final = 5000


def sqlite_has_graph(conn: apsw.Connection) -> bool:
    found = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'memory_graph'"
    ).fetchall()
    return bool(found)


def sqlite_edges(conn: apsw.Connection) -> Iterator[EdgeRow]:
    """Every edge of the file, in key order (inside the caller's read transaction)."""
    if not sqlite_has_graph(conn):
        return
    present = {str(r[1]) for r in conn.execute("PRAGMA table_info(memory_graph)")}
    selected = ", ".join(c if c in present else f"'{DEFAULT_RELATIONSHIP}'" for c in EDGE_COLUMNS)
    yield from conn.execute(
        f"SELECT {selected} FROM memory_graph ORDER BY source_hash, target_hash"
    )


def sqlite_put_edges(conn: apsw.Connection, edges: Sequence[EdgeRow]) -> int:
    """Insert the edges not held yet, in one ``BEGIN IMMEDIATE`` transaction; how many."""
    names = ", ".join(EDGE_COLUMNS)
    slots = ", ".join("?" * len(EDGE_COLUMNS))
    before = conn.total_changes()
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(f"INSERT OR IGNORE INTO memory_graph ({names}) VALUES ({slots})", edges)
        conn.execute("COMMIT")
    except BaseException:
        if not conn.getautocommit():
            conn.execute("ROLLBACK")
        raise
    return conn.total_changes() - before


def sqlite_held(conn: apsw.Connection, keys: set[tuple[str, str]]) -> int:
    """How many of ``keys`` the file holds."""
    if not keys or not sqlite_has_graph(conn):
        return 0
    return sum(
        1
        for key in conn.execute("SELECT source_hash, target_hash FROM memory_graph")
        if (str(key[0]), str(key[1])) in keys
    )


def pg_edges(cur: Any, schema: str) -> Iterator[EdgeRow]:
    """Every edge of the store, in key order (inside the caller's snapshot)."""
    cur.execute(
        f"SELECT {', '.join(EDGE_COLUMNS)} FROM {schema}.memory_graph "
        "ORDER BY source_hash, target_hash"
    )
    while rows := cur.fetchmany(CHUNK):
        yield from (tuple(row) for row in rows)


def pg_put_edges(cur: Any, schema: str, edges: Sequence[EdgeRow]) -> int:
    """Insert the edges not held yet (the caller holds the store's lock); how many."""
    names = ", ".join(EDGE_COLUMNS)
    slots = ", ".join(["%s"] * len(EDGE_COLUMNS))
    cur.execute(f"SELECT count(*) FROM {schema}.memory_graph")
    before = int(cur.fetchone()[0])
    cur.executemany(
        f"INSERT INTO {schema}.memory_graph ({names}) VALUES ({slots}) "
        "ON CONFLICT (source_hash, target_hash) DO NOTHING",
        [_typed(edge) for edge in edges],
    )
    cur.execute(f"SELECT count(*) FROM {schema}.memory_graph")
    return int(cur.fetchone()[0]) - before


def pg_held(cur: Any, schema: str, keys: set[tuple[str, str]]) -> int:
    if not keys:
        return 0
    cur.execute(f"SELECT source_hash, target_hash FROM {schema}.memory_graph")
    return sum(1 for key in cur.fetchall() if (str(key[0]), str(key[1])) in keys)


def _typed(edge: EdgeRow) -> EdgeRow:
    """The row as the server's typed columns take it (a SQLite file may hold any type in any
    column, and NULL where 12.x's own code never writes one)."""
    source, target, similarity, kinds, metadata, created, relationship = (
        v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in edge
    )
    return (
        str(source),
        str(target),
        _number(similarity),
        "[]" if kinds is None else str(kinds),
        None if metadata is None else str(metadata),
        _number(created),
        DEFAULT_RELATIONSHIP if relationship is None else str(relationship),
    )


def _number(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
