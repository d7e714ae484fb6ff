"""The SQLite engine's read side: read-only connections, one snapshot per read, deadlines.

Read connections open the file read-only (``mode=ro``, ``query_only``), so a bug in a read path
cannot turn into a write lock, and run each read in one ``BEGIN … COMMIT`` snapshot under a
deadline enforced by SQLite's progress handler.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Final, TypeVar

import apsw
import attrs

from memhub.errors import DatabaseError, InternalError
from memhub.storage.engine import Cursor, ReadTimeout
from memhub.storage.mirror import VectorIndex
from memhub.storage.model import Candidate, Totals
from memhub.storage.narrowing import FewRows, few_rows
from memhub.storage.sqlite import aggregates, consolidation, quality, queries
from memhub.storage.sqlite.feed import ChangeLog, SqliteCursor, snapshot_cursor
from memhub.storage.sqlite.graph import GraphReads
from memhub.storage.sqlite.schema import Schema

if TYPE_CHECKING:
    from memhub.protocol import messages as m
    from memhub.storage.model import Filters, FloatArray
    from memhub.storage.quality import QualitySummary, ScoreBucket

log = logging.getLogger(__name__)
T = TypeVar("T")
#: SQLite virtual-machine steps between deadline checks (~a few µs of work).
_PROGRESS_STEPS: Final = 2000


@attrs.define
class SqliteSnapshot(GraphReads):
    """:class:`~memhub.storage.engine.Snapshot` over a read connection inside its snapshot.

    ``conn`` stays public for SQLite-only callers (tests, diagnostics); the service uses the
    operations.
    """

    conn: apsw.Connection
    schema: Schema
    index: VectorIndex | None
    log: ChangeLog | None = None

    def get(self, content_hash: str) -> m.MemoryRecord | None:
        return queries.get_by_hash(self.conn, self.schema, content_hash)

    def list_page(
        self, filters: Filters, *, page: int, page_size: int, total: int | None = None
    ) -> tuple[list[m.MemoryRecord], int]:
        among = self._few_rows(filters)
        return queries.list_page(
            self.conn, self.schema, filters, page=page, page_size=page_size, total=total,
            among=among,
        )  # fmt: skip

    def matching_hashes(self, filters: Filters, content_hash: str | None) -> list[str]:
        targets = queries.select_targets(self.conn, self.schema, filters, content_hash)
        return [h for _, h in targets]

    def counts(self) -> tuple[int, int]:
        return queries.counts(self.conn, self.schema)

    def duplicate_hashes(self) -> list[str]:
        return [h for _, h in queries.duplicate_rows(self.conn, self.schema)]

    def exact_search(self, query: str, filters: Filters, limit: int) -> list[m.Hit]:
        return queries.exact_search(self.conn, self.schema, query, filters, limit)

    def recent(self, filters: Filters, limit: int) -> list[m.Hit]:
        return queries.recent(self.conn, self.schema, filters, limit, self._few_rows(filters))

    def _few_rows(self, filters: Filters) -> FewRows | None:
        """The few rows a rare tag or store names (:mod:`memhub.storage.narrowing`)."""
        if self.index is None or not filters.narrowing:
            return None
        past, changed = self.index.position, self._changed_in_place()  # before the facets
        return few_rows(self.index, filters, past=past, changed=changed)

    def semantic_search(self, vector: FloatArray, filters: Filters, limit: int) -> list[m.Hit]:
        changed = self._changed_in_place()
        return queries.semantic_search(
            self.conn, self.schema, self.index, vector, filters, limit, changed
        )

    def hybrid_search(
        self, query: str, vector: FloatArray, filters: Filters, limit: int
    ) -> list[m.Hit]:
        changed = self._changed_in_place()
        return queries.hybrid_search(
            self.conn, self.schema, self.index, query, vector, filters, limit, changed=changed
        )

    def _changed_in_place(self) -> list[int]:
        """Rows this daemon committed that the mirror may hold out of date: its position
        counts rows, so an update of an older row (new tags, new content) is found only in
        the log, after the cursor the mirror follows. Read before the search's statements:
        the cursor only moves on, so what it misses is in the snapshot's tail or the facets."""
        index = self.index
        if index is None or self.log is None:
            return []
        followed = index.followed
        return self.log.rows_changed_after(followed if isinstance(followed, SqliteCursor) else None)

    def integrity_problem(self) -> str | None:
        found = [str(row[0]) for row in self.conn.execute("PRAGMA quick_check(5)")]
        return None if found == ["ok"] else "; ".join(found)

    def quality_summary(self, store: str, low: float, high: float) -> QualitySummary:
        return quality.summary(self.conn, self.schema, store, low, high)

    def stale_count(self, store: str, before: float) -> int:
        return quality.stale_count(self.conn, self.schema, store, before)

    def score_buckets(self, start: float, end: float) -> list[ScoreBucket]:
        return quality.score_buckets(self.conn, self.schema, start, end)

    def consolidation_batch(self, after: float, before: float, limit: int) -> list[Candidate]:
        return consolidation.batch(self.conn, self.schema, after, before, limit)

    def neighbour_counts(self, hashes: Sequence[str]) -> dict[str, int]:
        return consolidation.neighbour_counts(self.conn, self.schema, hashes)

    def aggregate_totals(self) -> tuple[dict[str, Totals], Cursor] | None:
        if self.log is None:
            raise InternalError("this snapshot has no change log to place its counts in")
        cursor = snapshot_cursor(self.conn, self.log)
        if cursor is None:
            return None
        return aggregates.count_all(self.conn, self.schema), cursor


class SqliteReadSession:
    """One read-only connection; each read in one snapshot, under a deadline."""

    def __init__(
        self,
        conn: apsw.Connection,
        schema: Schema,
        index: VectorIndex | None,
        log: ChangeLog | None = None,
    ) -> None:
        self._conn = conn
        self._snapshot = SqliteSnapshot(conn, schema, index, log)

    def run(self, fn: Callable[[SqliteSnapshot], T], deadline: float) -> T:
        conn = self._conn
        conn.set_progress_handler(lambda: time.monotonic() > deadline, _PROGRESS_STEPS)
        try:
            try:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")  # the last snapshot could not be ended: end it now
                conn.execute("BEGIN")
                result = fn(self._snapshot)
            except apsw.InterruptError:
                raise ReadTimeout from None
            except apsw.Error as exc:
                log.error("read failed: %s", exc)
                raise DatabaseError(f"the database could not be read: {exc}") from None
        finally:
            # Clear the deadline first: ending the snapshot must never be interrupted.
            conn.set_progress_handler(None)
            ended = _end_snapshot(conn)
        if ended is not None:
            # The answer came from a snapshot that did not end cleanly: do not vouch for it.
            raise DatabaseError(f"the database could not be read: {ended}")
        return result

    def interrupt(self) -> None:
        self._conn.interrupt()  # SQLite's own thread-safe stop; a no-op between statements

    def close(self) -> None:
        self._conn.close()


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
