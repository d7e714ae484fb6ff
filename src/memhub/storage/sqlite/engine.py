"""The SQLite + sqlite-vec engine behind :mod:`memhub.storage.engine`'s seam.

One write connection runs each batch in ``BEGIN IMMEDIATE … COMMIT`` with a SAVEPOINT per write
(so one bad write fails alone), owns WAL checkpoints, and keeps the change feed
(:mod:`~memhub.storage.sqlite.feed`). Reads are in :mod:`~.reading`; SQL for the operations
lives in :mod:`~.writes`, :mod:`~.queries` and :mod:`~.aggregates`; opening a file (every
check, the schema) in :mod:`~.opening`.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import apsw
import attrs
import outcome

from memhub.errors import DatabaseError, InternalError, ServiceError
from memhub.storage.engine import Cursor, MoreCalls, StorageBusy, WriteCall
from memhub.storage.mirror import VectorIndex
from memhub.storage.model import Change, ChangeBatch, DedupPolicy, StorageStats
from memhub.storage.sqlite import queries, writes
from memhub.storage.sqlite.feed import ChangeLog, SqliteCursor, snapshot_cursor
from memhub.storage.sqlite.graph import GraphWrites
from memhub.storage.sqlite.reading import SqliteReadSession
from memhub.storage.sqlite.schema import Schema, connect
from memhub.storage.sqlite.values import as_int, text
from memhub.storage.sqlite.vectors import facet_rows, load_all, vectors_of

if TYPE_CHECKING:
    from memhub.protocol import messages as m
    from memhub.storage.model import Filters, FloatArray, NewMemory
    from memhub.storage.sqlite.filewatch import FileWatch

log = logging.getLogger(__name__)

# SQLite errors that belong to the store, not to one item: they fail the whole batch.
_BATCH_ENDING = (apsw.FullError, apsw.IOError, apsw.CorruptError, apsw.NoMemError)

T = TypeVar("T")

# Below this much free space a failed write is put down to the disk, whatever the error says
# (sqlite-vec, for one, reports SQLITE_FULL as "could not insert a new vector chunk").
_LOW_DISK_BYTES = 16 * 1024 * 1024


def _out_of_room(conn: apsw.Connection) -> str | None:
    """Name a full disk or a file at its page cap, the usual reasons a write cannot land."""
    path = Path(conn.filename)
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        free = None
    if free is not None and free < _LOW_DISK_BYTES:
        return f"the disk holding {path} is full ({free // 1024} KiB free)"
    try:
        pages = as_int(conn.execute("PRAGMA page_count").fetchall()[0][0])
        cap = as_int(conn.execute("PRAGMA max_page_count").fetchall()[0][0])
        page_size = as_int(conn.execute("PRAGMA page_size").fetchall()[0][0])
    except apsw.Error:
        return None
    if (cap - pages) * page_size < _LOW_DISK_BYTES:
        return f"{path} is full: it is at {pages} of its max_page_count of {cap} pages"
    return None


@attrs.define
class SqliteWriteTxn(GraphWrites):
    """The :class:`~memhub.storage.engine.WriteTxn` of one write call."""

    batch: writes.WriteBatch

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
        return writes.cleanup_duplicates(self.batch)


@attrs.define
class Fingerprint:
    """What the writer expects the file to hold: if a look finds otherwise, someone else wrote."""

    max_id: int
    active: int
    deleted: int


def read_fingerprint(conn: apsw.Connection) -> Fingerprint:
    max_id, total, deleted = conn.execute(
        "SELECT COALESCE(MAX(id), 0), COUNT(*), "
        "(SELECT COUNT(*) FROM memories WHERE deleted_at IS NOT NULL) FROM memories"
    ).fetchall()[0]
    return Fingerprint(as_int(max_id), as_int(total) - as_int(deleted), as_int(deleted))


class SqliteWriteSession:
    """The one write connection: group commit, savepoints, checkpoints, the change log."""

    def __init__(
        self,
        conn: apsw.Connection,
        schema: Schema,
        *,
        index: VectorIndex | None,
        dedup: DedupPolicy,
        embedder_name: str,
        log: ChangeLog,
        origin: str,
        file_watch: FileWatch | None = None,
        upkeep_log_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        self.conn = conn
        self.schema = schema
        self._index = index
        self._dedup = dedup
        self._embedder_name = embedder_name
        self._embedder_recorded = schema.embedder == embedder_name
        self._log = log
        self._origin = origin
        self._file_watch = file_watch
        self._problem: str | None = None
        self._wal_path = Path(conn.filename + "-wal")
        self._upkeep_log_bytes = upkeep_log_bytes
        self._upkeep_runs = 0
        with conn:  # one read transaction: the baseline of what others may change
            self._data_version = _data_version(conn)
            self._known = read_fingerprint(conn)

    # -- batches ---------------------------------------------------------------------------------

    def run_batch(
        self, calls: Sequence[WriteCall], more: MoreCalls | None = None
    ) -> list[outcome.Outcome[object]]:
        # ``more`` is for engines whose lock waits on other machines; this one's does not.
        try:
            return self._try_batch(calls)
        except apsw.BusyError:
            self._rollback()
            raise StorageBusy(
                f"{self.conn.filename}: another process holds the write lock"
            ) from None
        except apsw.Error as exc:
            self._rollback()
            cause = _out_of_room(self.conn)
            detail = f"{cause} ({exc})" if cause else str(exc)
            raise DatabaseError(f"the database refused the write: {detail}") from None

    def _try_batch(self, calls: Sequence[WriteCall]) -> list[outcome.Outcome[object]]:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        # Under the write lock: what others committed since our last look goes into the log
        # before this batch's own changes, so the log keeps commit order.
        self._look_for_others()
        batch = writes.WriteBatch(
            conn=conn,
            schema=self.schema,
            index=self._index,
            dedup=self._dedup,
            origin=self._origin,
        )
        txn = SqliteWriteTxn(batch)
        if not self._embedder_recorded:
            writes.record_embedder(conn, self._embedder_name)
        results: list[outcome.Outcome[object]] = []
        for call in calls:
            mark = batch.mark()
            batch.client = call.client
            conn.execute("SAVEPOINT memhub_item")
            try:
                results.append(outcome.Value(call.fn(txn)))
                conn.execute("RELEASE memhub_item")
            except apsw.BusyError:
                raise  # the whole batch is retried
            except Exception as exc:
                if isinstance(exc, _BATCH_ENDING) or not conn.in_transaction:
                    # A full disk, an I/O error or a damaged page ends SQLite's transaction
                    # (or leaves it unfit to commit): the whole batch fails, none of it lands.
                    raise
                conn.execute("ROLLBACK TO memhub_item")
                conn.execute("RELEASE memhub_item")
                batch.rollback_to(mark)
                results.append(outcome.Error(_as_service_error(exc)))
        self._log.begin_commit()
        committed = False
        try:
            conn.execute("COMMIT")
            committed = True
        finally:
            max_id = max(self._known.max_id, batch.max_inserted)
            self._log.end_commit(batch.changes if committed else [], max_id if committed else 0)
        self._embedder_recorded = True
        self._known = Fingerprint(
            max_id,
            self._known.active + batch.active_delta,
            self._known.deleted + batch.deleted_delta,
        )
        return results

    def _rollback(self) -> None:
        if not self.conn.in_transaction:
            return
        try:
            self.conn.execute("ROLLBACK")
        except apsw.Error as exc:  # the transaction may already be gone
            log.debug("rollback: %s", exc)

    # -- other writers -----------------------------------------------------------------------------

    def observe_others(self) -> bool:
        """Between batches: record what other programs committed (cheap when nothing)."""
        if _data_version(self.conn) == self._data_version:
            return False
        found = False
        try:
            with self.conn:
                found = self._look_for_others()
        except apsw.Error as exc:
            log.warning("looking for other writers' changes failed: %s", exc)
        return found

    def _look_for_others(self) -> bool:
        """Inside a transaction: itemise other connections' commits since the last look."""
        version = _data_version(self.conn)
        if version == self._data_version:
            return False
        self._data_version = version
        conn, schema, known = self.conn, self.schema, self._known
        rows = conn.execute(
            f"SELECT m.id, m.deleted_at, {queries.store_column(schema)}, "
            f"{queries.record_columns(schema)} "
            "FROM memories m WHERE m.id > ? ORDER BY m.id",
            (known.max_id,),
        ).fetchall()
        live = [r for r in rows if r[1] is None]
        vectors = vectors_of(conn, [as_int(r[0]) for r in live], schema.dimension)
        changes = [
            Change(
                kind="stored",
                content_hash=text(r[3]),
                row=as_int(r[0]),
                memory=queries.reply_record(r[3:]),
                vector=vectors.get(as_int(r[0])),
                store=text(r[2]),
            )
            for r in live
        ]
        now = read_fingerprint(conn)
        predicted = Fingerprint(
            now.max_id, known.active + len(live), known.deleted + len(rows) - len(live)
        )
        resync = now != predicted
        if resync:
            log.info("another program changed or deleted memories: counts will be redone")
        self._log.record_others(changes, now.max_id, resync=resync)
        self._known = now
        return True  # at least the commit itself is news: what it edited in place is unknown

    # -- the file and its upkeep ---------------------------------------------------------------

    def problem(self) -> str | None:
        if self._problem is None and self._file_watch is not None:
            self._problem = self._file_watch.problem()
        return self._problem

    def needs_upkeep(self) -> bool:
        try:
            return os.stat(self._wal_path).st_size > self._upkeep_log_bytes
        except FileNotFoundError:
            return False

    def upkeep(self, *, thorough: bool = False) -> bool:
        """A WAL checkpoint; ``thorough`` (TRUNCATE) also shrinks the -wal file to zero.

        Only the daemon checkpoints: it is the one process that knows no other connection of
        its own is mid-write, which is what makes TRUNCATE safe here.
        """
        mode = "TRUNCATE" if thorough else "PASSIVE"
        try:
            self.conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchall()
        except apsw.BusyError:
            log.debug("checkpoint %s skipped: busy", mode)
            return False
        except apsw.Error as exc:
            log.warning("checkpoint %s failed: %s", mode, exc)
            return False
        self._upkeep_runs += 1
        return True

    @property
    def upkeep_runs(self) -> int:
        return self._upkeep_runs


def _data_version(conn: apsw.Connection) -> int:
    return as_int(conn.execute("PRAGMA data_version").fetchall()[0][0])


class NoLock:
    """:class:`~memhub.storage.engine.Held` for a store only one daemon can open."""

    def release(self) -> None:
        return None


class SqliteStorage:
    """The engine, opened on one database file: its write session, readers, feed and mirror."""

    def __init__(
        self,
        path: Path,
        pragmas: dict[str, str],
        writer: SqliteWriteSession,
        log: ChangeLog,
        index: VectorIndex | None,
        *,
        vec_version: str,
    ) -> None:
        self.path = path
        self._pragmas = pragmas
        self._writer = writer
        self._log = log
        self._index = index
        self._vec_version = vec_version
        self._side_lock = threading.Lock()
        self._side: apsw.Connection | None = None  # for the follower's lookups

    @property
    def writer(self) -> SqliteWriteSession:
        return self._writer

    @property
    def mirror(self) -> VectorIndex | None:
        return self._index

    @property
    def schema(self) -> Schema:
        return self._writer.schema

    @property
    def has_peers(self) -> bool:
        return False  # one daemon per file: there is nobody to hear from

    @property
    def searches_without_mirror(self) -> bool:
        return True  # sqlite-vec's exact scan (slower, the same answers)

    def open_reader(self) -> SqliteReadSession:
        conn = connect(self.path, readonly=True, pragmas=self._pragmas)
        return SqliteReadSession(conn, self._writer.schema, self._index, self._log)

    def load_mirror(self) -> SqliteCursor:
        conn = connect(self.path, readonly=True, pragmas=self._pragmas)
        try:
            while True:
                conn.execute("BEGIN")
                try:
                    cursor = snapshot_cursor(conn, self._log)
                    if cursor is None:
                        continue  # a commit raced the snapshot's start: take another
                    if self._index is not None:
                        load_all(conn, self._index, cursor.max_id)
                        self._index.facets.load(facet_rows(conn, queries.store_column(self.schema)))
                        self._index.mark_loaded(cursor.max_id, cursor)
                    return cursor
                finally:
                    conn.execute("COMMIT")
        finally:
            conn.close()

    def load_facets(self) -> None:
        if self._index is None:
            return
        with self._side_lock:
            if self._side is None:
                self._side = connect(self.path, readonly=True, pragmas=self._pragmas)
            side = self._side
            side.execute("BEGIN")
            try:
                self._index.facets.load(facet_rows(side, queries.store_column(self.schema)))
            finally:
                side.execute("COMMIT")

    def changes_since(self, cursor: Cursor) -> ChangeBatch:
        if not isinstance(cursor, SqliteCursor):
            raise TypeError(f"not a position in a SQLite change log: {cursor!r}")
        return self._log.since(cursor)

    def vectors(self, rows: Sequence[int]) -> dict[int, FloatArray]:
        with self._side_lock:
            if self._side is None:
                self._side = connect(self.path, readonly=True, pragmas=self._pragmas)
            side = self._side
            side.execute("BEGIN")
            try:
                return vectors_of(side, rows, self.schema.dimension)
            finally:
                side.execute("COMMIT")

    def wait_for_others(self, timeout: float) -> bool:
        return False

    def describe(self) -> StorageStats:
        return StorageStats(
            engine="sqlite",
            engine_version=apsw.sqlite_lib_version(),
            extension="sqlite-vec",
            extension_version=self._vec_version,
            location=str(self.path),
            schema=self.schema.generation,
            store_bytes=_size(self.path),
            log_bytes=_size(Path(f"{self.path}-wal")),
        )

    def try_hold(self, name: str) -> NoLock:
        """Always granted: one daemon owns a file (its flock), so the daemon's own bookkeeping
        is the whole of it (a program other than memhub is not asked)."""
        return NoLock()

    def close(self) -> None:
        with self._side_lock:
            if self._side is not None:
                self._side.close()
                self._side = None
        self._writer.conn.close()
        if self._index is not None:
            self._index.close()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _as_service_error(exc: BaseException) -> ServiceError:
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, apsw.Error):
        return DatabaseError(f"the database refused the write: {exc}")
    log.exception("write failed with an unexpected error", exc_info=exc)
    return InternalError(f"internal error while writing: {type(exc).__name__}: {exc}")
