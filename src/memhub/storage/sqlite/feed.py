"""The SQLite engine's change feed: this daemon's log of what it committed, plus what it saw
other programs commit.

A SQLite file has one writer daemon (memhub holds a lock on the file), so the writer knows every
change it makes: it appends them to a bounded in-RAM :class:`ChangeLog` right after each COMMIT,
in commit order. Other programs may still write the file (mcp-memory-service itself, a sync
tool); the writer notices their commits through ``PRAGMA data_version`` on its own connection
(which changes only when *another* connection committed) and then itemises their new rows by
id, which SQLite's AUTOINCREMENT hands out in commit order, and compares counts it predicts
with counts it reads: a difference (another program deleted or updated rows) is recorded as a
*resync*, which tells the followers to recount what they derive.

A snapshot finds its place in the log with a seqlock: the log position and the "commit in
progress" flag are read before and after the snapshot's first statement; when both reads agree
and no commit was in progress, the snapshot holds exactly the log's commits up to that position.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final, Literal

import attrs

from memhub.storage.model import Change, ChangeBatch

if TYPE_CHECKING:
    import apsw

#: Changes kept for followers that lag (a recount catching up, a slow follower).
LOG_CAPACITY: Final = 100_000
#: At most this many changes per batch handed to a follower.
BATCH_LIMIT: Final = 4096


@attrs.frozen(order=True)
class SqliteCursor:
    """A position in a :class:`ChangeLog`: ``seq`` entries, rows with ids up to ``max_id``."""

    seq: int
    max_id: int

    @property
    def mirror_position(self) -> int:
        return self.max_id


Marker = Literal["resync", "foreign"]


@attrs.frozen
class LogState:
    seq: int
    committing: bool


class ChangeLog:
    """The ordered, bounded record of committed changes (thread-safe)."""

    def __init__(self, max_id: int, capacity: int = LOG_CAPACITY) -> None:
        self._lock = threading.Lock()
        # Markers: "resync" (the store changed in ways the log could not itemise: counts are
        # redone) and "foreign" (another program committed: what it edited in place is unknown).
        self._entries: deque[tuple[int, Change | Marker]] = deque(maxlen=capacity)
        self._seq = 0
        self._max_id = max_id
        self._committing = 0
        self._wrapped_at = 0  # entries up to this seq are gone

    # -- the writer's side -----------------------------------------------------------------------

    def begin_commit(self) -> None:
        """A COMMIT is about to run: snapshots taken now cannot be placed in the log."""
        with self._lock:
            self._committing += 1

    def end_commit(self, changes: Sequence[Change], max_id: int) -> None:
        """The COMMIT is over (``changes`` is empty when it failed): record what it did."""
        with self._lock:
            self._committing -= 1
            self._append_locked(changes, max_id, [])

    def record_others(self, changes: Sequence[Change], max_id: int, *, resync: bool) -> None:
        """Changes another program committed (they are in the file already)."""
        markers: list[Marker] = ["foreign", "resync"] if resync else ["foreign"]
        with self._lock:
            self._append_locked(changes, max_id, markers)

    def _append_locked(
        self, changes: Sequence[Change], max_id: int, markers: Sequence[Marker]
    ) -> None:
        entries: list[Change | Marker] = [*changes, *markers]
        for change in entries:
            self._seq += 1
            if len(self._entries) == self._entries.maxlen:
                self._wrapped_at = self._entries[0][0]
            self._entries.append((self._seq, change))
        self._max_id = max(self._max_id, max_id)

    # -- the readers' side -----------------------------------------------------------------------

    def state(self) -> LogState:
        with self._lock:
            return LogState(self._seq, self._committing > 0)

    def cursor(self) -> SqliteCursor:
        with self._lock:
            return SqliteCursor(self._seq, self._max_id)

    def rows_changed_after(self, followed: SqliteCursor | None) -> list[int]:
        """The rows stored or updated by the entries after ``followed`` (all entries held when
        None): what a mirror that reflects the log up to ``followed`` may hold out of date.

        Walks back from the newest entry, so it costs what the follower has still to apply
        (usually nothing), not the log's length.
        """
        after = followed.seq if followed is not None else 0
        rows: set[int] = set()
        with self._lock:
            for seq, change in reversed(self._entries):
                if seq <= after:
                    break
                if not isinstance(change, str) and change.kind != "deleted":
                    rows.add(change.row)
        return sorted(rows)

    def since(self, cursor: SqliteCursor, limit: int = BATCH_LIMIT) -> ChangeBatch:
        """The changes after ``cursor`` (at most ``limit``), oldest first.

        Rows another program inserted that the cursor's snapshot already held (ids up to
        ``cursor.max_id``) are left out: whatever was derived at that cursor counted them.
        """
        with self._lock:
            if cursor.seq < self._wrapped_at:
                # Entries the follower never saw are gone: it must rebuild from the store.
                return ChangeBatch([], SqliteCursor(self._seq, self._max_id), resync=True, gap=True)
            picked: list[Change] = []
            last, max_row, resync, foreign = cursor.seq, cursor.max_id, False, False
            for seq, change in self._entries:
                if seq <= cursor.seq:
                    continue
                if len(picked) == limit:
                    break
                last = seq
                if change == "resync":
                    resync = True
                    continue
                if change == "foreign":
                    foreign = True
                    continue
                assert not isinstance(change, str)
                if change.kind == "stored":
                    max_row = max(max_row, change.row)
                    if change.origin == "" and change.row <= cursor.max_id:
                        continue  # another program's row the cursor's snapshot already held
                picked.append(change)
            if last == self._seq:
                max_row = max(max_row, self._max_id)
            return ChangeBatch(picked, SqliteCursor(last, max_row), resync, foreign=foreign)


def snapshot_cursor(conn: apsw.Connection, log: ChangeLog) -> SqliteCursor | None:
    """Place the read transaction ``conn`` has just begun in the log (see the module doc).

    Must be the first statement of the transaction. None when a commit raced it.
    """
    before = log.state()
    rows = conn.execute("SELECT COALESCE(MAX(id), 0) FROM memories").fetchall()
    after = log.state()
    if before != after or before.committing:
        return None
    max_id = rows[0][0]
    return SqliteCursor(before.seq, int(max_id) if isinstance(max_id, int) else 0)
