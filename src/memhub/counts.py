"""Counts over the whole store for the web UI: tags, types, memories per day.

A full count is a table scan (hundreds of ms at 100k memories), so the totals are cached and
kept current from the daemon's own commit events; only a change the cache cannot explain (an
update or delete, a row written by another process) costs one recount, on the next request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final, Protocol, TypeVar

from memhub.errors import BadRequest
from memhub.protocol import messages as m
from memhub.storage import aggregates
from memhub.storage.engine import Snapshot

T = TypeVar("T")
MAX_TAGS: Final = 10_000
MAX_DAYS: Final = 3660


class Reads(Protocol):
    """Where reads run (the reader pool)."""

    async def submit(self, fn: Callable[[Snapshot], T]) -> T: ...


class StoreCounts:
    """Answers ``count_tags``, ``count_types`` and ``count_days`` from cached totals."""

    def __init__(self, readers: Reads) -> None:
        self._readers = readers
        self._cache = aggregates.AggregateCache()

    def observe(self, events: list[m.Event]) -> None:
        """Keep the totals current with committed changes (an :class:`EventHub` listener)."""
        self._cache.apply(events)

    async def _totals(self) -> aggregates.Totals:
        now = await self._readers.submit(lambda snap: snap.change_marker())
        cached = self._cache.current(now)
        if cached is not None:
            return cached
        totals, at = await self._readers.submit(lambda snap: snap.aggregate_totals())
        self._cache.reset(totals, at)
        return totals

    async def tags(self, req: m.CountTags) -> m.TagCounts:
        limit = _bounded(req.limit, MAX_TAGS, "limit")
        totals = await self._totals()
        tags = [m.TagCount(tag=tag, count=n) for tag, n in totals.ranked_tags(limit)]
        distinct = sum(1 for n in totals.tags.values() if n > 0)
        return m.TagCounts(id=req.id, tags=tags, distinct=distinct)

    async def types(self, req: m.CountTypes) -> m.TypeCounts:
        totals = await self._totals()
        types = [m.TypeCount(memory_type=t, count=n) for t, n in totals.ranked_types()]
        return m.TypeCounts(id=req.id, types=types)

    async def days(self, req: m.CountDays) -> m.DayCounts:
        days = _bounded(req.days, MAX_DAYS, "days")
        first = aggregates.local_day(_local_midnight_days_ago(days - 1))
        totals = await self._totals()
        rows = totals.days_since(first)
        return m.DayCounts(id=req.id, days=[m.DayCount(day=d, count=n) for d, n in rows])


def _local_midnight_days_ago(days: int) -> float:
    """Epoch seconds of local midnight ``days`` days before today."""
    now = time.localtime()
    return time.mktime((now.tm_year, now.tm_mon, now.tm_mday - days, 0, 0, 0, 0, 0, -1))


def _bounded(value: int, upper: int, name: str) -> int:
    if not 1 <= value <= upper:
        raise BadRequest(f"{name} must be between 1 and {upper}")
    return value
