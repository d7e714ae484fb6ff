"""A SQLite memory file (mcp-memory-service 10.x or 12.x, or memhub's) as a migration's end.

Reading needs nothing of anyone: one read transaction of a read-only connection is one
snapshot, whoever writes the file meanwhile. Writing takes the file's daemon lock first (the
lock ``memhub serve`` holds for its whole life, and the file-identity lock behind hard links):
while a daemon serves the file the migration refuses to start, and while the migration runs no
daemon can start on it. Each chunk is one ``BEGIN IMMEDIATE … COMMIT``, so a legacy
mcp-memory-service writing the same file waits (busy_timeout) instead of failing.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import apsw

from memhub.config import DEFAULT_PRAGMAS, runtime_paths
from memhub.discovery.files import DaemonLock
from memhub.discovery.identity import FileClaim, FileIdentity, claim_file
from memhub.errors import StartupError
from memhub.migration import edges
from memhub.migration.edges import EdgeRow
from memhub.migration.rows import COLUMNS, DEFAULTS, Row, SideSummary, make_row, vector_bytes
from memhub.migration.sides import MigrateError, ModelInfo
from memhub.storage.sqlite import schema as schema_mod
from memhub.storage.sqlite.vectors import blob_to_vector
from memhub.storage.sqlite.writes import record_embedder


def _rows(conn: apsw.Connection, columns: list[str], dimension: int) -> Iterator[Row]:
    """Every row of ``memories`` with its vector, in id order."""
    selected = ", ".join(f"m.{c}" for c in columns)
    cursor = conn.execute(
        f"SELECT {selected}, e.content_embedding FROM memories m "
        "LEFT JOIN memory_embeddings e ON e.rowid = m.id ORDER BY m.id"
    )
    for values in cursor:
        found = dict(zip(columns, values, strict=False))
        blob = values[-1]
        vector = blob_to_vector(blob, dimension) if blob is not None else None
        broken = None
        if blob is not None and vector is None:
            broken = f"its stored vector is not {dimension} float32 values"
        yield make_row(found, vector, broken)


def _columns(conn: apsw.Connection) -> list[str]:
    present = {str(r[1]) for r in conn.execute("PRAGMA table_info(memories)")}
    return [c for c in COLUMNS if c in present]


class SqliteSource:
    def __init__(self, path: Path) -> None:
        self.location = str(path)
        if not path.is_file():
            raise MigrateError(f"{path}: no such file")
        try:
            schema_mod.refuse_foreign_database(path)
            self._conn = schema_mod.connect(path, readonly=True, pragmas={"busy_timeout": "10000"})
            found = schema_mod.inspect(self._conn, path)
        except StartupError as exc:
            raise MigrateError(str(exc)) from None
        if found is None:
            raise MigrateError(f"{path}: the file holds no memories table")
        self._schema = found
        self._columns = _columns(self._conn)
        self.model = ModelInfo(found.embedder, found.dimension)
        self._conn.execute("BEGIN")  # one snapshot for the count and every chunk
        (count,) = self._conn.execute("SELECT count(*) FROM memories").fetchall()[0]
        self._count = int(str(count))

    def count(self) -> int:
        return self._count

    def chunks(self, size: int) -> Iterator[list[Row]]:
        chunk: list[Row] = []
        for row in _rows(self._conn, self._columns, self._schema.dimension):
            chunk.append(row)
            if len(chunk) == size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def edges(self) -> Iterator[EdgeRow]:
        return edges.sqlite_edges(self._conn)

    def close(self) -> None:
        with contextlib.suppress(apsw.Error):
            self._conn.execute("COMMIT")
        self._conn.close()


class SqliteDestination:
    def __init__(self, path: Path, *, layout: schema_mod.Generation) -> None:
        self.location = str(path)
        self._path = path
        self._layout = layout
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            schema_mod.refuse_foreign_database(path)
        except StartupError as exc:
            raise MigrateError(str(exc)) from None
        self._lock = DaemonLock(runtime_paths(path).lock)
        if not self._lock.acquire():
            raise MigrateError(
                f"a memhub daemon serves {path}; stop it first (`memhub stop --db {path}`): "
                "a migration into a SQLite file must be its only memhub writer"
            )
        self._claim: FileClaim | None = None
        try:
            os.close(os.open(path, os.O_RDONLY | os.O_CREAT, 0o600))
            identity = FileIdentity.of(path)
            claim = claim_file(path, identity) if identity else None
            if isinstance(claim, Path):
                raise MigrateError(
                    f"{path} is the same file as {claim}, which a memhub daemon serves; stop it "
                    f"first (`memhub stop --db {claim}`)"
                )
            self._claim = claim
            self._conn = schema_mod.connect(
                path, readonly=False, pragmas=dict(DEFAULT_PRAGMAS), create=True
            )
            self._schema = schema_mod.inspect(self._conn, path)
        except StartupError as exc:
            self._release()
            raise MigrateError(str(exc)) from None
        except BaseException:
            self._release()
            raise
        self._columns = _columns(self._conn) if self._schema else []

    @property
    def model(self) -> ModelInfo:
        if self._schema is None:
            return ModelInfo(None, None)
        return ModelInfo(self._schema.embedder, self._schema.dimension)

    def prepare(self, model: ModelInfo) -> None:
        assert model.dimension is not None
        if self._schema is None:
            self._schema = schema_mod.create(
                self._conn, self._path, dimension=model.dimension, generation=self._layout
            )
            self._columns = _columns(self._conn)
        empty = not self._conn.execute("SELECT 1 FROM memories LIMIT 1").fetchall()
        if model.name is not None and self._schema.embedder is None and empty:
            with self._conn:
                record_embedder(self._conn, model.name)

    def problem(self, row: Row) -> str | None:
        """Why this file cannot hold ``row`` as it is (a 10.x file has no ``store``)."""
        for column in ("store", "embedding_pending"):
            value = row.get(column)
            if column not in self._columns and value not in (None, DEFAULTS[column]):
                return f"{column} is {value!r}, and this file's layout has no {column} column"
        return None

    def write(self, rows: Sequence[Row]) -> tuple[int, int]:
        conn, schema = self._conn, self._schema
        assert schema is not None
        marks = ", ".join("?" * len(rows))
        conn.execute("BEGIN IMMEDIATE")
        try:
            existing = {
                str(h)
                for (h,) in conn.execute(
                    f"SELECT content_hash FROM memories WHERE content_hash IN ({marks})",
                    [row.content_hash for row in rows],
                )
            }
            names = ", ".join(self._columns)
            slots = ", ".join("?" * len(self._columns))
            copied = 0
            for row in rows:
                if row.content_hash in existing:
                    continue
                values = [self._value(row, c) for c in self._columns]
                conn.execute(f"INSERT INTO memories ({names}) VALUES ({slots})", values)
                rowid = conn.last_insert_rowid()
                copied += 1
                blob = vector_bytes(row.vector)
                if blob is None:
                    continue
                conn.execute("DELETE FROM memory_embeddings WHERE rowid = ?", (rowid,))
                if schema.vec_partitioned:
                    conn.execute(
                        "INSERT INTO memory_embeddings (rowid, content_embedding, store) "
                        "VALUES (?, ?, ?)",
                        (rowid, blob, row.get("store") or DEFAULTS["store"]),
                    )
                else:
                    conn.execute(
                        "INSERT INTO memory_embeddings (rowid, content_embedding) VALUES (?, ?)",
                        (rowid, blob),
                    )
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(apsw.Error):
                conn.execute("ROLLBACK")
            raise
        return copied, len(existing)

    def finish(self) -> None:
        pass  # SQLite plans without statistics unless asked to keep them

    @property
    def has_graph(self) -> bool:
        return edges.sqlite_has_graph(self._conn)

    def write_edges(self, rows: Sequence[EdgeRow]) -> int:
        return edges.sqlite_put_edges(self._conn, rows)

    def edges_held(self, keys: set[tuple[str, str]]) -> int:
        return edges.sqlite_held(self._conn, keys)

    @staticmethod
    def _value(row: Row, column: str) -> Any:
        value = row.get(column)
        return DEFAULTS[column] if value is None and column in DEFAULTS else value

    def _held(self) -> Iterator[Row]:
        assert self._schema is not None
        self._conn.execute("BEGIN")
        try:
            yield from _rows(self._conn, self._columns, self._schema.dimension)
        finally:
            self._conn.execute("COMMIT")

    def summarize(self, hashes: set[str], *, with_vector: bool) -> SideSummary:
        summary = SideSummary()
        for row in self._held():
            if row.content_hash in hashes:
                summary.add(row, with_vector=with_vector)
        return summary

    def extra_rows(self, hashes: set[str]) -> int:
        return sum(1 for row in self._held() if row.content_hash not in hashes)

    def _release(self) -> None:
        if self._claim is not None:
            self._claim.release()
            self._claim = None
        self._lock.release()

    def close(self) -> None:
        self._conn.close()
        self._release()
