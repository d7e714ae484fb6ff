"""The SQLite + sqlite-vec engine behind :mod:`memhub.storage.engine`'s seam.

One write connection runs each batch in ``BEGIN IMMEDIATE … COMMIT`` with a SAVEPOINT per write
(so one bad write fails alone), owns WAL checkpoints, and keeps the change feed
(:mod:`~memhub.storage.sqlite.feed`). Read connections open the file read-only (``mode=ro``,
``query_only``) and run each read in one ``BEGIN … COMMIT`` snapshot under a deadline enforced
by SQLite's progress handler. SQL for the operations lives in :mod:`~.writes`, :mod:`~.queries`
and :mod:`~.aggregates`; opening a file (every check, the schema) in :mod:`~.opening`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

import apsw
import attrs
import outcome

from memhub.errors import DatabaseError, InternalError, ServiceError
from memhub.storage.engine import Cursor, MoreCalls, ReadTimeout, StorageBusy, WriteCall
from memhub.storage.mirror import VectorIndex
from memhub.storage.model import Change, ChangeBatch, DedupPolicy, StorageStats, Totals
from memhub.storage.sqlite import aggregates, queries, writes
from memhub.storage.sqlite.feed import ChangeLog, SqliteCursor, snapshot_cursor
from memhub.storage.sqlite.schema import Schema, connect
from memhub.storage.sqlite.values import as_int, text
from memhub.storage.sqlite.vectors import load_all, vectors_of

if TYPE_CHECKING:
    from memhub.protocol import messages as m
    from memhub.storage.model import Filters, FloatArray, NewMemory
    from memhub.storage.sqlite.filewatch import FileWatch

log = logging.getLogger(__name__)
T = TypeVar("T")
#: SQLite virtual-machine steps between deadline checks (~a few µs of work).
_PROGRESS_STEPS: Final = 2000


@attrs.define
class SqliteWriteTxn:
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
    ) -> tuple[m.MemoryRecord, list[str]]:
        return writes.update(
            self.batch,
            content_hash,
            tags=tags,
            memory_type=memory_type,
            metadata=metadata,
            preserve_timestamps=preserve_timestamps,
        )

    def cleanup_duplicates(self) -> list[str]:
        return writes.cleanup_duplicates(self.batch)


@attrs.define
class SqliteSnapshot:
    """:class:`~memhub.storage.engine.Snapshot` over a read connection inside its snapshot.

    ``conn`` stays public for SQLite-only callers (tests, diagnostics); the service uses the
    operations.
    """

    conn: apsw.Connection
    schema: Schema
    index: VectorIndex | None
    log: ChangeLog | None = None

    def get(self, content_hash: str) -> m.MemoryRecord | None:
        return queries.get_by_hash(self.conn, self.schema, content_hash)

    def list_page(
        self, filters: Filters, *, page: int, page_size: int
    ) -> tuple[list[m.MemoryRecord], int]:
        return queries.list_page(self.conn, self.schema, filters, page=page, page_size=page_size)

    def matching_hashes(self, filters: Filters, content_hash: str | None) -> list[str]:
        targets = queries.select_targets(self.conn, self.schema, filters, content_hash)
        return [h for _, h in targets]

    def counts(self) -> tuple[int, int]:
        return queries.counts(self.conn, self.schema)

    def duplicate_hashes(self) -> list[str]:
        return [h for _, h in queries.duplicate_rows(self.conn, self.schema)]

    def exact_search(self, query: str, filters: Filters, limit: int) -> list[m.Hit]:
        return queries.exact_search(self.conn, self.schema, query, filters, limit)

    def recent(self, filters: Filters, limit: int) -> list[m.Hit]:
        return queries.recent(self.conn, self.schema, filters, limit)

    def semantic_search(self, vector: FloatArray, filters: Filters, limit: int) -> list[m.Hit]:
        return queries.semantic_search(self.conn, self.schema, self.index, vector, filters, limit)

    def hybrid_search(
        self, query: str, vector: FloatArray, filters: Filters, limit: int
    ) -> list[m.Hit]:
        return queries.hybrid_search(
            self.conn, self.schema, self.index, query, vector, filters, limit
        )

    def aggregate_totals(self) -> tuple[dict[str, Totals], Cursor] | None:
        if self.log is None:
            raise InternalError("this snapshot has no change log to place its counts in")
        cursor = snapshot_cursor(self.conn, self.log)
        if cursor is None:
            return None
        return aggregates.count_all(self.conn, self.schema), cursor


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
            raise DatabaseError(f"the database refused the write: {exc}") from None

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
            f"SELECT m.id, m.deleted_at, {queries.store_column(schema)}, {queries.ROW_COLUMNS} "
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
        return bool(changes) or resync

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


class SqliteReadSession:
    """One read-only connection; each read in one snapshot, under a deadline."""

    def __init__(
        self,
        conn: apsw.Connection,
        schema: Schema,
        index: VectorIndex | None,
        log: ChangeLog | None = None,
    ) -> None:
        self._conn = conn
        self._snapshot = SqliteSnapshot(conn, schema, index, log)

    def run(self, fn: Callable[[SqliteSnapshot], T], deadline: float) -> T:
        conn = self._conn
        conn.set_progress_handler(lambda: time.monotonic() > deadline, _PROGRESS_STEPS)
        try:
            try:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")  # the last snapshot could not be ended: end it now
                conn.execute("BEGIN")
                result = fn(self._snapshot)
            except apsw.InterruptError:
                raise ReadTimeout from None
            except apsw.Error as exc:
                log.error("read failed: %s", exc)
                raise DatabaseError(f"the database could not be read: {exc}") from None
        finally:
            # Clear the deadline first: ending the snapshot must never be interrupted.
            conn.set_progress_handler(None)
            ended = _end_snapshot(conn)
        if ended is not None:
            # The answer came from a snapshot that did not end cleanly: do not vouch for it.
            raise DatabaseError(f"the database could not be read: {ended}")
        return result

    def close(self) -> None:
        self._conn.close()


def _end_snapshot(conn: apsw.Connection) -> str | None:
    """End the read transaction; None when it ended cleanly, else what went wrong.

    Never raises: an exception here would escape the reader's thread and stop the daemon.
    A connection left inside its transaction is rolled back before its next query.
    """
    if not conn.in_transaction:
        return None
    try:
        conn.execute("COMMIT")
    except apsw.Error as exc:
        log.error("ending a read snapshot failed: %s", exc)
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except apsw.Error as again:
                log.error("rolling back the read snapshot failed too: %s", again)
        return str(exc)
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
                        loaded = load_all(conn, self._index, cursor.max_id)
                        self._index.position = cursor.max_id
                        log.info("vector index: %d vectors in RAM", loaded)
                    return cursor
                finally:
                    conn.execute("COMMIT")
        finally:
            conn.close()

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

    def close(self) -> None:
        with self._side_lock:
            if self._side is not None:
                self._side.close()
                self._side = None
        self._writer.conn.close()


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
