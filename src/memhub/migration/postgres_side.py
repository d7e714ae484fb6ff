"""A team store (PostgreSQL + pgvector) as a migration's end.

Reading is one ``REPEATABLE READ, READ ONLY`` transaction streamed through a server-side cursor:
one snapshot, whatever the daemons write meanwhile.

Writing goes by the store's own rules, so the daemons serving it on any machine may keep running:
each chunk is one transaction that takes the store's advisory lock (the lock every daemon's
writer takes, which gives one commit order), copies the rows the store does not hold yet
(``ON CONFLICT (content_hash) DO NOTHING``: a second run copies nothing twice), appends a
``stored`` change for each live row it copied, and sends the one NOTIFY. Every daemon of the
store then follows those changes into its vector mirror and live feed like any other write.
Rows arrive through a binary ``COPY`` into a temporary table (tens of thousands a second), not
one INSERT each.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

import numpy as np
import psycopg

from memhub.errors import StartupError
from memhub.migration import edges
from memhub.migration.edges import EdgeRow
from memhub.migration.rows import COLUMNS, DEFAULTS, REAL, Row, SideSummary, make_row
from memhub.migration.sides import MigrateError, ModelInfo
from memhub.storage.model import Change
from memhub.storage.postgres.opening import connect_or_explain, read_meta
from memhub.storage.postgres.privileges import missing_privileges, read_only_error
from memhub.storage.postgres.queries import row_to_record
from memhub.storage.postgres.target import PgTarget, resolve
from memhub.storage.postgres.vectors import register, vector_type
from memhub.storage.postgres.writer import CHANNEL_PREFIX
from memhub.storage.postgres.writes import append_changes

CLIENT: Final = "memhub migrate"
_TYPES: Final = {
    "version": ("integer", "int4"),
    "last_accessed": ("bigint", "int8"),
    "embedding_pending": ("integer", "int4"),
    **dict.fromkeys(REAL, ("double precision", "float8")),
}
_RECORD: Final = (
    "content_hash",
    "content",
    "tags",
    "memory_type",
    "metadata",
    "created_at",
    "updated_at",
    "created_at_iso",
    "updated_at_iso",
    "store",
)


def _open(url: str, environ: Mapping[str, str], **kwargs: Any) -> tuple[PgTarget, Any, Any]:
    """The store's target, a connection with pgvector registered, and its meta row."""
    try:
        target = resolve(url, environ)
        conn = connect_or_explain(target, **kwargs)
    except StartupError as exc:
        raise MigrateError(str(exc)) from None
    try:
        info = vector_type(conn)
        if info is None:
            raise MigrateError(
                f"{target.location}: the database has no pgvector extension; prepare it with "
                f"`memhub team init {target.url}`"
            )
        register(conn, info)
        meta = read_meta(conn, target)
        if not conn.autocommit:
            conn.rollback()
    except StartupError as exc:
        conn.close()
        raise MigrateError(str(exc)) from None
    except BaseException:
        conn.close()
        raise
    return target, conn, meta


def _columns(conn: Any, schema: str) -> list[str]:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = 'memories'",
        (schema,),
    ).fetchall()
    if not conn.autocommit:
        conn.rollback()
    present = {str(r[0]) for r in rows}
    return [c for c in COLUMNS if c in present]


def _stream(conn: Any, schema: str, columns: list[str], size: int) -> Iterator[list[Row]]:
    """Every row and its vector in id order, through a server-side cursor."""
    selected = ", ".join(columns)
    with conn.cursor(name="memhub_migrate", binary=True) as cur:
        cur.itersize = size
        cur.execute(f"SELECT {selected}, embedding FROM {schema}.memories ORDER BY id")
        while rows := cur.fetchmany(size):
            yield [
                make_row(dict(zip(columns, values, strict=False)), values[-1]) for values in rows
            ]


class PgSource:
    def __init__(self, url: str, environ: Mapping[str, str]) -> None:
        target, conn, meta = _open(url, environ)
        self.location = target.location
        self._target = target
        self._conn = conn
        self.model = ModelInfo(meta.get("embedder"), int(meta.get("dimension", "0")))
        self._columns = _columns(conn, target.schema)
        # One snapshot for the count and every row (psycopg opens the transaction).
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        row = conn.execute(f"SELECT count(*) FROM {target.schema}.memories").fetchone()
        self._count = int(row[0]) if row else 0

    def count(self) -> int:
        return self._count

    def chunks(self, size: int) -> Iterator[list[Row]]:
        return _stream(self._conn, self._target.schema, self._columns, size)

    def edges(self) -> Iterator[EdgeRow]:
        with self._conn.cursor() as cur:  # the same snapshot as the rows
            yield from edges.pg_edges(cur, self._target.schema)

    def close(self) -> None:
        self._conn.close()


class PgDestination:
    def __init__(self, url: str, environ: Mapping[str, str], *, machine: str) -> None:
        target, conn, meta = _open(url, environ, autocommit=True)
        self.location = target.location
        self._target = target
        self._conn = conn
        self._machine = machine
        self._model = ModelInfo(meta.get("embedder"), int(meta.get("dimension", "0")))
        try:
            missing = missing_privileges(conn, target.schema)
            if missing:
                raise MigrateError(str(read_only_error(target, missing)))
            self._columns = _columns(conn, target.schema)
            if "embedding_pending" not in self._columns:
                raise MigrateError(
                    f"{target.location} was prepared by an older memhub; run "
                    f"`memhub team init {target.url}` once more (it adds a column), then migrate"
                )
        except BaseException:
            conn.close()
            raise
        self._staged = False

    @property
    def model(self) -> ModelInfo:
        return self._model

    def prepare(self, model: ModelInfo) -> None:
        pass  # a team store is prepared by `memhub team init`, for its one model

    def problem(self, row: Row) -> str | None:
        return None  # every column of every layout has its place here

    def _stage(self, cur: Any) -> None:
        if self._staged:
            return
        columns = ", ".join(f"{c} {_TYPES.get(c, ('text', 'text'))[0]}" for c in COLUMNS)
        cur.execute(
            f"CREATE TEMP TABLE memhub_migrate_in (ord integer, {columns}, "
            f"embedding vector({int(self._model.dimension or 0)})) ON COMMIT DELETE ROWS"
        )
        self._staged = True

    def write(self, rows: Sequence[Row]) -> tuple[int, int]:
        schema = self._target.schema
        now = time.time()
        with self._conn.cursor(binary=True) as cur:
            self._stage(cur)
            cur.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
            try:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (self._target.lock_id,))
                types = ["int4", *(_TYPES.get(c, ("text", "text"))[1] for c in COLUMNS), "vector"]
                with cur.copy(
                    f"COPY memhub_migrate_in (ord, {', '.join(COLUMNS)}, embedding) "
                    "FROM STDIN (FORMAT BINARY)"
                ) as copy:
                    copy.set_types(types)
                    for ord_, row in enumerate(rows):
                        copy.write_row([ord_, *_values(row), _vector(row)])
                names = ", ".join(COLUMNS)
                chosen = ", ".join(
                    f"COALESCE({c}, {DEFAULTS[c]!r})" if c in DEFAULTS else c for c in COLUMNS
                )
                cur.execute(
                    f"INSERT INTO {schema}.memories ({names}, embedding) "
                    f"SELECT {chosen}, embedding FROM memhub_migrate_in ORDER BY ord "
                    "ON CONFLICT (content_hash) DO NOTHING RETURNING id, content_hash"
                )
                ids = {str(h): int(i) for i, h in cur.fetchall()}
                changes = [
                    _stored(row, ids[row.content_hash], self._machine)
                    for row in rows
                    if row.content_hash in ids and row.active
                ]
                if changes:
                    # seq in id order: the order the rows were copied in
                    changes.sort(key=lambda change: change.row)
                    cur.execute(f"SET LOCAL search_path TO {schema}, public")
                    append_changes(cur, changes, now)
                    cur.execute("SELECT pg_notify(%s, '')", (CHANNEL_PREFIX + schema,))
                cur.execute("COMMIT")
            except BaseException:
                if not self._conn.closed:
                    self._conn.rollback()
                raise
        return len(ids), len(rows) - len(ids)

    def finish(self) -> None:
        """Vacuum and analyze what was imported: a bulk import leaves the planner's statistics
        describing the store before it (a seq scan where a key lookup belongs), and every row
        unmarked as visible, so that the daemons' first reads of each page would write it."""
        schema = self._target.schema
        for table in ("memories", "changes", "memory_graph"):
            with contextlib.suppress(psycopg.Error):  # a writer that does not own the tables
                self._conn.execute(f"VACUUM (ANALYZE) {schema}.{table}")

    def _held(self) -> Iterator[Row]:
        conn = self._conn
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            for chunk in _stream(conn, self._target.schema, self._columns, 2000):
                yield from chunk
        finally:
            conn.rollback()

    def summarize(self, hashes: set[str], *, with_vector: bool) -> SideSummary:
        summary = SideSummary()
        for row in self._held():
            if row.content_hash in hashes:
                summary.add(row, with_vector=with_vector)
        return summary

    def extra_rows(self, hashes: set[str]) -> int:
        return sum(1 for row in self._held() if row.content_hash not in hashes)

    @property
    def has_graph(self) -> bool:
        return True  # `memhub team init` creates memory_graph with the store

    def write_edges(self, rows: Sequence[EdgeRow]) -> int:
        with self._conn.cursor() as cur:
            cur.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
            try:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (self._target.lock_id,))
                copied = edges.pg_put_edges(cur, self._target.schema, rows)
                cur.execute("COMMIT")
            except BaseException:
                if not self._conn.closed:
                    self._conn.rollback()
                raise
        return copied

    def edges_held(self, keys: set[tuple[str, str]]) -> int:
        with self._conn.cursor() as cur:
            held = edges.pg_held(cur, self._target.schema, keys)
        self._conn.rollback()
        return held

    def close(self) -> None:
        self._conn.close()


def _values(row: Row) -> list[Any]:
    out = []
    for column, value in zip(COLUMNS, row.values, strict=True):
        out.append(float(value) if value is not None and column in REAL else value)
    return out


def _vector(row: Row) -> Any:
    return None if row.vector is None else np.asarray(row.vector, dtype=np.float32)


def _stored(row: Row, memory_id: int, machine: str) -> Change:
    record = row_to_record([row.get(c) for c in _RECORD])
    return Change(
        kind="stored",
        content_hash=row.content_hash,
        row=memory_id,
        memory=record,
        vector=row.vector,
        client=CLIENT,
        origin=machine,
        store=str(row.get("store") or DEFAULTS["store"]),
    )
