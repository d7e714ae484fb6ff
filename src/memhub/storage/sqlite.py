"""The SQLite + sqlite-vec engine behind :mod:`memhub.storage.engine`'s seam.

One write connection runs each batch in ``BEGIN IMMEDIATE … COMMIT`` with a SAVEPOINT per write
(so one bad write fails alone), and owns WAL checkpoints. Read connections open the file
read-only (``mode=ro``, ``query_only``) and run each read in one ``BEGIN … COMMIT`` snapshot under
a deadline enforced by SQLite's progress handler. The in-RAM vector mirror is this engine's
index; SQL for the operations lives in :mod:`~memhub.storage.writes`,
:mod:`~memhub.storage.queries` and :mod:`~memhub.storage.aggregates`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar

import apsw
import attrs
import outcome

from memhub.errors import DatabaseError, InternalError, ServiceError
from memhub.storage import aggregates, queries, writes
from memhub.storage.engine import ReadTimeout, StorageBusy, WriteFn
from memhub.storage.schema import Schema, connect
from memhub.storage.vectors import VectorIndex

if TYPE_CHECKING:
    from memhub.protocol import messages as m
    from memhub.storage.filewatch import FileWatch
    from memhub.storage.queries import Filters
    from memhub.storage.vectors import FloatArray

log = logging.getLogger(__name__)
T = TypeVar("T")
#: SQLite virtual-machine steps between deadline checks (~a few µs of work).
_PROGRESS_STEPS: Final = 2000


@attrs.define
class SqliteWriteTxn:
    """The :class:`~memhub.storage.engine.WriteTxn` of one ``WriteBatch``."""

    batch: writes.WriteBatch

    def store(self, item: writes.NewMemory) -> m.MemoryRecord:
        return writes.store(self.batch, item)

    def store_session(self, items: Sequence[writes.NewMemory]) -> list[str]:
        return writes.store_session(self.batch, items)

    def delete_matching(self, filters: Filters, content_hash: str | None) -> list[str]:
        batch = self.batch
        targets = queries.select_targets(batch.conn, batch.schema, filters, content_hash)
        return writes.soft_delete(batch, targets)

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

    @property
    def event_count(self) -> int:
        return len(self.batch.events)

    def name_writer(self, since: int, client: str) -> None:
        events = self.batch.events
        events[since:] = [attrs.evolve(e, client=client) for e in events[since:]]


@attrs.define
class SqliteSnapshot:
    """:class:`~memhub.storage.engine.Snapshot` over a read connection inside its snapshot.

    ``conn`` stays public for SQLite-only callers (tests, diagnostics); the service uses the
    operations.
    """

    conn: apsw.Connection
    schema: Schema
    index: VectorIndex | None

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

    def change_marker(self) -> aggregates.Fingerprint:
        return aggregates.fingerprint(self.conn)

    def aggregate_totals(self) -> tuple[aggregates.Totals, aggregates.Fingerprint]:
        return aggregates.load_totals(self.conn, self.schema)


class SqliteWriteSession:
    """The one write connection: group commit, savepoints, checkpoints, the file watch."""

    def __init__(
        self,
        conn: apsw.Connection,
        schema: Schema,
        *,
        index: VectorIndex | None,
        dedup: writes.DedupPolicy,
        embedder_name: str,
        file_watch: FileWatch | None = None,
    ) -> None:
        self.conn = conn
        self.schema = schema
        self._index = index
        self._dedup = dedup
        self._embedder_name = embedder_name
        self._embedder_recorded = schema.embedder == embedder_name
        self._file_watch = file_watch
        self._refusal: str | None = None
        self._wal_path = Path(conn.filename + "-wal")

    @property
    def generation(self) -> str:
        return self.schema.generation

    def run_batch(
        self, fns: Sequence[WriteFn]
    ) -> tuple[list[outcome.Outcome[object]], list[m.Event]]:
        try:
            results, batch = self._try_batch(fns)
        except apsw.BusyError:
            self._rollback()
            raise StorageBusy(
                f"{self.conn.filename}: another process holds the write lock"
            ) from None
        except apsw.Error as exc:
            self._rollback()
            raise DatabaseError(f"the database refused the write: {exc}") from None
        self._after_commit(batch)
        return results, batch.events

    def _try_batch(
        self, fns: Sequence[WriteFn]
    ) -> tuple[list[outcome.Outcome[object]], writes.WriteBatch]:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        batch = writes.WriteBatch(
            conn=conn, schema=self.schema, index=self._index, dedup=self._dedup
        )
        txn = SqliteWriteTxn(batch)
        if not self._embedder_recorded:
            writes.record_embedder(conn, self._embedder_name)
        results: list[outcome.Outcome[object]] = []
        for fn in fns:
            mark = batch.mark()
            conn.execute("SAVEPOINT memhub_item")
            try:
                results.append(outcome.Value(fn(txn)))
                conn.execute("RELEASE memhub_item")
            except apsw.BusyError:
                raise  # the whole batch is retried
            except Exception as exc:
                conn.execute("ROLLBACK TO memhub_item")
                conn.execute("RELEASE memhub_item")
                batch.rollback_to(mark)
                results.append(outcome.Error(_as_service_error(exc)))
        conn.execute("COMMIT")
        self._embedder_recorded = True
        return results, batch

    def _after_commit(self, batch: writes.WriteBatch) -> None:
        if self._index is None:
            return
        for rowid, unit, created_at, _ in batch.inserted:
            self._index.add(rowid, unit, created_at)
        if batch.removed:
            self._index.remove(batch.removed)

    def _rollback(self) -> None:
        if not self.conn.in_transaction:
            return
        try:
            self.conn.execute("ROLLBACK")
        except apsw.Error as exc:  # the transaction may already be gone
            log.debug("rollback: %s", exc)

    def refusal(self) -> str | None:
        if self._refusal is None and self._file_watch is not None:
            self._refusal = self._file_watch.problem()
        return self._refusal

    def maintain(self, mode: Literal["passive", "truncate"]) -> bool:
        """A WAL checkpoint; TRUNCATE also shrinks the -wal file to zero.

        Only the daemon checkpoints: it is the one process that knows no other connection of
        its own is mid-write, which is what makes TRUNCATE safe here.
        """
        try:
            self.conn.execute(f"PRAGMA wal_checkpoint({mode.upper()})").fetchall()
        except apsw.BusyError:
            log.debug("checkpoint %s skipped: busy", mode)
            return False
        return True

    def log_bytes(self) -> int:
        try:
            return os.stat(self._wal_path).st_size
        except FileNotFoundError:
            return 0


class SqliteReadSession:
    """One read-only connection; each read in one snapshot, under a deadline."""

    def __init__(self, conn: apsw.Connection, schema: Schema, index: VectorIndex | None) -> None:
        self._conn = conn
        self._snapshot = SqliteSnapshot(conn, schema, index)

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
    """The engine, opened on one database file: its write session and a factory of readers."""

    def __init__(
        self,
        path: Path,
        pragmas: dict[str, str],
        writer: SqliteWriteSession,
        index: VectorIndex | None,
    ) -> None:
        self.path = path
        self._pragmas = pragmas
        self._writer = writer
        self._index = index

    @property
    def writer(self) -> SqliteWriteSession:
        return self._writer

    @property
    def schema(self) -> Schema:
        return self._writer.schema

    def open_reader(self) -> SqliteReadSession:
        conn = connect(self.path, readonly=True, pragmas=self._pragmas)
        return SqliteReadSession(conn, self._writer.schema, self._index)

    def sizes(self) -> tuple[int, int]:
        return _size(self.path), _size(Path(f"{self.path}-wal"))

    def indexed_vectors(self) -> int:
        return len(self._index) if self._index is not None else 0


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
