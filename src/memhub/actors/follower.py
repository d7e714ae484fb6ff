"""The change follower: the one component that advances what the daemon derives from the store.

It reads the engine's change feed (:meth:`~memhub.storage.engine.Storage.changes_since`) in
commit order and, for each batch of changes:

* advances the vector mirror (:meth:`~memhub.storage.mirror.VectorIndex.apply`), so searches
  find new rows and drop deleted ones;
* publishes the changes as events to every subscriber (the web UI's live feed), so each
  subscriber sees every change once, in commit order, whichever daemon wrote it;
* keeps the aggregate counts current (:class:`memhub.counts.FeedCounts`).

It wakes when this daemon's writer commits (:meth:`ChangeFollower.wake`), when the engine hears
that another daemon committed (a thread blocked in ``wait_for_others``), and once a second
regardless, so nothing waits on a lost wake-up. Searches never wait for it: a snapshot scores the
rows past the mirror's position itself.

When the store cannot be read (a team store's server is down), a round fails without moving
anything: the error goes to the ``caught_up()`` callers of that round, and the next wake-up or
poll tries again from the same cursor, so the daemon outlives the outage and catches up by
itself.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Final

import trio

from memhub.counts import FeedCounts
from memhub.errors import ServiceError
from memhub.storage.following import next_batch

if TYPE_CHECKING:
    from memhub.actors.events import EventHub
    from memhub.storage.engine import Cursor, Storage

log = logging.getLogger(__name__)
POLL_S: Final = 1.0


class ChangeFollower:
    """Follows ``storage``'s change feed for the mirror, the subscribers and the counts."""

    def __init__(self, storage: Storage, hub: EventHub, *, poll_s: float = POLL_S) -> None:
        self._storage = storage
        self._hub = hub
        self._poll_s = poll_s
        self._wake = trio.Event()
        self._cursor: Cursor | None = None
        self.counts = FeedCounts()
        self.batches = 0
        self.changes = 0
        self._rounds_wanted = 0  # caught_up() callers so far
        self._rounds_done = 0  # how many of them a finished round covers
        self._round_over = trio.Event()
        self._round_error: ServiceError | None = None  # why the last round failed
        self.failures = 0  # rounds that failed in a row
        self.loaded = trio.Event()  # the mirror is loaded and the feed followed from there

    @property
    def cursor(self) -> Cursor | None:
        """How far the mirror and the subscribers have been brought (None before the start)."""
        return self._cursor

    def wake(self) -> None:
        """Something committed: catch up now (call from the trio thread)."""
        self._wake.set()

    async def caught_up(self) -> None:
        """Return once a round that started after this call has reached the end of the feed."""
        self._rounds_wanted += 1
        wanted = self._rounds_wanted
        self.wake()
        while self._rounds_done < wanted:
            await self._round_over.wait()
        if self._round_error is not None:
            raise self._round_error

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        if self._storage.searches_without_mirror:
            # Serve at once: until the mirror is loaded searches take the engine's own exact
            # scan, and the changes committed meanwhile wait in the feed.
            task_status.started()
            self._cursor = await self._load_while_serving()
        else:
            self._cursor = await self._load()
            task_status.started()
        self.loaded.set()
        async with trio.open_nursery() as nursery:
            if self._storage.has_peers:
                nursery.start_soon(self._listen)
            while True:
                with trio.move_on_after(self._poll_s):
                    await self._wake.wait()
                self._wake = trio.Event()
                serving = self._rounds_wanted  # every caught_up() so far starts before this round
                try:
                    await self.catch_up()
                    self._round_error = None
                    if self.failures:
                        log.info("following the store's changes again")
                    self.failures = 0
                except ServiceError as exc:
                    self._round_error = exc
                    self.failures += 1
                    if self.failures == 1 or self.failures % 60 == 0:
                        log.warning("cannot follow the store's changes (%s); retrying", exc)
                self._rounds_done = serving
                self._round_over.set()
                self._round_over = trio.Event()

    async def _load_while_serving(self) -> Cursor:
        """Load the mirror, retrying a failed load (the server went away, a read timed out):
        the daemon already serves, on the engine's own scan, so a failure must not stop it."""
        delay = 1.0
        while True:
            try:
                return await self._load()
            except ServiceError as exc:
                log.warning(
                    "cannot load the vector mirror (%s); searches use the store's own exact "
                    "scan meanwhile; retrying in %.0f s",
                    exc,
                    delay,
                )
                await trio.sleep(delay)
                delay = min(delay * 2, 60.0)

    async def _load(self) -> Cursor:
        started = time.monotonic()
        cursor = await trio.to_thread.run_sync(self._storage.load_mirror)
        mirror = self._storage.mirror
        if mirror is not None:
            took = time.monotonic() - started
            log.info("vector mirror loaded: %d rows in %.1f s", len(mirror), took)
        return cursor

    async def catch_up(self) -> None:
        """Bring the mirror, the subscribers and the counts to the end of the feed."""
        while True:
            assert self._cursor is not None
            batch = await trio.to_thread.run_sync(next_batch, self._storage, self._cursor)
            self._cursor = batch.cursor
            if batch.changes:
                self.batches += 1
                self.changes += len(batch.changes)
                self._hub.publish([change.event() for change in batch.changes])
            await self._catch_up_counts()
            if not batch.changes and not batch.resync:
                return

    async def _catch_up_counts(self) -> None:
        """The counts follow the feed with a cursor of their own: they are recounted from a
        snapshot whose place in the feed is rarely the mirror's."""
        while (at := self.counts.cursor) is not None:
            batch = await trio.to_thread.run_sync(self._storage.changes_since, at)
            self.counts.follow(at, batch)
            if not batch.changes:
                return

    async def _listen(self) -> None:
        """Wake the loop when the engine hears another daemon commit (a thread blocks)."""
        while True:
            heard = await trio.to_thread.run_sync(
                self._storage.wait_for_others, self._poll_s, abandon_on_cancel=True
            )
            if heard:
                self.wake()
