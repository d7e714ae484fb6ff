"""Reader actors: N read-only connections sharing one inbox, each query under a deadline.

In WAL mode a reader never waits for the writer and the writer never waits for a reader, so
searches keep flowing while a write batch is open. Each query runs in one read transaction (one
snapshot) and under a deadline enforced by SQLite's progress handler, so one slow scan fails
with a clear ``timeout`` instead of occupying a reader forever.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import apsw
import outcome
import trio

from memhub.actors.mailbox import Call, answer, ask
from memhub.errors import DatabaseError, InternalError, QueryTimeout, ServiceError
from memhub.storage.schema import connect

log = logging.getLogger(__name__)
ReadFn = Callable[[apsw.Connection], Any]
#: SQLite virtual-machine steps between deadline checks (~a few µs of work).
_PROGRESS_STEPS: Final = 2000


class ReaderPool:
    """``readers`` reader actors pulling from one inbox (trio's multiple-consumer pattern)."""

    def __init__(
        self,
        db_path: Path,
        pragmas: dict[str, str],
        *,
        readers: int,
        query_timeout_s: float,
        queue_size: int = 1024,
    ) -> None:
        self._db_path = db_path
        self._pragmas = pragmas
        self._readers = readers
        self._timeout = query_timeout_s
        self._send, self._recv = trio.open_memory_channel[Call[ReadFn, Any]](queue_size)
        self.queries = 0
        self.timeouts = 0
        self._total_ms = 0.0

    @property
    def size(self) -> int:
        return self._readers

    async def submit(self, fn: ReadFn) -> Any:
        """Run ``fn(conn)`` on some reader inside one read transaction."""
        return await ask(self._send, fn)

    def close(self) -> None:
        self._send.close()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        conns = []
        try:
            for _ in range(self._readers):
                conns.append(  # noqa: PERF401  (each open awaits a thread)
                    await trio.to_thread.run_sync(
                        lambda: connect(self._db_path, readonly=True, pragmas=self._pragmas)
                    )
                )
            async with trio.open_nursery() as nursery:
                for i, conn in enumerate(conns):
                    nursery.start_soon(self._serve, conn, self._recv.clone(), name=f"reader-{i}")
                self._recv.close()
                task_status.started()
        finally:
            for conn in conns:
                conn.close()

    async def _serve(
        self, conn: apsw.Connection, inbox: trio.MemoryReceiveChannel[Call[ReadFn, Any]]
    ) -> None:
        limiter = trio.CapacityLimiter(1)
        async with inbox:
            async for call in inbox:
                result = await trio.to_thread.run_sync(
                    self._run, conn, call.request, limiter=limiter
                )
                answer(call, result)

    def _run(self, conn: apsw.Connection, fn: ReadFn) -> outcome.Outcome[Any]:
        started = time.monotonic()
        try:
            result = self._query(conn, fn)
        finally:
            # Clear the deadline first: ending the snapshot must never be interrupted.
            conn.set_progress_handler(None)
            ended = _end_snapshot(conn)
            self.queries += 1
            self._total_ms += (time.monotonic() - started) * 1000
        if ended is not None and isinstance(result, outcome.Value):
            # The answer came from a snapshot that did not end cleanly: do not vouch for it.
            return outcome.Error(DatabaseError(f"the database could not be read: {ended}"))
        return result

    def _query(self, conn: apsw.Connection, fn: ReadFn) -> outcome.Outcome[Any]:
        deadline = time.monotonic() + self._timeout
        conn.set_progress_handler(lambda: time.monotonic() > deadline, _PROGRESS_STEPS)
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")  # the last snapshot could not be ended: end it now
            conn.execute("BEGIN")
            return outcome.Value(fn(conn))
        except apsw.InterruptError:
            self.timeouts += 1
            return outcome.Error(
                QueryTimeout(
                    f"the query took longer than {self._timeout:g} s and was stopped "
                    "(MEMHUB_QUERY_TIMEOUT); narrow it with tags, a time range or a lower limit"
                )
            )
        except ServiceError as exc:
            return outcome.Error(exc)
        except apsw.Error as exc:
            log.error("read failed: %s", exc)
            return outcome.Error(DatabaseError(f"the database could not be read: {exc}"))
        except Exception as exc:
            log.exception("read failed with an unexpected error")
            return outcome.Error(InternalError(f"internal error while reading: {exc}"))

    @property
    def queue_depth(self) -> int:
        return self._send.statistics().current_buffer_used

    @property
    def mean_query_ms(self) -> float:
        return self._total_ms / self.queries if self.queries else 0.0


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
