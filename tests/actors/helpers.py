"""Builders of the actor tests: read sessions on plain SQLite files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import apsw

from memhub.storage.engine import Snapshot
from memhub.storage.sqlite.reading import SqliteReadSession, SqliteSnapshot
from memhub.storage.sqlite.schema import Schema, connect
from tests.storage.builders import open_rw

__all__ = ["conn_of", "open_rw", "plain_reader"]


def plain_reader(path: Path, pragmas: dict[str, str]) -> Callable[[], SqliteReadSession]:
    """Read sessions on any SQLite file (no memory schema needed), for reader-actor tests."""
    schema = Schema(
        generation="v12",
        dimension=8,
        metric="cosine",
        has_fts=False,
        memory_columns=frozenset(),
        has_graph=False,
        embedder=None,
    )
    return lambda: SqliteReadSession(connect(path, readonly=True, pragmas=pragmas), schema, None)


def conn_of(snapshot: Snapshot) -> apsw.Connection:
    """The SQLite connection behind a snapshot (tests run raw SQL on it)."""
    assert isinstance(snapshot, SqliteSnapshot)
    return snapshot.conn
