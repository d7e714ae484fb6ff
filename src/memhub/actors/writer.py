"""The writer actor: the only connection that writes, committing queued writes in groups.

Each write is a function of a :class:`~memhub.storage.writes.WriteBatch`. The actor takes the first
queued write, adds whatever else is already queued (no added delay), and runs them all in one
``BEGIN IMMEDIATE … COMMIT`` with a SAVEPOINT per write, so one bad write fails alone and the
rest of its batch commits. Each caller is answered only after the COMMIT returned: an ack means
the row is in the database.

``BEGIN IMMEDIATE`` takes the write lock before reading anything, which is what keeps another
process writing the same file (a legacy server, a backup tool) from ever causing a failed or
lost write here: at worst the lock is busy, and the whole batch is retried with backoff, counted
in :meth:`WriterActor.statistics`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final, TypeVar, cast

import apsw
import outcome
import trio

from memhub.actors.events import EventHub
from memhub.actors.mailbox import Call, answer, ask, drain_nowait
from memhub.errors import DatabaseBusy, DatabaseError, InternalError, ServiceError
from memhub.protocol import messages as m
from memhub.storage.filewatch import FileWatch
from memhub.storage.schema import Schema
from memhub.storage.vectors import VectorIndex
from memhub.storage.writes import DedupPolicy, WriteBatch, record_embedder

log = logging.getLogger(__name__)
T = TypeVar("T")
WriteFn = Callable[[WriteBatch], object]
"""A queued write as the actor sees it; :meth:`WriterActor.submit` restores its result type."""
_BACKOFF_START_S: Final = 0.02
_BACKOFF_MAX_S: Final = 1.0


class WriterActor:
    """Owns the write connection; see the module docstring for the batching rule."""

    def __init__(
        self,
        conn: apsw.Connection,
        schema: Schema,
        *,
        index: VectorIndex | None,
        hub: EventHub,
        dedup: DedupPolicy,
        embedder_name: str,
        max_batch: int,
        queue_size: int,
        busy_retries: int,
        checkpoint_wal_bytes: int,
        file_watch: FileWatch | None = None,
    ) -> None:
        self.conn = conn
        self.schema = schema
        self._index = index
        self._hub = hub
        self._dedup = dedup
        self._embedder_name = embedder_name
        self._max_batch = max_batch
        self._busy_retries = busy_retries
        self._checkpoint_wal_bytes = checkpoint_wal_bytes
        self._file_watch = file_watch
        self.file_problem: str | None = None  # set once the database file is gone: no more writes
        self.file_problem_seen = trio.Event()
        self._wal_path = Path(conn.filename + "-wal")
        self._send, self._recv = trio.open_memory_channel[Call[WriteFn, object]](queue_size)
        self._limiter = trio.CapacityLimiter(1)  # the connection is used by one thread at a time
        self._embedder_recorded = schema.embedder == embedder_name
        self.last_write = time.monotonic()
        # statistics
        self.batches = 0
        self.writes = 0
        self.last_batch_size = 0
        self.max_batch_size = 0
        self.busy_retries = 0
        self.busy_failures = 0
        self.checkpoints = 0

    async def submit(self, fn: Callable[[WriteBatch], T]) -> T:
        """Queue one write and wait until it is committed (or failed); ``fn``'s result."""
        # The inbox holds writes of every result type; the answer to this call is what ``fn``
        # returned, so the cast only restores the type the queue erased.
        return cast("T", await ask(self._send, fn))

    def close(self) -> None:
        """Stop accepting writes; the actor commits what is queued, then returns."""
        self._send.close()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        async with self._recv:
            while True:
                try:
                    first = await self._recv.receive()
                except trio.EndOfChannel:
                    return
                calls = drain_nowait(self._recv, first, self._max_batch)
                fns = [c.request for c in calls]
                results, events = await trio.to_thread.run_sync(
                    self._commit_batch, fns, limiter=self._limiter
                )
                for call, result in zip(calls, results, strict=True):
                    answer(call, result)
                if self.file_problem is not None:
                    self.file_problem_seen.set()
                if events:
                    self._hub.publish(events)
                self.last_write = time.monotonic()
                if self._wal_size() > self._checkpoint_wal_bytes:
                    await self.checkpoint("PASSIVE")

    # -- in the worker thread -------------------------------------------------------------------

    def _commit_batch(
        self, fns: list[WriteFn]
    ) -> tuple[list[outcome.Outcome[object]], list[m.Event]]:
        problem = self.check_file()
        if problem is not None:
            lost = DatabaseError(f"nothing was written: {problem}; the daemon is stopping")
            return [outcome.Error(lost) for _ in fns], []
        delay = _BACKOFF_START_S
        for attempt in range(self._busy_retries + 1):
            try:
                results, batch = self._try_batch(fns)
            except apsw.BusyError:
                self._rollback()
                if attempt == self._busy_retries:
                    break
                self.busy_retries += 1
                log.warning("database busy (another process is writing); retry %d", attempt + 1)
                time.sleep(delay)
                delay = min(delay * 2, _BACKOFF_MAX_S)
                continue
            except apsw.Error as exc:
                self._rollback()
                log.error("write batch failed: %s", exc)
                error = DatabaseError(f"the database refused the write: {exc}")
                return [outcome.Error(error) for _ in fns], []
            self._after_commit(batch)
            self.batches += 1
            self.writes += len(fns)
            self.last_batch_size = len(fns)
            self.max_batch_size = max(self.max_batch_size, len(fns))
            return results, batch.events
        self.busy_failures += 1
        busy = DatabaseBusy(
            f"{self.conn.filename}: the database stayed locked by another process through "
            f"{self._busy_retries} retries; nothing was written. Close the other program or "
            "raise busy_timeout in MCP_MEMORY_SQLITE_PRAGMAS"
        )
        return [outcome.Error(busy) for _ in fns], []

    def _try_batch(self, fns: list[WriteFn]) -> tuple[list[outcome.Outcome[object]], WriteBatch]:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        batch = WriteBatch(conn=conn, schema=self.schema, index=self._index, dedup=self._dedup)
        if not self._embedder_recorded:
            record_embedder(conn, self._embedder_name)
        results: list[outcome.Outcome[object]] = []
        for fn in fns:
            mark = batch.mark()
            conn.execute("SAVEPOINT memhub_item")
            try:
                results.append(outcome.Value(fn(batch)))
                conn.execute("RELEASE memhub_item")
            except apsw.BusyError:
                raise  # the whole batch is retried
            except (ServiceError, apsw.Error, Exception) as exc:
                conn.execute("ROLLBACK TO memhub_item")
                conn.execute("RELEASE memhub_item")
                batch.rollback_to(mark)
                results.append(outcome.Error(_as_service_error(exc)))
        conn.execute("COMMIT")
        self._embedder_recorded = True
        return results, batch

    def _after_commit(self, batch: WriteBatch) -> None:
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

    def check_file(self) -> str | None:
        """The reason writes are refused (the database file is gone), or None.

        Runs in the worker thread before each batch, and from the daemon's periodic check.
        """
        if self.file_problem is None and self._file_watch is not None:
            self.file_problem = self._file_watch.problem()
        return self.file_problem

    # -- checkpoints ----------------------------------------------------------------------------

    def _wal_size(self) -> int:
        try:
            return os.stat(self._wal_path).st_size
        except FileNotFoundError:
            return 0

    async def checkpoint(self, mode: str = "PASSIVE") -> None:
        """Copy the WAL back into the database; TRUNCATE also shrinks the -wal file to zero.

        Only the daemon checkpoints: it is the one process that knows no other connection of
        its own is mid-write, which is what makes TRUNCATE safe here.
        """
        assert mode in ("PASSIVE", "FULL", "RESTART", "TRUNCATE")

        def run() -> None:
            try:
                self.conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchall()
                self.checkpoints += 1
            except apsw.BusyError:
                log.debug("checkpoint %s skipped: busy", mode)

        await trio.to_thread.run_sync(run, limiter=self._limiter)

    def statistics(self) -> m.WriterStats:
        return m.WriterStats(
            queue_depth=self._recv.statistics().current_buffer_used,
            batches=self.batches,
            writes=self.writes,
            last_batch_size=self.last_batch_size,
            max_batch_size=self.max_batch_size,
            mean_batch_size=self.writes / self.batches if self.batches else 0.0,
            busy_retries=self.busy_retries,
            busy_failures=self.busy_failures,
            checkpoints=self.checkpoints,
        )


def _as_service_error(exc: BaseException) -> ServiceError:
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, apsw.Error):
        return DatabaseError(f"the database refused the write: {exc}")
    log.exception("write failed with an unexpected error", exc_info=exc)
    return InternalError(f"internal error while writing: {type(exc).__name__}: {exc}")
