"""Connections that have not authenticated yet: capped apart from the others, oldest out first.

Anyone on the machine can open TCP connections to the daemon, so a connection costs the daemon
nothing while it waits for bytes (reads block, nothing polls), and the connections still
waiting for their request head or their ``hello`` are capped on their own, apart from the
authenticated ones (``MEMHUB_MAX_CONNECTIONS``). When the pool is full, a new connection evicts
the one that has waited longest: a burst of idle connections cannot lock out a client that is
about to authenticate, because a real client gets through its handshake in milliseconds while
holders wait for seconds. An evicted connection is told why (HTTP 503, or websocket close 1013)
and closed; an authenticated connection is never evicted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final, Literal

import trio

log = logging.getLogger(__name__)

#: Connections waiting for their head or hello at once (each holds a socket and a small task).
DEFAULT_MAX_PENDING: Final = 128

#: What a pending connection waits for: its request head, its hello, or (a plain HTTP request)
#: the end of sending its answer.
Phase = Literal["head", "hello", "response"]


class Pending:
    """One connection not yet authenticated; evictable until :meth:`authenticated`."""

    def __init__(self, pool: AdmissionPool) -> None:
        self._pool = pool
        #: Cancelled on eviction; the connection runs inside it.
        self.scope = trio.CancelScope()
        self.evicted = False
        #: What the connection was waiting for, which says how to tell it it was evicted.
        self.phase: Phase = "head"

    def authenticated(self) -> None:
        """The connection is past its hello (or its HTTP request was answered): keep it."""
        self._pool.leave(self)

    def evict(self) -> None:
        self.evicted = True
        self._pool.leave(self)
        self.scope.cancel()


class AdmissionPool:
    """The connections not yet authenticated, oldest first."""

    def __init__(self, limit: int = DEFAULT_MAX_PENDING) -> None:
        if limit < 1:
            raise ValueError("the pending-connection limit must be positive")
        self.limit = limit
        self.evictions = 0
        self._waiting: dict[Pending, None] = {}  # insertion-ordered: the oldest comes first

    def __len__(self) -> int:
        return len(self._waiting)

    @contextmanager
    def admit(self) -> Iterator[Pending]:
        """A place for a new connection, evicting the longest-waiting one if the pool is full."""
        if len(self._waiting) >= self.limit:
            oldest = next(iter(self._waiting))
            oldest.evict()
            self.evictions += 1
            if self.evictions == 1 or self.evictions % 1000 == 0:
                log.warning(
                    "%d connections are waiting to authenticate (the limit): the oldest was "
                    "closed to let a new one in (%d so far)",
                    self.limit,
                    self.evictions,
                )
        pending = Pending(self)
        self._waiting[pending] = None
        try:
            yield pending
        finally:
            self.leave(pending)

    def leave(self, pending: Pending) -> None:
        self._waiting.pop(pending, None)
