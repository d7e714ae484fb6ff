"""Counts over the whole store for the web UI: tags, types, memories per day, per store.

A full count is a table scan (hundreds of ms at 100k memories), so it runs once, in a reader's
snapshot whose place in the change feed the engine tells (``Snapshot.aggregate_totals``), and
from then on the counts follow the feed with a cursor of their own (:class:`FeedCounts`, advanced
by :class:`~memhub.actors.follower.ChangeFollower`): each stored, updated and deleted memory moves
them by its facets. Only a change the feed cannot itemise (another program edited rows in the
file) costs a recount, on the next request.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Final, Protocol, TypeVar

import trio
import trio.lowlevel

from memhub.errors import BadRequest
from memhub.protocol import messages as m
from memhub.storage.model import Totals, local_day

if TYPE_CHECKING:
    from memhub.storage.engine import Cursor, Snapshot
    from memhub.storage.model import ChangeBatch

T = TypeVar("T")
MAX_TAGS: Final = 10_000
MAX_DAYS: Final = 3660
#: A full count reads every row (about 10 s at a million memories on a busy 2-core host, far
#: more on a slow disk): it is the daemon's own work and must finish, not a request to cut off.
COUNT_TIMEOUT_S: Final = 600.0


class FeedCounts:
    """Per-store totals kept at a position of the change feed (trio thread only)."""

    def __init__(self) -> None:
        self.by_store: dict[str, Totals] | None = None
        self.cursor: Cursor | None = None  # where by_store is exact; None: nothing counted
        self.recounts = 0

    def install(self, by_store: dict[str, Totals], at: Cursor) -> None:
        self.by_store, self.cursor = by_store, at
        self.recounts += 1

    def follow(self, at: Cursor, batch: ChangeBatch) -> None:
        """Apply ``batch`` (read from ``at``) if the counts stand at ``at``."""
        if self.by_store is None or self.cursor is not at:
            return
        if batch.resync:
            self.by_store, self.cursor = None, None  # recount on the next request
            return
        for change in batch.changes:
            if change.before is not None:
                self._totals(change.before.store).count(change.before, -1)
            after = change.after
            if after is not None:
                self._totals(after.store).count(after, 1)
        self.cursor = batch.cursor

    def _totals(self, store: str) -> Totals:
        assert self.by_store is not None
        return self.by_store.setdefault(store, Totals())


class Reads(Protocol):
    """Where reads run (the reader pool)."""

    async def submit(self, fn: Callable[[Snapshot], T], *, timeout_s: float | None = None) -> T: ...


class StoreCounts:
    """Answers ``count_tags``, ``count_types`` and ``count_days`` from the followed totals."""

    def __init__(
        self,
        readers: Reads,
        counts: FeedCounts,
        *,
        wake: Callable[[], None],
        settle: Callable[[], Awaitable[None]],
    ) -> None:
        self._readers = readers
        self._counts = counts
        self._wake = wake  # the follower: start following the new counts at once
        self._settle = settle  # the feed has everything committed so far, and the counts too
        self._recount = trio.Lock()

    async def totals(self, store: str | None) -> Totals:
        """The totals of ``store`` (None: every store together), exact as of this call."""
        await self._settle()
        by_store = self._counts.by_store
        if by_store is None:
            async with self._recount:
                by_store = self._counts.by_store
                if by_store is None:
                    by_store = await self._count_from_scratch()
        if store is not None:
            return by_store.get(store, Totals())
        return _merged(by_store.values())

    async def memories_if_counted(self, store: str | None) -> int | None:
        """How many memories ``store`` holds (None: every store), exact as of this call, if the
        totals are being followed; None if only a full count could tell (never started here:
        a list must not wait seconds for a recount of a large store)."""
        await self._settle()
        by_store = self._counts.by_store
        if by_store is None:
            return None
        if store is not None:
            return by_store[store].memories if store in by_store else 0
        return sum(t.memories for t in by_store.values())

    async def _count_from_scratch(self) -> dict[str, Totals]:
        while True:
            found = await self._readers.submit(
                lambda snap: snap.aggregate_totals(), timeout_s=COUNT_TIMEOUT_S
            )
            if found is not None:
                break
            await trio.lowlevel.checkpoint()  # a commit raced the snapshot's start: take another
        by_store, at = found
        self._counts.install(by_store, at)
        self._wake()
        return by_store

    async def tags(self, req: m.CountTags) -> m.TagCounts:
        limit = bounded(req.limit, MAX_TAGS, "limit")
        totals = await self.totals(None)
        tags = [m.TagCount(tag=tag, count=n) for tag, n in totals.ranked_tags(limit)]
        return m.TagCounts(id=req.id, tags=tags, distinct=totals.distinct_tags)

    async def types(self, req: m.CountTypes) -> m.TypeCounts:
        totals = await self.totals(None)
        types = [m.TypeCount(memory_type=t, count=n) for t, n in totals.ranked_types()]
        return m.TypeCounts(id=req.id, types=types)

    async def days(self, req: m.CountDays) -> m.DayCounts:
        days = bounded(req.days, MAX_DAYS, "days")
        first = local_day(_local_midnight_days_ago(days - 1))
        totals = await self.totals(None)
        rows = totals.days_since(first)
        return m.DayCounts(id=req.id, days=[m.DayCount(day=d, count=n) for d, n in rows])


def _merged(parts: Iterable[Totals]) -> Totals:
    total = Totals()
    for part in parts:
        total.merge(part)
    return total


def _local_midnight_days_ago(days: int) -> float:
    """Epoch seconds of local midnight ``days`` days before today."""
    now = time.localtime()
    return time.mktime((now.tm_year, now.tm_mon, now.tm_mday - days, 0, 0, 0, 0, 0, -1))


def bounded(value: int, upper: int, name: str) -> int:
    """``value`` if it is between 1 and ``upper``, else a clear ``bad_request``."""
    if not 1 <= value <= upper:
        raise BadRequest(f"{name} must be between 1 and {upper}")
    return value
