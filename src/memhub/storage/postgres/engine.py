"""The PostgreSQL + pgvector engine behind :mod:`memhub.storage.engine`'s seam.

Connections (psycopg 3, synchronous, in the actors' worker threads: psycopg has no trio support),
every one in autocommit mode so that each transaction is the explicit ``BEGIN`` it says it is:

* the writer's own connection (:mod:`~memhub.storage.postgres.writer`): locked batches whose
  ``seq`` order is commit order across every daemon of the store;
* a pool for reads and for following the feed (:mod:`~memhub.storage.postgres.connections`).
  Each read runs in ``REPEATABLE READ, READ ONLY`` with ``statement_timeout`` set from its
  deadline; a read whose pooled connection died (server restart, terminated backend) runs once
  more on a fresh one;
* one connection that LISTENs: a NOTIFY only wakes the follower (it is lost while disconnected),
  the ``changes`` table is the truth, read by ``seq``; after every reconnect the follower
  catches up in full.

When the server is unreachable every call fails within seconds with a message naming it,
nothing is acked that did not commit, and the next call reconnects.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, Self, TypeVar

import attrs
import psycopg
from psycopg import errors as pg_errors
from psycopg.pq import Format
from psycopg_pool import ConnectionPool, PoolTimeout

from memhub.domain.tags import tags_from_db
from memhub.errors import ServiceError
from memhub.protocol import messages as m
from memhub.protocol.codec import converter
from memhub.storage.engine import Cursor as FeedCursor
from memhub.storage.engine import ReadTimeout
from memhub.storage.mirror import VectorIndex
from memhub.storage.model import (
    Candidate,
    Change,
    ChangeBatch,
    Filters,
    FloatArray,
    StorageStats,
    Totals,
    local_day,
)
from memhub.storage.postgres import consolidation, quality, queries, writes
from memhub.storage.postgres.connections import (
    Conn,
    Connector,
    explain,
    pooled,
    reason,
    unreachable,
)
from memhub.storage.postgres.graph import GraphReads
from memhub.storage.postgres.target import PgTarget
from memhub.storage.postgres.writer import PgWriteSession
from memhub.storage.quality import QualitySummary, ScoreBucket

log = logging.getLogger(__name__)
T = TypeVar("T")
BATCH_LIMIT: Final = 2048
BINARY: Final = Format.BINARY
Cursor = psycopg.Cursor[Any]
#: After this many failed attempts in a row to listen, the failures are logged once a minute.
QUIET_AFTER: Final = 3


@attrs.frozen(order=True)
class PgCursor:
    """A position in the ``changes`` table: every change up to ``seq`` has been seen."""

    seq: int

    @property
    def mirror_position(self) -> int:
        return self.seq


@attrs.define
class PgSnapshot(GraphReads):
    """:class:`~memhub.storage.engine.Snapshot` inside one read transaction."""

    cur: Cursor
    index: VectorIndex | None

    def get(self, content_hash: str) -> m.MemoryRecord | None:
        return queries.get_by_hash(self.cur, content_hash)

    def list_page(
        self, filters: Filters, *, page: int, page_size: int, total: int | None = None
    ) -> tuple[list[m.MemoryRecord], int]:
        return queries.list_page(
            self.cur, self.index, filters, page=page, page_size=page_size, total=total
        )

    def matching_hashes(self, filters: Filters, content_hash: str | None) -> list[str]:
        return [h for _, h in queries.select_targets(self.cur, filters, content_hash)]

    def counts(self) -> tuple[int, int]:
        return queries.counts(self.cur)

    def duplicate_hashes(self) -> list[str]:
        return []

    def quality_summary(self, store: str, low: float, high: float) -> QualitySummary:
        return quality.summary(self.cur, store, low, high)

    def stale_count(self, store: str, before: float) -> int:
        return quality.stale_count(self.cur, store, before)

    def score_buckets(self, start: float, end: float) -> list[ScoreBucket]:
        return quality.score_buckets(self.cur, start, end)

    def exact_search(self, query: str, filters: Filters, limit: int) -> list[m.Hit]:
        return queries.exact_search(self.cur, query, filters, limit)

    def recent(self, filters: Filters, limit: int) -> list[m.Hit]:
        return queries.recent(self.cur, self.index, filters, limit)

    def semantic_search(self, vector: FloatArray, filters: Filters, limit: int) -> list[m.Hit]:
        return queries.semantic_search(self.cur, self.index, vector, filters, limit)

    def hybrid_search(
        self, query: str, vector: FloatArray, filters: Filters, limit: int
    ) -> list[m.Hit]:
        return queries.hybrid_search(self.cur, self.index, query, vector, filters, limit)

    def consolidation_batch(self, after: float, before: float, limit: int) -> list[Candidate]:
        return consolidation.batch(self.cur, after, before, limit)

    def neighbour_counts(self, hashes: Sequence[str]) -> dict[str, int]:
        return consolidation.neighbour_counts(self.cur, hashes)

    def aggregate_totals(self) -> tuple[dict[str, Totals], FeedCursor] | None:
        return count_all(self.cur)

    def integrity_problem(self) -> str | None:
        return None  # the server checks its own pages (data checksums, amcheck): not ours


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
        self, pool: ConnectionPool[Conn], target: PgTarget, index: VectorIndex | None
    ) -> None:
        self._pool = pool
        self._target = target
        self._index = index
        self._running: Conn | None = None  # the connection of the read in progress
        self._running_lock = threading.Lock()

    def run(self, fn: Callable[[PgSnapshot], T], deadline: float) -> T:
        if deadline - time.monotonic() <= 0:
            raise ReadTimeout

        def work(conn: Conn) -> T:
            with self._running_lock:
                self._running = conn
            with DeadlineCursor(conn) as cur:
                cur.format = BINARY
                cur.deadline = deadline
                try:
                    ms = max(1, int((deadline - time.monotonic()) * 1000))
                    # Both in one round trip (a statement without parameters may hold two).
                    conn.execute(
                        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; "
                        f"SET LOCAL statement_timeout = {ms}"
                    )
                    return fn(PgSnapshot(cur, self._index))
                finally:
                    with self._running_lock:
                        self._running = None
                    conn.rollback()

        try:
            return pooled(self._pool, work, deadline=deadline)
        except pg_errors.QueryCanceled:
            raise ReadTimeout from None
        except ServiceError:
            raise
        except PoolTimeout as exc:
            raise unreachable(self._target, exc, "be reached for a read") from None
        except psycopg.Error as exc:
            raise explain(self._target, exc, "be read") from None

    def interrupt(self) -> None:
        with self._running_lock:
            conn = self._running
        if conn is not None:
            try:
                conn.cancel_safe(timeout=5)  # the statement ends with QueryCanceled
            except psycopg.Error as exc:
                log.info("could not cancel a read: %s", exc)

    def close(self) -> None:
        pass  # the pool's connections are closed with the storage


@attrs.define
class HeldLock:
    """:class:`~memhub.storage.engine.Held`: the connection that holds the advisory lock."""

    conn: Conn

    def release(self) -> None:
        try:
            self.conn.close()  # ends the session, and with it its advisory locks
        except psycopg.Error as exc:
            log.warning("closing a lock's connection failed (the server drops it): %s", exc)


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
        self._listener: Conn | None = None
        self._listen_failures = 0
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
        return True  # until the mirror is loaded, pgvector's exact scan on the server answers

    def open_reader(self) -> PgReadSession:
        return PgReadSession(self._pool, self._target, self._index)

    def _read(self, work: Callable[[Conn], T], what: str) -> T:
        """Idempotent work on a pooled connection, with the engine's errors."""
        try:
            return pooled(self._pool, work)
        except psycopg.Error as exc:
            raise unreachable(self._target, exc, what) from None

    def load_mirror(self) -> PgCursor:
        def load(conn: Conn) -> PgCursor:
            with conn.cursor(binary=True) as cur:
                try:
                    cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    cur.execute("SELECT COALESCE(max(seq), 0) FROM changes")
                    at = PgCursor(queries._one_int(cur))
                    if self._index is not None:
                        self._index.clear()  # a second attempt starts from nothing again
                        loaded = self._load_vectors(cur, self._index)
                        self._index.facets.load(self._facet_rows(cur))
                        self._index.mark_loaded(at.seq, at)
                        log.info("vector index: %d vectors in RAM", loaded)
                finally:
                    conn.rollback()
            return at

        return self._read(load, "load the vectors")

    @staticmethod
    def _facet_rows(cur: Cursor) -> list[tuple[int, list[str], str]]:
        cur.execute("SELECT id, tags, store FROM memories WHERE deleted_at IS NULL")
        return [(int(r[0]), tags_from_db(r[1]), str(r[2])) for r in cur.fetchall()]

    def load_facets(self) -> None:
        if self._index is None:
            return
        index = self._index

        def load(conn: Conn) -> None:
            with conn.cursor(binary=True) as cur:
                try:
                    index.facets.load(self._facet_rows(cur))
                finally:
                    conn.rollback()

        self._read(load, "load the tags and stores")

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

        def fetch(conn: Conn) -> list[tuple[Any, ...]]:
            with conn.cursor(binary=True) as cur:
                cur.execute(
                    "SELECT c.seq, c.kind, c.memory_id, c.content_hash, c.store, c.client, "
                    "c.origin, c.before, c.memory, "
                    "CASE WHEN c.kind = 'stored' THEN m.embedding END "
                    "FROM changes c LEFT JOIN memories m ON m.id = c.memory_id "
                    "WHERE c.seq > %s ORDER BY c.seq LIMIT %s",
                    (cursor.seq, BATCH_LIMIT),
                )
                return cur.fetchall()

        rows = self._read(fetch, "list its changes")
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
        def fetch(conn: Conn) -> dict[int, FloatArray]:
            with conn.cursor(binary=True) as cur:
                cur.execute(
                    "SELECT id, embedding FROM memories "
                    "WHERE id = ANY(%s) AND embedding IS NOT NULL",
                    (list(rows),),
                )
                return {int(r[0]): r[1] for r in cur.fetchall()}

        return self._read(fetch, "read vectors")

    def wait_for_others(self, timeout: float) -> bool:
        """Block up to ``timeout`` s for a NOTIFY on the store's channel (a wake-up only).

        True after a reconnect too: notifications sent while disconnected are lost, so the
        follower must catch up from the feed in full.
        """
        try:
            listener, fresh = self._listening()
            if fresh:
                return True
            for _ in listener.notifies(timeout=timeout, stop_after=1):
                return True
            return False
        except psycopg.Error as exc:
            self._listen_failures += 1
            if self._listen_failures <= QUIET_AFTER or self._listen_failures % 60 == 0:
                log.warning(
                    "listening for other daemons' commits failed (%s); reconnecting", reason(exc)
                )
            with self._listen_lock:
                if self._listener is not None:
                    self._listener.close()
                    self._listener = None
            time.sleep(min(timeout, 1.0))
            return False

    def _listening(self) -> tuple[Conn, bool]:
        """The LISTENing connection, and whether it was (re)opened just now."""
        with self._listen_lock:
            if self._closed:
                raise psycopg.OperationalError("the storage is closed")
            if self._listener is not None and not self._listener.closed:
                return self._listener, False
            conn = self._connector.connect(autocommit=True)
            conn.execute(f"LISTEN {self._writer.channel}")
            self._listener = conn
            if self._listen_failures:
                log.info("listening for other daemons' commits again")
            self._listen_failures = 0
            return conn, True

    def try_hold(self, name: str) -> HeldLock | None:
        """A session-level advisory lock on a connection of its own, held until released
        (or until this daemon's connection dies with it, so a crash never leaves it taken)."""
        digest = hashlib.sha256(f"memhub:{self._target.schema}:{name}".encode()).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)
        try:
            conn = self._connector.connect(autocommit=True)
        except psycopg.Error as exc:
            raise unreachable(self._target, exc, f"take the {name} lock") from None
        try:
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
        except psycopg.Error as exc:
            conn.close()
            raise unreachable(self._target, exc, f"take the {name} lock") from None
        if not row or not row[0]:
            conn.close()
            return None
        return HeldLock(conn)

    def describe(self) -> StorageStats:
        size = 0

        def measure(conn: Conn) -> int:
            with conn.cursor(binary=True) as cur:
                cur.execute(
                    "SELECT COALESCE(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = %s AND c.relkind = 'r'",
                    (self._target.schema,),
                )
                return queries._one_int(cur)

        try:
            # Short: a health report must answer quickly when the server is down.
            size = pooled(self._pool, measure, wait=0.5)
        except Exception as exc:  # describing must not fail a health report
            log.debug("store size unavailable: %s", reason(exc))
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
        if self._index is not None:
            self._index.close()
