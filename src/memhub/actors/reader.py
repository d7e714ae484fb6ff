"""Reader actors: N read sessions sharing one inbox, each query in one snapshot, under a deadline.

In WAL mode a reader never waits for the writer and the writer never waits for a reader, so
searches keep flowing while a write batch is open. Each query runs in one snapshot and under a
deadline (SQLite enforces it with its progress handler), so one slow scan fails with a clear
``timeout`` instead of occupying a reader forever.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final, TypeVar, cast

import attrs
import outcome
import trio

from memhub.actors.mailbox import Call, answer, ask
from memhub.errors import InternalError, QueryTimeout, ServiceError
from memhub.storage.engine import ReadSession, ReadTimeout, Snapshot

log = logging.getLogger(__name__)
T = TypeVar("T")
ReadFn = Callable[[Snapshot], object]
INTERRUPT_EVERY_S: Final = 0.05


@attrs.frozen
class _Timed:
    """A read with a deadline of its own instead of the pool's (``submit(timeout_s=…)``)."""

    fn: ReadFn
    timeout_s: float

    def __call__(self, snap: Snapshot) -> object:
        return self.fn(snap)


class ReaderPool:
    """``readers`` reader actors pulling from one inbox (trio's multiple-consumer pattern)."""

    def __init__(
        self,
        open_reader: Callable[[], ReadSession],
        *,
        readers: int,
        query_timeout_s: float,
        queue_size: int = 1024,
    ) -> None:
        self._open_reader = open_reader  # Storage.open_reader: a new read session
        self._readers = readers
        self._timeout = query_timeout_s
        self._send, self._recv = trio.open_memory_channel[Call[ReadFn, object]](queue_size)
        self._sessions: list[ReadSession] = []
        self._done = trio.Event()  # every reader has ended
        self.queries = 0
        self.timeouts = 0
        self._total_ms = 0.0

    @property
    def size(self) -> int:
        return self._readers

    async def submit(self, fn: Callable[[Snapshot], T], *, timeout_s: float | None = None) -> T:
        """Run ``fn(snapshot)`` on some reader inside one snapshot; ``fn``'s result.

        ``timeout_s`` replaces ``MEMHUB_QUERY_TIMEOUT`` for this read: for the daemon's own
        work that must finish (a full count of a large store), not for requests.
        """
        request: ReadFn = fn if timeout_s is None else _Timed(fn, timeout_s)
        # The inbox holds reads of every result type; the cast restores this one's.
        return cast("T", await ask(self._send, request))

    def close(self) -> None:
        """Take no more reads; those queued and running go on (see :meth:`stop`)."""
        self._send.close()

    async def stop(self, grace_s: float) -> None:
        """Close, give the reads in progress ``grace_s`` to end, then interrupt what still runs
        (a stop must not wait for a full count of a large store)."""
        self.close()
        with trio.move_on_after(grace_s):
            await self._done.wait()
        # Again and again: an interrupt between two statements of a read is a no-op, and
        # reads still queued start after it. (Sessions close only once _done is set, and
        # nothing awaits between the check and the interrupts.)
        while not self._done.is_set():
            for session in self._sessions:
                session.interrupt()
            with trio.move_on_after(INTERRUPT_EVERY_S):
                await self._done.wait()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        sessions = self._sessions
        try:
            for _ in range(self._readers):
                sessions.append(  # each open awaits a thread
                    await trio.to_thread.run_sync(self._open_reader)
                )
            async with trio.open_nursery() as nursery:
                for i, session in enumerate(sessions):
                    nursery.start_soon(self._serve, session, self._recv.clone(), name=f"reader-{i}")
                self._recv.close()
                task_status.started()
        finally:
            self._done.set()
            for session in sessions:
                session.close()

    async def _serve(
        self, session: ReadSession, inbox: trio.MemoryReceiveChannel[Call[ReadFn, object]]
    ) -> None:
        limiter = trio.CapacityLimiter(1)
        async with inbox:
            async for call in inbox:
                result = await trio.to_thread.run_sync(
                    self._run, session, call.request, limiter=limiter
                )
                answer(call, result)

    def _run(self, session: ReadSession, fn: ReadFn) -> outcome.Outcome[object]:
        started = time.monotonic()
        timeout = fn.timeout_s if isinstance(fn, _Timed) else self._timeout
        try:
            return outcome.Value(session.run(fn, started + timeout))
        except ReadTimeout:
            self.timeouts += 1
            return outcome.Error(
                QueryTimeout(
                    f"the query took longer than {timeout:g} s and was stopped "
                    "(MEMHUB_QUERY_TIMEOUT); narrow it with tags, a time range or a lower limit"
                )
            )
        except ServiceError as exc:
            return outcome.Error(exc)
        except Exception as exc:
            log.exception("read failed with an unexpected error")
            return outcome.Error(InternalError(f"internal error while reading: {exc}"))
        finally:
            self.queries += 1
            self._total_ms += (time.monotonic() - started) * 1000

    @property
    def queue_depth(self) -> int:
        return self._send.statistics().current_buffer_used

    @property
    def mean_query_ms(self) -> float:
        return self._total_ms / self.queries if self.queries else 0.0
