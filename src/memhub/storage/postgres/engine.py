"""The PostgreSQL + pgvector engine behind :mod:`memhub.storage.engine`'s seam.

Connections (psycopg 3, synchronous, in the actors' worker threads: psycopg has no trio support):

* the writer's own connection. Each batch is ``BEGIN`` (READ COMMITTED) →
  ``pg_advisory_xact_lock(<store>)`` → one SAVEPOINT per write → changes appended to ``changes``
  with the next ``seq`` → one ``pg_notify`` → ``COMMIT``. The lock gives one total commit order
  across every daemon of the store; a write is acknowledged only after its COMMIT returned.
* a pool for reads and for following the feed. Each read runs in ``REPEATABLE READ, READ ONLY``
  with ``statement_timeout`` set from its deadline.
* one autocommit connection that LISTENs: a NOTIFY only wakes the follower (it is lost while
  disconnected), the ``changes`` table is the truth, read by ``seq``.

When the server is unreachable every call fails with a message naming it; nothing is acked that
did not commit, and the next call reconnects.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, Self, TypeVar

import attrs
import outcome
import psycopg
from psycopg import errors as pg_errors
from psycopg.pq import Format
from psycopg.types import TypeInfo
from psycopg_pool import ConnectionPool

from memhub.domain.tags import tags_from_db
from memhub.errors import DatabaseError, InternalError, ServiceError
from memhub.protocol import messages as m
from memhub.protocol.codec import converter
from memhub.storage.engine import Cursor as FeedCursor
from memhub.storage.engine import ReadTimeout, StorageBusy, WriteCall
from memhub.storage.mirror import VectorIndex
from memhub.storage.model import (
    Change,
    ChangeBatch,
    DedupPolicy,
    Filters,
    FloatArray,
    NewMemory,
    StorageStats,
    Totals,
    local_day,
)
from memhub.storage.postgres import queries, writes
from memhub.storage.postgres.graph import GraphReads, GraphWrites
from memhub.storage.postgres.target import PgTarget
from memhub.storage.postgres.vectors import register

log = logging.getLogger(__name__)
T = TypeVar("T")
BATCH_LIMIT: Final = 2048
CHANNEL_PREFIX: Final = "memhub_changes_"
BINARY: Final = Format.BINARY
Cursor = psycopg.Cursor[Any]


@attrs.frozen(order=True)
class PgCursor:
    """A position in the ``changes`` table: every change up to ``seq`` has been seen."""

    seq: int

    @property
    def mirror_position(self) -> int:
        return self.seq


class Connector:
    """Opens configured connections to one store (vector type, search path)."""

    def __init__(self, target: PgTarget, vector: TypeInfo, application: str) -> None:
        self.target = target
        self._vector = vector
        self._application = application

    def configure(self, conn: psycopg.Connection[Any]) -> None:
        register(conn, self._vector)
        with conn.cursor(binary=True) as cur:
            cur.execute(f"SET search_path TO {self.target.schema}, public")
        if not conn.autocommit:
            conn.commit()

    def connect(self, *, autocommit: bool = False) -> psycopg.Connection[Any]:
        conn = psycopg.connect(
            self.target.url,
            autocommit=autocommit,
            application_name=self._application,
            connect_timeout=10,
            **self.target.connect_kwargs(),
        )
        self.configure(conn)
        return conn

    def pool(self, size: int) -> ConnectionPool[psycopg.Connection[Any]]:
        kwargs: dict[str, Any] = {
            "application_name": self._application,
            "connect_timeout": 10,
            **self.target.connect_kwargs(),
        }
        return ConnectionPool(
            self.target.url,
            min_size=1,
            max_size=max(1, size),
            kwargs=kwargs,
            configure=self.configure,
            check=ConnectionPool.check_connection,
            timeout=15,
            reconnect_timeout=30,
            open=True,
            name="memhub-read",
        )


def unreachable(target: PgTarget, exc: BaseException, what: str) -> DatabaseError:
    """The error a caller sees when the server cannot serve ``what``."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DatabaseError(f"the PostgreSQL server {target.location} could not {what}: {reason}")


def explain(target: PgTarget, exc: psycopg.Error, what: str) -> DatabaseError:
    """A clear error for a failure of one statement or transaction."""
    if isinstance(exc, pg_errors.InsufficientPrivilege):
        who = target.user or "your role"
        return DatabaseError(
            f"the PostgreSQL role {who!r} may not {what} in {target.location}: "
            f"{exc.diag.message_primary or exc}; a read-only member can search but not write "
            "(ask the team's admin to grant memhub_writer)"
        )
    if isinstance(exc, pg_errors.ReadOnlySqlTransaction):
        return DatabaseError(
            f"{target.location} is read-only for this connection ({exc.diag.message_primary}); "
            "nothing was written"
        )
    if isinstance(exc, psycopg.OperationalError):
        return unreachable(target, exc, what)
    return DatabaseError(f"{target.location}: could not {what}: {exc}")


class PgWriteTxn(GraphWrites):
    """The :class:`~memhub.storage.engine.WriteTxn` of one write call."""

    def __init__(self, batch: writes.PgBatch) -> None:
        self.batch = batch

    def store(self, item: NewMemory) -> m.MemoryRecord:
        return writes.store(self.batch, item)

    def store_session(self, items: Sequence[NewMemory]) -> list[str]:
        return writes.store_session(self.batch, items)

    def delete_matching(self, filters: Filters, content_hash: str | None) -> list[str]:
        return writes.delete_matching(self.batch, filters, content_hash)

    def update(
        self,
        content_hash: str,
        *,
        tags: list[str] | None,
        memory_type: str | None,
        metadata: dict[str, Any] | None,
        preserve_timestamps: bool,
        store: str | None = None,
    ) -> tuple[m.MemoryRecord, list[str]]:
        return writes.update(
            self.batch,
            content_hash,
            tags=tags,
            memory_type=memory_type,
            metadata=metadata,
            preserve_timestamps=preserve_timestamps,
            store=store,
        )

    def cleanup_duplicates(self) -> list[str]:
        return []  # content_hash is unique across the store: there are none


class PgWriteSession:
    """The writer's connection: locked batches, savepoints, the change feed, NOTIFY."""

    def __init__(
        self, connector: Connector, *, index: VectorIndex | None, dedup: DedupPolicy, origin: str
    ) -> None:
        self._connector = connector
        self._target = connector.target
        self._index = index
        self._dedup = dedup
        self._origin = origin
        self._conn: psycopg.Connection[Any] | None = None
        self._upkeep_runs = 0
        self.channel = CHANNEL_PREFIX + self._target.schema

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            if self._conn is not None:
                self._conn.close()
            self._conn = None
            self._conn = self._connector.connect()
        return self._conn

    def run_batch(self, calls: Sequence[WriteCall]) -> list[outcome.Outcome[object]]:
        try:
            conn = self._connection()
        except psycopg.Error as exc:
            raise unreachable(self._target, exc, "be reached; nothing was written") from None
        try:
            return self._try_batch(conn, calls)
        except pg_errors.LockNotAvailable:
            self._rollback(conn)
            raise StorageBusy(f"{self._target.location}: the store's write lock is busy") from None
        except psycopg.Error as exc:
            self._rollback(conn)
            raise explain(self._target, exc, "commit the write; nothing was written") from None

    def _try_batch(
        self, conn: psycopg.Connection[Any], calls: Sequence[WriteCall]
    ) -> list[outcome.Outcome[object]]:
        results: list[outcome.Outcome[object]] = []
        with conn.cursor(binary=True) as cur:
            cur.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (self._target.lock_id,))
            batch = writes.PgBatch(
                cur=cur, index=self._index, dedup=self._dedup, origin=self._origin
            )
            txn = PgWriteTxn(batch)
            for call in calls:
                mark = batch.mark()
                batch.client = call.client
                cur.execute("SAVEPOINT memhub_item")
                try:
                    results.append(outcome.Value(call.fn(txn)))
                    cur.execute("RELEASE SAVEPOINT memhub_item")
                except psycopg.OperationalError:
                    raise  # the connection is gone: the whole batch failed
                except Exception as exc:
                    cur.execute("ROLLBACK TO SAVEPOINT memhub_item")
                    cur.execute("RELEASE SAVEPOINT memhub_item")
                    batch.rollback_to(mark)
                    results.append(outcome.Error(self._as_service_error(exc)))
            if batch.changes:
                # One wake-up per batch, under the lock that already orders commits.
                cur.execute("SELECT pg_notify(%s, '')", (self.channel,))
            cur.execute("COMMIT")
        return results

    def _as_service_error(self, exc: BaseException) -> ServiceError:
        if isinstance(exc, ServiceError):
            return exc
        if isinstance(exc, psycopg.Error):
            return explain(self._target, exc, "write")
        log.exception("write failed with an unexpected error", exc_info=exc)
        return InternalError(f"internal error while writing: {type(exc).__name__}: {exc}")

    def _rollback(self, conn: psycopg.Connection[Any]) -> None:
        try:
            if not conn.closed and not conn.broken:
                conn.rollback()
        except psycopg.Error as exc:
            log.debug("rollback: %s", exc)

    def problem(self) -> str | None:
        return None  # an unreachable server is a failed batch, not a lost store

    def observe_others(self) -> bool:
        return False  # every writer of a team store records its own changes

    def needs_upkeep(self) -> bool:
        return False

    def upkeep(self, *, thorough: bool = False) -> bool:
        return True

    @property
    def upkeep_runs(self) -> int:
        return self._upkeep_runs

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


@attrs.define
class PgSnapshot(GraphReads):
    """:class:`~memhub.storage.engine.Snapshot` inside one read transaction."""

    cur: Cursor
    index: VectorIndex | None

    def get(self, content_hash: str) -> m.MemoryRecord | None:
        return queries.get_by_hash(self.cur, content_hash)

    def list_page(
        self, filters: Filters, *, page: int, page_size: int
    ) -> tuple[list[m.MemoryRecord], int]:
        return queries.list_page(self.cur, filters, page=page, page_size=page_size)

    def matching_hashes(self, filters: Filters, content_hash: str | None) -> list[str]:
        return [h for _, h in queries.select_targets(self.cur, filters, content_hash)]

    def counts(self) -> tuple[int, int]:
        return queries.counts(self.cur)

    def duplicate_hashes(self) -> list[str]:
        return []

    def exact_search(self, query: str, filters: Filters, limit: int) -> list[m.Hit]:
        return queries.exact_search(self.cur, query, filters, limit)

    def recent(self, filters: Filters, limit: int) -> list[m.Hit]:
        return queries.recent(self.cur, filters, limit)

    def semantic_search(self, vector: FloatArray, filters: Filters, limit: int) -> list[m.Hit]:
        return queries.semantic_search(self.cur, self._index(), vector, filters, limit)

    def hybrid_search(
        self, query: str, vector: FloatArray, filters: Filters, limit: int
    ) -> list[m.Hit]:
        return queries.hybrid_search(self.cur, self._index(), query, vector, filters, limit)

    def aggregate_totals(self) -> tuple[dict[str, Totals], FeedCursor] | None:
        return count_all(self.cur)

    def integrity_problem(self) -> str | None:
        return None  # the server checks its own pages (data checksums, amcheck): not ours

    def _index(self) -> VectorIndex:
        if self.index is None:
            raise InternalError("the PostgreSQL engine searches with its vector mirror")
        return self.index


def count_all(cur: Cursor) -> tuple[dict[str, Totals], PgCursor]:
    """Every count per store, and the feed position they are exact at (this snapshot's)."""
    cur.execute("SELECT COALESCE(max(seq), 0) FROM changes")
    at = PgCursor(queries._one_int(cur))
    by_store: dict[str, Totals] = {}

    def totals(store: str) -> Totals:
        return by_store.setdefault(store, Totals())

    active = "deleted_at IS NULL"
    cur.execute(f"SELECT store, tags, count(*) FROM memories WHERE {active} GROUP BY 1, 2")
    for store, tags, n in cur.fetchall():
        totals(store).add_tags(tags_from_db(tags), int(n))
    cur.execute(f"SELECT store, memory_type, count(*) FROM memories WHERE {active} GROUP BY 1, 2")
    for store, kind, n in cur.fetchall():
        totals(store).types[(kind or "").strip().lower() or "note"] += int(n)
    # Local days are the daemon's, not the server's: count by quarter hour (every time zone's
    # offset is a multiple of 15 minutes) and turn each quarter into its local day here.
    cur.execute(
        f"SELECT store, floor(COALESCE(created_at, 0) / 900)::bigint, count(*) FROM memories "
        f"WHERE {active} GROUP BY 1, 2"
    )
    for store, quarter, n in cur.fetchall():
        totals(store).days[local_day(int(quarter) * 900.0)] += int(n)
    cur.execute(f"SELECT store, count(*) FROM memories WHERE {active} GROUP BY 1")
    for store, n in cur.fetchall():
        totals(store).memories += int(n)
    return by_store, at


class DeadlineCursor(psycopg.Cursor[Any]):
    """A cursor that starts no statement past its read's deadline.

    ``statement_timeout`` bounds each statement by the time left when the read began; this
    bounds the read as a whole, however many statements it runs.
    """

    deadline = float("inf")

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Self:
        if time.monotonic() > self.deadline:
            raise ReadTimeout
        return super().execute(query, params, **kwargs)


class PgReadSession:
    """Reads from the pool, each in its own REPEATABLE READ, READ ONLY transaction."""

    def __init__(
        self,
        pool: ConnectionPool[psycopg.Connection[Any]],
        target: PgTarget,
        index: VectorIndex | None,
    ) -> None:
        self._pool = pool
        self._target = target
        self._index = index

    def run(self, fn: Callable[[PgSnapshot], T], deadline: float) -> T:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ReadTimeout
        try:
            with self._pool.connection(timeout=max(0.1, remaining)) as conn:
                with DeadlineCursor(conn) as cur:
                    cur.format = BINARY
                    cur.deadline = deadline
                    cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    ms = max(1, int((deadline - time.monotonic()) * 1000))
                    cur.execute(f"SET LOCAL statement_timeout = {ms}")
                    try:
                        return fn(PgSnapshot(cur, self._index))
                    finally:
                        conn.rollback()
        except pg_errors.QueryCanceled:
            raise ReadTimeout from None
        except ServiceError:
            raise
        except psycopg.Error as exc:
            raise explain(self._target, exc, "be read") from None
        except Exception as exc:
            if type(exc).__name__ == "PoolTimeout":
                raise unreachable(self._target, exc, "be reached for a read") from None
            raise

    def close(self) -> None:
        pass  # the pool's connections are closed with the storage


class PgStorage:
    """The engine, opened on one team store."""

    def __init__(
        self,
        connector: Connector,
        writer: PgWriteSession,
        index: VectorIndex | None,
        *,
        readers: int,
        schema_layout: str,
        server_version: str,
        vector_version: str,
    ) -> None:
        self._connector = connector
        self._target = connector.target
        self._writer = writer
        self._index = index
        self._pool = connector.pool(readers + 1)
        self._layout = schema_layout
        self._server_version = server_version
        self._vector_version = vector_version
        self._listen_lock = threading.Lock()
        self._listener: psycopg.Connection[Any] | None = None
        self._closed = False

    @property
    def writer(self) -> PgWriteSession:
        return self._writer

    @property
    def mirror(self) -> VectorIndex | None:
        return self._index

    @property
    def has_peers(self) -> bool:
        return True

    @property
    def searches_without_mirror(self) -> bool:
        return False  # pgvector's exact scan is not wired as a search path

    def open_reader(self) -> PgReadSession:
        return PgReadSession(self._pool, self._target, self._index)

    def load_mirror(self) -> PgCursor:
        with self._pool.connection() as conn, conn.cursor(binary=True) as cur:
            cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            cur.execute("SELECT COALESCE(max(seq), 0) FROM changes")
            at = PgCursor(queries._one_int(cur))
            if self._index is not None:
                loaded = self._load_vectors(cur, self._index)
                self._index.mark_loaded(at.seq)
                self._index.facets.load(self._facet_rows(cur))
                log.info("vector index: %d vectors in RAM", loaded)
            conn.rollback()
        return at

    @staticmethod
    def _facet_rows(cur: Cursor) -> list[tuple[int, list[str], str]]:
        cur.execute("SELECT id, tags, store FROM memories WHERE deleted_at IS NULL")
        return [(int(r[0]), tags_from_db(r[1]), str(r[2])) for r in cur.fetchall()]

    def load_facets(self) -> None:
        if self._index is None:
            return
        with self._pool.connection() as conn, conn.cursor(binary=True) as cur:
            self._index.facets.load(self._facet_rows(cur))
            conn.rollback()

    @staticmethod
    def _load_vectors(cur: Cursor, index: VectorIndex) -> int:
        loaded = 0
        rowids: list[int] = []
        created: list[float] = []
        vecs: list[FloatArray] = []

        def flush() -> None:
            if rowids:
                import numpy as np

                index.add_many(rowids, np.stack(vecs), created)
            rowids.clear()
            created.clear()
            vecs.clear()

        with cur.copy(
            "COPY (SELECT id, COALESCE(created_at, 0), embedding FROM memories "
            "WHERE deleted_at IS NULL AND embedding IS NOT NULL) TO STDOUT (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["int8", "float8", "vector"])
            for row in copy.rows():
                rowids.append(int(row[0]))
                created.append(float(row[1]))
                vecs.append(row[2])
                loaded += 1
                if len(rowids) == 4096:
                    flush()
        flush()
        return loaded

    def changes_since(self, cursor: FeedCursor) -> ChangeBatch:
        if not isinstance(cursor, PgCursor):
            raise TypeError(f"not a position in a PostgreSQL change feed: {cursor!r}")
        try:
            with self._pool.connection() as conn, conn.cursor(binary=True) as cur:
                cur.execute(
                    "SELECT c.seq, c.kind, c.memory_id, c.content_hash, c.store, c.client, "
                    "c.origin, c.before, c.memory, "
                    "CASE WHEN c.kind = 'stored' THEN m.embedding END "
                    "FROM changes c LEFT JOIN memories m ON m.id = c.memory_id "
                    "WHERE c.seq > %s ORDER BY c.seq LIMIT %s",
                    (cursor.seq, BATCH_LIMIT),
                )
                rows = cur.fetchall()
                conn.rollback()
        except psycopg.Error as exc:
            raise unreachable(self._target, exc, "list its changes") from None
        changes = [
            Change(
                kind=kind,
                content_hash=content_hash,
                row=int(memory_id),
                memory=converter().structure(memory, m.MemoryRecord) if memory else None,
                before=writes.facets_from_json(before),
                vector=vector,
                client=client,
                origin=origin,
                store=store,
            )
            for (
                _,
                kind,
                memory_id,
                content_hash,
                store,
                client,
                origin,
                before,
                memory,
                vector,
            ) in rows
        ]
        last = PgCursor(int(rows[-1][0])) if rows else cursor
        return ChangeBatch(changes, last)

    def vectors(self, rows: Sequence[int]) -> dict[int, FloatArray]:
        with self._pool.connection() as conn, conn.cursor(binary=True) as cur:
            cur.execute(
                "SELECT id, embedding FROM memories WHERE id = ANY(%s) AND embedding IS NOT NULL",
                (list(rows),),
            )
            found = {int(r[0]): r[1] for r in cur.fetchall()}
            conn.rollback()
        return found

    def wait_for_others(self, timeout: float) -> bool:
        """Block up to ``timeout`` s for a NOTIFY on the store's channel (a wake-up only)."""
        try:
            listener = self._listening()
            for _ in listener.notifies(timeout=timeout, stop_after=1):
                return True
            return False
        except psycopg.Error as exc:
            log.info("listening for other daemons' commits failed (%s); reconnecting", exc)
            with self._listen_lock:
                if self._listener is not None:
                    self._listener.close()
                    self._listener = None
            time.sleep(min(timeout, 1.0))
            return True  # after a reconnect, catch up in full: notifies were lost meanwhile

    def _listening(self) -> psycopg.Connection[Any]:
        with self._listen_lock:
            if self._closed:
                raise psycopg.OperationalError("the storage is closed")
            if self._listener is None or self._listener.closed:
                conn = self._connector.connect(autocommit=True)
                conn.execute(f"LISTEN {self._writer.channel}")
                self._listener = conn
            return self._listener

    def describe(self) -> StorageStats:
        size = 0
        try:
            with self._pool.connection(timeout=5) as conn, conn.cursor(binary=True) as cur:
                cur.execute(
                    "SELECT COALESCE(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = %s AND c.relkind = 'r'",
                    (self._target.schema,),
                )
                size = queries._one_int(cur)
                conn.rollback()
        except Exception as exc:  # describing must not fail a health report
            log.debug("store size unavailable: %s", exc)
        return StorageStats(
            engine="postgresql",
            engine_version=self._server_version,
            extension="pgvector",
            extension_version=self._vector_version,
            location=self._target.location,
            schema=self._layout,
            store_bytes=size,
            log_bytes=0,
        )

    def close(self) -> None:
        with self._listen_lock:
            self._closed = True
            if self._listener is not None:
                self._listener.close()
                self._listener = None
        self._writer.close()
        self._pool.close()


def decode_json(value: object) -> Any:
    return json.loads(value) if isinstance(value, str) else value
