"""The writer actor: the only writer, committing queued writes in groups.

Each write is a function of a :class:`~memhub.storage.engine.WriteTxn`, queued with the name of
the client that asked for it. The actor takes the first queued write, adds whatever else is
already queued (no added delay), and hands them all to the storage engine's write session,
which runs them in one transaction with each write isolated, so one bad write fails alone and
the rest of its batch commits. Each caller is answered only after the commit: an ack means the
row is in the database. What the batch changed reaches subscribers, the vector mirror and the
counts through the change feed (the actor only wakes the follower). An engine whose lock waits
for other machines (a team store) may also take, once it holds the lock, the writes queued while
it waited: under contention one wait then serves many writes instead of one each.

The engine takes the write lock before reading anything (SQLite: ``BEGIN IMMEDIATE``), which is
what keeps another process writing the same file (a legacy server, a backup tool) from ever
causing a failed or lost write here: at worst the lock is busy, the session raises
:class:`~memhub.storage.engine.StorageBusy`, and the whole batch is retried with backoff,
counted in :meth:`WriterActor.statistics`.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from typing import Final, TypeVar, cast

import outcome
import trio

from memhub.actors.mailbox import Call, answer, ask, drain_nowait
from memhub.errors import DatabaseBusy, DatabaseError, InternalError, ServiceError
from memhub.protocol import messages as m
from memhub.storage.engine import MoreCalls, StorageBusy, WriteCall, WriteSession, WriteTxn

log = logging.getLogger(__name__)
T = TypeVar("T")
_BACKOFF_START_S: Final = 0.02
_BACKOFF_MAX_S: Final = 1.0
#: How often, between batches, the writer looks for commits by other programs.
OBSERVE_S: Final = 1.0


class WriterActor:
    """Owns the write session; see the module docstring for the batching rule."""

    def __init__(
        self,
        session: WriteSession,
        *,
        max_batch: int,
        queue_size: int,
        busy_retries: int,
        on_commit: Callable[[], None] = lambda: None,
        observe_s: float = OBSERVE_S,
    ) -> None:
        self.session = session
        self._on_commit = on_commit  # the change follower's wake-up
        self._max_batch = max_batch
        self._busy_retries = busy_retries
        self._observe_s = observe_s
        self.file_problem: str | None = None  # set once the store is gone: no more writes
        self.file_problem_seen = trio.Event()
        #: Why the last batch failed as a whole (disk full, server down…); None once one commits.
        self.failing: str | None = None
        self._send, self._recv = trio.open_memory_channel[Call[WriteCall, object]](queue_size)
        self._limiter = trio.CapacityLimiter(1)  # the session is used by one thread at a time
        self.last_write = time.monotonic()
        # statistics
        self.batches = 0
        self.writes = 0
        self.last_batch_size = 0
        self.max_batch_size = 0
        self.busy_retries = 0
        self.busy_failures = 0

    async def submit(self, fn: Callable[[WriteTxn], T], *, client: str = "") -> T:
        """Queue one write for ``client`` and wait until it is committed (or failed); ``fn``'s
        result."""
        # The inbox holds writes of every result type; the answer to this call is what ``fn``
        # returned, so the cast only restores the type the queue erased.
        return cast("T", await ask(self._send, WriteCall(fn, client)))

    def close(self) -> None:
        """Stop accepting writes; the actor commits what is queued, then returns."""
        self._send.close()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        async with self._recv:
            while True:
                first = None
                with trio.move_on_after(self._observe_s):
                    try:
                        first = await self._recv.receive()
                    except trio.EndOfChannel:
                        return
                if first is None:
                    await self.observe_others()
                    continue
                calls = drain_nowait(self._recv, first, self._max_batch)
                joined: list[Call[WriteCall, object]] = []
                more = functools.partial(self._more, len(calls), joined)
                results = await trio.to_thread.run_sync(
                    self._commit_batch, [c.request for c in calls], more, limiter=self._limiter
                )
                for call, result in zip([*calls, *joined], results, strict=True):
                    answer(call, result)
                self._on_commit()
                if self.file_problem is not None:
                    self.file_problem_seen.set()
                self.last_write = time.monotonic()
                if self.session.needs_upkeep():
                    await self.upkeep()

    def _more(self, taken: int, joined: list[Call[WriteCall, object]]) -> list[WriteCall]:
        """In the worker thread, once the engine holds its lock: the writes queued since the
        batch was taken (they are answered with it)."""
        room = self._max_batch - taken - len(joined)
        got = trio.from_thread.run_sync(_take, self._recv, room) if room > 0 else []
        joined.extend(got)
        return [c.request for c in got]

    async def observe_others(self) -> None:
        """Record what other programs committed so far, and wake the follower if they did
        (idle, and before answers that must count everything in the store)."""
        if await trio.to_thread.run_sync(self.session.observe_others, limiter=self._limiter):
            self._on_commit()

    # -- in the worker thread -------------------------------------------------------------------

    def _commit_batch(
        self, first: list[WriteCall], more: MoreCalls
    ) -> list[outcome.Outcome[object]]:
        problem = self.check_file()
        if problem is not None:
            lost = DatabaseError(f"nothing was written: {problem}; the daemon is stopping")
            return [outcome.Error(lost) for _ in first]
        fns = list(first)

        def taken() -> Sequence[WriteCall]:
            got = more()
            fns.extend(got)  # a retry after a busy lock runs them again too
            return got

        delay = _BACKOFF_START_S
        for attempt in range(self._busy_retries + 1):
            try:
                results = self.session.run_batch(list(fns), taken)
            except StorageBusy:
                if attempt == self._busy_retries:
                    break
                self.busy_retries += 1
                log.warning("database busy (another process is writing); retry %d", attempt + 1)
                time.sleep(delay)
                delay = min(delay * 2, _BACKOFF_MAX_S)
                continue
            except ServiceError as exc:
                log.error("write batch failed: %s", exc.message)
                self.failing = exc.message
                return [outcome.Error(exc) for _ in fns]
            except Exception as exc:
                log.exception("write batch failed with an unexpected error")
                error = InternalError(f"internal error while writing: {exc}")
                self.failing = error.message
                return [outcome.Error(error) for _ in fns]
            self.failing = None
            self.batches += 1
            self.writes += len(fns)
            self.last_batch_size = len(fns)
            self.max_batch_size = max(self.max_batch_size, len(fns))
            return results
        self.busy_failures += 1
        busy = DatabaseBusy(
            f"the database stayed locked by another process through {self._busy_retries} "
            "retries; nothing was written. Close the other program or raise busy_timeout in "
            "MCP_MEMORY_SQLITE_PRAGMAS"
        )
        return [outcome.Error(busy) for _ in fns]

    def check_file(self) -> str | None:
        """The reason writes are refused (the store is gone), or None.

        Runs in the worker thread before each batch, and from the daemon's periodic check.
        """
        if self.file_problem is None:
            self.file_problem = self.session.problem()
        return self.file_problem

    # -- upkeep ---------------------------------------------------------------------------------

    async def upkeep(self, *, thorough: bool = False) -> None:
        """Engine housekeeping between batches (SQLite: fold the WAL back into the file)."""
        await trio.to_thread.run_sync(
            lambda: self.session.upkeep(thorough=thorough), limiter=self._limiter
        )

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
            upkeep_runs=self.session.upkeep_runs,
        )


def _take(
    inbox: trio.MemoryReceiveChannel[Call[WriteCall, object]], room: int
) -> list[Call[WriteCall, object]]:
    """Up to ``room`` queued writes, without waiting (in the trio thread)."""
    got: list[Call[WriteCall, object]] = []
    while len(got) < room:
        try:
            got.append(inbox.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):
            break
    return got
