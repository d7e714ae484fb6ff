"""The SQLite engine in the benchmark's own process: the reference the daemon is measured against.

A read-only connection, the vector mirror loaded the way the daemon loads it, and a snapshot to
search in: no actors, no sockets, no threads.
"""

from __future__ import annotations

from pathlib import Path

from memhub.storage.mirror import VectorIndex
from memhub.storage.sqlite import schema as schema_mod
from memhub.storage.sqlite.reading import SqliteSnapshot
from memhub.storage.sqlite.vectors import load_all


def readonly_snapshot(db: Path, *, two_pass: bool = True, mirror: bool = True) -> SqliteSnapshot:
    """A snapshot object over a read-only connection to ``db`` (callers BEGIN and COMMIT)."""
    conn = schema_mod.connect(db, readonly=True, pragmas={"busy_timeout": "5000"})
    schema = schema_mod.inspect(conn, db)
    assert schema is not None, f"{db} holds no memories"
    index = None
    if mirror:
        index = VectorIndex(schema.dimension, schema.metric, two_pass=two_pass)
        newest = conn.execute("SELECT COALESCE(MAX(id), 0) FROM memories").fetchall()[0][0]
        assert isinstance(newest, int)
        load_all(conn, index, newest)
        index.position = newest
    return SqliteSnapshot(conn, schema, index)
