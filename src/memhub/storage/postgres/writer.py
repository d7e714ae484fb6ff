"""The team store's one write connection per daemon: locked batches and what a fault does to them.

A batch is ``BEGIN`` (READ COMMITTED) → ``pg_advisory_xact_lock(<store>)`` with the
transaction's id → one SAVEPOINT per write → its changes appended to ``changes`` → one
``pg_notify`` → ``COMMIT``. The lock gives one total commit order across every daemon of the
store. A caller is answered only after its COMMIT is known to have happened:

* the connection is lost *before* COMMIT was sent: the server rolled the transaction back, so
  the batch runs again on a new connection (a restarted server, a terminated backend), or
  fails with "nothing was written" if the server cannot be reached;
* the connection is lost *during* COMMIT (the reply never came): the transaction may or may not
  have committed. The session reconnects and asks the server (``pg_xact_status`` of the id it
  noted after the lock): committed, the callers get their results; rolled back, the batch runs
  again; if the server cannot be asked in time, the callers get an error that says the outcome
  is unknown, never an ack and never a false "nothing was written".

Batches are optimistic: the writes run without savepoints (each SAVEPOINT and RELEASE is a
round trip, and a batch's time under the store's lock is every machine's wait), and a write that
fails before changing anything (a duplicate, an unknown hash) simply fails alone. Only when a
write fails after changing something, or a statement fails (which aborts the whole transaction
in PostgreSQL), is the batch rolled back and run again with one savepoint per write, so that
each still fails alone. Beginning and taking the lock are one round trip, and so are the
NOTIFY and the COMMIT.

A role without the privileges to write (a read-only member) is refused before the lock: see
:mod:`~memhub.storage.postgres.privileges`. The session's own settings bound how long it waits
for the lock (``lock_timeout``: a busy store is retried by the writer actor) and how long the
server lets it sit idle inside a transaction (``idle_in_transaction_session_timeout``: a daemon
frozen mid-batch cannot hold every other machine's writes for longer than that).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, Final

import outcome
import psycopg
from psycopg import errors as pg_errors

from memhub.errors import DatabaseError, InternalError, ServiceError
from memhub.protocol import messages as m
from memhub.storage.engine import MoreCalls, StorageBusy, WriteCall
from memhub.storage.mirror import VectorIndex
from memhub.storage.model import DedupPolicy, Filters, NewMemory
from memhub.storage.postgres import writes
from memhub.storage.postgres.connections import Conn, Connector, explain, lost, reason
from memhub.storage.postgres.counting import CountingCursor
from memhub.storage.postgres.graph import GraphWrites
from memhub.storage.postgres.privileges import missing_privileges, read_only_error

log = logging.getLogger(__name__)
CHANNEL_PREFIX: Final = "memhub_changes_"
SESSION_OPTIONS: Final = "-c lock_timeout=5s -c idle_in_transaction_session_timeout=30s"
#: Runs of one batch at most: the first, and again after a lost connection or a rollback.
ATTEMPTS: Final = 3
#: How long the outcome of an interrupted COMMIT is asked after (the server may be restarting).
RESOLVE_S: Final = 5.0
#: How often a read-only session asks again whether it may write now.
RECHECK_S: Final = 5.0


class _Lost(Exception):
    """The connection was lost before COMMIT was sent: the server rolled the batch back."""


class _NeedsSavepoints(Exception):
    """A write failed after it had changed something (or a statement failed, which aborts the
    transaction): the batch runs again from the start, each write in its own savepoint."""


class _Interrupted(Exception):
    """The connection was lost while COMMIT was under way: the outcome is the server's to tell."""

    def __init__(self, xid: str, results: list[outcome.Outcome[object]]) -> None:
        super().__init__(xid)
        self.xid = xid
        self.results = results


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
        self,
        connector: Connector,
        *,
        index: VectorIndex | None,
        dedup: DedupPolicy,
        origin: str,
        missing: list[str] | None = None,
    ) -> None:
        self._connector = connector
        self._target = connector.target
        self._index = index
        self._dedup = dedup
        self._origin = origin
        self._conn: Conn | None = None
        self._upkeep_runs = 0
        self._missing = list(missing or [])  # privileges the role lacks to write
        self._checked_at = time.monotonic()
        self._denied = False
        self.channel = CHANNEL_PREFIX + self._target.schema
        self.retried = 0  # batches run again after a lost connection or a rollback
        self.resolved = 0  # interrupted COMMITs whose outcome the server told

    @property
    def read_only(self) -> bool:
        return bool(self._missing)

    def _connection(self) -> Conn:
        if self._conn is None or lost(self._conn):
            if self._conn is not None:
                self._conn.close()
            self._conn = None
            self._conn = self._connector.connect(autocommit=True, options=SESSION_OPTIONS)
        return self._conn

    def _connected(self, what: str) -> Conn:
        try:
            return self._connection()
        except psycopg.Error as exc:
            raise DatabaseError(
                f"the PostgreSQL server {self._target.location} cannot be reached ({reason(exc)}); "
                f"{what}"
            ) from None

    def run_batch(
        self, calls: Sequence[WriteCall], more: MoreCalls | None = None
    ) -> list[outcome.Outcome[object]]:
        self._refuse_if_read_only()
        batch_calls = list(calls)  # grows by what ``more`` hands over, on the first run only
        savepoints = False
        attempt = 0
        while attempt < ATTEMPTS:
            attempt += 1
            conn = self._connected("nothing was written")
            take, more = more, None
            try:
                results = self._try_batch(conn, batch_calls, savepoints=savepoints, more=take)
            except _NeedsSavepoints:
                self._rollback()
                savepoints = True
                attempt -= 1  # not a fault: the same batch, done the careful way
                continue
            except _Lost as exc:
                self._drop()
                if attempt == ATTEMPTS:
                    raise DatabaseError(
                        f"the PostgreSQL server {self._target.location} closed the connection "
                        f"during the write ({exc}); nothing was written"
                    ) from None
                log.info("the write connection was lost (%s); running the batch again", exc)
            except _Interrupted as exc:
                self._drop()
                committed = self._resolve(exc.xid)
                if committed is True:
                    self.resolved += 1
                    log.info("an interrupted COMMIT had committed (xid %s)", exc.xid)
                    return exc.results
                if committed is None:
                    raise DatabaseError(
                        f"the connection to the PostgreSQL server {self._target.location} broke "
                        "while the write was being committed, and the server could not be asked "
                        "whether it was; the write may or may not have been stored"
                    ) from None
                self.resolved += 1
                log.info(
                    "an interrupted COMMIT had rolled back (xid %s); running it again", exc.xid
                )
            except pg_errors.LockNotAvailable:
                self._rollback()
                raise StorageBusy(
                    f"{self._target.location}: the store's write lock is busy"
                ) from None
            except psycopg.Error as exc:
                self._rollback()
                raise explain(self._target, exc, "commit the write; nothing was written") from None
            else:
                if self._denied:
                    self._denied = False
                    self._recheck(force=True)
                return results
            self.retried += 1
        raise AssertionError("unreachable")  # pragma: no cover

    def _refuse_if_read_only(self) -> None:
        if self._missing:
            self._recheck()
        if self._missing:
            raise read_only_error(self._target, self._missing)

    def _recheck(self, *, force: bool = False) -> None:
        """Ask the server again which privileges the role lacks (an admin may have granted)."""
        if not force and time.monotonic() - self._checked_at < RECHECK_S:
            return
        conn = self._connected("nothing was written")
        try:
            self._missing = missing_privileges(conn, self._target.schema)
        except psycopg.Error as exc:
            self._rollback()
            raise explain(self._target, exc, "be asked for its privileges") from None
        self._checked_at = time.monotonic()

    def _try_batch(
        self,
        conn: Conn,
        calls: list[WriteCall],
        *,
        savepoints: bool,
        more: MoreCalls | None,
    ) -> list[outcome.Outcome[object]]:
        results: list[outcome.Outcome[object]] = []
        with CountingCursor.on(conn) as cur:
            try:
                # The transaction's id comes with the lock: what the server is asked about if
                # the reply to COMMIT never comes. (Literals only: one round trip for both.)
                begun = conn.execute(
                    "BEGIN ISOLATION LEVEL READ COMMITTED; "
                    f"SELECT pg_advisory_xact_lock({int(self._target.lock_id)}), "
                    "pg_current_xact_id()::text"
                )
                begun.nextset()  # past BEGIN's result, to the SELECT's
                row = begun.fetchone()
                assert row is not None
                xid = str(row[1])
                if more is not None:
                    calls.extend(more())  # queued while we waited for the lock
                batch = writes.PgBatch(
                    cur=cur, index=self._index, dedup=self._dedup, origin=self._origin
                )
                txn = PgWriteTxn(batch)
                results.extend(self._run_call(cur, batch, txn, call, savepoints) for call in calls)
            except psycopg.OperationalError as exc:
                if lost(conn):
                    raise _Lost(reason(exc)) from None
                raise
            # One wake-up per batch, under the lock that already orders commits.
            finish = f"NOTIFY {self.channel}; COMMIT" if batch.changes else "COMMIT"
            try:
                conn.execute(finish)
            except psycopg.OperationalError:
                if lost(conn):
                    raise _Interrupted(xid, results) from None
                raise
        return results

    def _run_call(
        self,
        cur: CountingCursor,
        batch: writes.PgBatch,
        txn: PgWriteTxn,
        call: WriteCall,
        savepoints: bool,
    ) -> outcome.Outcome[object]:
        mark = batch.mark()
        wrote = cur.changes
        batch.client = call.client
        if savepoints:
            cur.execute("SAVEPOINT memhub_item")
        try:
            value = call.fn(txn)
            if savepoints:
                cur.execute("RELEASE SAVEPOINT memhub_item")
            return outcome.Value(value)
        except psycopg.OperationalError:
            raise  # the connection is gone or the statement was cancelled: the whole batch failed
        except Exception as exc:
            if not savepoints and (isinstance(exc, psycopg.Error) or cur.changes != wrote):
                raise _NeedsSavepoints from None
            if savepoints:
                cur.execute("ROLLBACK TO SAVEPOINT memhub_item")
                cur.execute("RELEASE SAVEPOINT memhub_item")
            batch.rollback_to(mark)
            if isinstance(exc, pg_errors.InsufficientPrivilege):
                self._denied = True  # revoked since the last check: ask again after the batch
            return outcome.Error(self._as_service_error(exc))

    def _resolve(self, xid: str) -> bool | None:
        """Whether transaction ``xid`` committed (None: the server could not say in time)."""
        deadline = time.monotonic() + RESOLVE_S
        while time.monotonic() < deadline:
            try:
                with self._connector.connect(autocommit=True) as conn:
                    row = conn.execute("SELECT pg_xact_status(%s::xid8)", (xid,)).fetchone()
            except psycopg.OperationalError:
                time.sleep(0.1)  # the server is restarting (crash recovery) or unreachable
                continue
            except pg_errors.InvalidParameterValue as exc:
                # "transaction ID … is in the future": the server restarted without any WAL of
                # it, so no commit record exists and it cannot have committed.
                log.info("an interrupted COMMIT left no trace (%s)", reason(exc))
                return False
            except psycopg.Error as exc:
                log.warning("the outcome of transaction %s cannot be asked: %s", xid, reason(exc))
                return None
            status = row[0] if row else None
            if status == "committed":
                return True
            if status == "aborted":
                return False
            if status != "in progress":
                return None  # too old to tell: never the case seconds after the COMMIT
            time.sleep(0.05)  # the backend has not finished with it yet
        return None

    def _as_service_error(self, exc: BaseException) -> ServiceError:
        if isinstance(exc, ServiceError):
            return exc
        if isinstance(exc, psycopg.Error):
            return explain(self._target, exc, "write")
        log.exception("write failed with an unexpected error", exc_info=exc)
        return InternalError(f"internal error while writing: {type(exc).__name__}: {exc}")

    def _rollback(self) -> None:
        conn = self._conn
        try:
            if conn is not None and not lost(conn):
                conn.rollback()
        except psycopg.Error as exc:
            log.debug("rollback: %s", reason(exc))

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

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
        self._drop()
