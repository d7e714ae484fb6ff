"""The storage seam: what the actors and the service need from a storage engine.

SQLite + sqlite-vec (:mod:`memhub.storage.sqlite`) is the embedded default; PostgreSQL +
pgvector (:mod:`memhub.storage.postgres`), for teams, is the second engine. Everything here is
synchronous and free of trio and sockets: the actors run it in worker threads. The values the
seam speaks are in :mod:`memhub.storage.model`; :func:`memhub.storage.open_storage` opens an
engine for a store.

The shapes:

* a :class:`Storage` is one opened store: its write session, read sessions on demand, its
  change feed, a description of itself, and the vector mirror it searches with.
* a :class:`WriteSession` is the engine's one write connection. It runs a *batch* of write
  calls in one transaction, each isolated (a failure undoes only its own work), and returns
  once the transaction committed. What the batch changed goes to the change feed. When
  another writer holds the lock it raises :class:`StorageBusy` having written nothing, and the
  writer actor retries the whole batch.
* a :class:`WriteTxn` is what each write call receives: domain operations, no SQL.
* a :class:`ReadSession` is one read connection. It runs one function in one snapshot under a
  deadline; a :class:`Snapshot` is what that function receives.
* the **change feed** (:meth:`Storage.changes_since`) lists committed changes in one total
  commit order after an engine-defined cursor. The vector mirror and the aggregate counts
  follow it (:mod:`memhub.actors.follower` is the one component that advances them), and the
  live feed of the web UI is published from it, so every subscriber of every daemon of a
  store sees every change once, in commit order.

Nothing here assumes that the engine is a file, that row ids commit in order, or that this
daemon is the store's only writer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import attrs

if TYPE_CHECKING:
    import outcome

    from memhub.protocol import messages as m
    from memhub.storage.mirror import VectorIndex
    from memhub.storage.model import (
        Candidate,
        ChangeBatch,
        Filters,
        FloatArray,
        NewMemory,
        StorageStats,
        Totals,
    )
    from memhub.storage.quality import QualitySummary, ScoreBucket
    from memhub.storage.relations import (
        Conflict,
        Direction,
        Edge,
        EntityCount,
        EntityProfile,
        Lineage,
    )

T = TypeVar("T")


class StorageBusy(Exception):
    """Another writer holds the write lock; nothing of the batch was written."""


class ReadTimeout(Exception):
    """A read ran past its deadline and was stopped."""


class Cursor(Protocol):
    """A position in an engine's change feed (opaque to everyone but its engine).

    ``mirror_position`` is what the vector mirror records when it reflects the feed up to this
    cursor: the engine's snapshots use it to find the rows the mirror does not hold yet.
    """

    @property
    def mirror_position(self) -> int: ...


class WriteTxn(Protocol):
    """The operations of one write call, inside the batch's transaction."""

    def store(self, item: NewMemory) -> m.MemoryRecord: ...

    def store_session(self, items: Sequence[NewMemory]) -> list[str]: ...

    def delete_matching(self, filters: Filters, content_hash: str | None) -> list[str]: ...

    def update(
        self,
        content_hash: str,
        *,
        tags: list[str] | None,
        memory_type: str | None,
        metadata: dict[str, Any] | None,
        preserve_timestamps: bool,
        store: str | None = None,
    ) -> tuple[m.MemoryRecord, list[str]]: ...

    def cleanup_duplicates(self) -> list[str]: ...

    # -- 12.x's memory graph and evolution (values in storage/relations.py) ---------------------

    def get(self, content_hash: str) -> m.MemoryRecord | None:
        """The live memory with this hash (any store), as this transaction sees it."""
        ...

    def put_edges(self, edges: Sequence[Edge], *, replace: bool) -> int:
        """Write graph rows: ``replace`` overwrites the pair's edge (12.x's associations and
        contradictions), else an existing pair is kept (its entity links)."""
        ...

    def delete_edges(self, pairs: Sequence[tuple[str, str]]) -> int: ...

    def entity_memories(self, name: str, limit: int) -> list[str]:
        """:meth:`Snapshot.entity_memories` as this transaction sees it (entity linking)."""
        ...

    def resolve_conflict(self, winner_hash: str, loser_hash: str) -> None:
        """The loser is superseded by the winner; the winner's confidence is 1.0."""
        ...

    def supersede(self, old_hash: str, item: NewMemory, *, reason: str | None) -> m.MemoryRecord:
        """Store ``item`` as the next version of ``old_hash`` (in its store) and mark the old
        one superseded, atomically."""
        ...


class Snapshot(Protocol):
    """The reads of one consistent snapshot."""

    def get(self, content_hash: str) -> m.MemoryRecord | None: ...

    def list_page(
        self, filters: Filters, *, page: int, page_size: int, total: int | None = None
    ) -> tuple[list[m.MemoryRecord], int]:
        """One page newest first and how many rows match; ``total``, when the caller already
        knows it (the followed counts), spares the engine its count (a scan of the table)."""
        ...

    def matching_hashes(self, filters: Filters, content_hash: str | None) -> list[str]: ...

    def counts(self) -> tuple[int, int]:
        """Active and soft-deleted memories."""
        ...

    def duplicate_hashes(self) -> list[str]:
        """What ``WriteTxn.cleanup_duplicates`` would soft-delete now."""
        ...

    def exact_search(self, query: str, filters: Filters, limit: int) -> list[m.Hit]: ...

    def recent(self, filters: Filters, limit: int) -> list[m.Hit]: ...

    def semantic_search(self, vector: FloatArray, filters: Filters, limit: int) -> list[m.Hit]: ...

    def hybrid_search(
        self, query: str, vector: FloatArray, filters: Filters, limit: int
    ) -> list[m.Hit]: ...

    def integrity_problem(self) -> str | None:
        """What a check of the store's own structure finds wrong (None: nothing). Slow: a
        scan of the whole store (SQLite's ``quick_check``); engines that cannot say return None."""
        ...

    # -- 12.x's memory graph and evolution ------------------------------------------------------

    def edges(
        self,
        hashes: Sequence[str],
        *,
        direction: Direction,
        relationship: str | None = None,
        limit: int,
    ) -> list[Edge]:
        """Edges leaving, entering or touching any of ``hashes``, by (source, target); at most
        ``limit + 1`` (more than ``limit`` means the caller asked for too much)."""
        ...

    def edge_ends(
        self,
        hashes: Sequence[str],
        *,
        direction: Direction,
        relationship: str | None = None,
        limit: int,
    ) -> list[tuple[str, str]]:
        """:meth:`edges` as ``(source, target)`` pairs only (what a walk needs)."""
        ...

    def edges_among(self, nodes: Sequence[str]) -> list[Edge]:
        """Edges between ``nodes`` (at most 500)."""
        ...

    def edges_of_type(self, relationship: str, limit: int) -> list[Edge]:
        """Every edge of one type (at most ``limit + 1``)."""
        ...

    def entity_counts(self, limit: int) -> list[EntityCount]: ...

    def entity_memories(self, name: str, limit: int) -> list[str]: ...

    def entity_profiles(self, names: Sequence[str]) -> dict[str, EntityProfile]:
        """The profile of each of ``names`` that has ``has_entity`` rows (by the index on
        ``target_hash``: no scan of the graph)."""
        ...

    def conflicts(self) -> list[Conflict]: ...

    def lineage(self, content_hash: str) -> Lineage | None: ...

    # -- 12.x's quality fields (storage/quality.py) ----------------------------------------------

    def quality_summary(self, store: str, low: float, high: float) -> QualitySummary:
        """12.4's ``analyze`` numbers over the live memories of ``store`` scored in
        ``[low, high]``, aggregated by the engine (no row travels but the 20 ranked)."""
        ...

    def stale_count(self, store: str, before: float) -> int:
        """Live memories of ``store`` whose last access (else creation) is before ``before``."""
        ...

    def score_buckets(self, start: float, end: float) -> list[ScoreBucket]:
        """The quality scores of the live memories of every store created in ``[start, end]``,
        aggregated by the engine per :data:`~memhub.storage.quality.BUCKET_S` of creation."""
        ...

    # -- 12.4's consolidation (memhub.extras.consolidation_run) ---------------------------------

    def consolidation_batch(self, after: float, before: float, limit: int) -> list[Candidate]:
        """Live memories of every store (superseded ones too) created in ``[after, before]``,
        the least recently consolidated first (``metadata.last_consolidated_at``, else
        ``created_at``), at most ``limit``, each with its vector and ``last_accessed``."""
        ...

    def neighbour_counts(self, hashes: Sequence[str]) -> dict[str, int]:
        """Distinct live graph neighbours of each of ``hashes`` (``has_entity`` rows left
        out; hashes without any are absent)."""
        ...

    def aggregate_totals(self) -> tuple[dict[str, Totals], Cursor] | None:
        """Counts over every active memory by store, and the feed cursor they are exact at;
        None when a commit raced this snapshot's start (ask again in a new snapshot).

        Must be the first read of its snapshot."""
        ...


WriteFn = Callable[["WriteTxn"], object]


@attrs.frozen
class WriteCall:
    """One queued write: the operation, and the MCP client that asked for it (named in events)."""

    fn: WriteFn
    client: str = ""


#: Writes queued since a batch was taken, handed over without waiting (see ``run_batch``).
MoreCalls = Callable[[], Sequence[WriteCall]]


class WriteSession(Protocol):
    """The engine's one write connection."""

    def run_batch(
        self, calls: Sequence[WriteCall], more: MoreCalls | None = None
    ) -> list[outcome.Outcome[object]]:
        """Run ``calls`` in one transaction, each isolated; return once it committed.

        An engine whose lock may have to wait for other machines may call ``more`` once, when
        it holds the lock: the writes queued meanwhile join the batch (one wait for all of them
        instead of one each), and the results cover ``calls`` and then those, in order.

        Raises:
            StorageBusy: another writer holds the write lock; nothing was written.
            ServiceError: the transaction as a whole failed; nothing was written.
        """
        ...

    def problem(self) -> str | None:
        """Why no write may be accepted any more (the store is gone), or None."""
        ...

    def observe_others(self) -> bool:
        """Record in the change feed what other programs changed since the last look.

        Cheap when nothing changed; True when it recorded anything. Engines whose every writer
        records its own changes return False.
        """
        ...

    def needs_upkeep(self) -> bool:
        """Whether :meth:`upkeep` is due now (SQLite: the WAL has grown past its bound)."""
        ...

    def upkeep(self, *, thorough: bool = False) -> bool:
        """Engine housekeeping between batches (SQLite: a WAL checkpoint; ``thorough``
        truncates the WAL file too). False when it had to be skipped."""
        ...

    @property
    def upkeep_runs(self) -> int: ...


class ReadSession(Protocol):
    """One read connection."""

    def run(self, fn: Callable[[Snapshot], T], deadline: float) -> T:
        """``fn`` in one snapshot, stopped at ``time.monotonic() > deadline``.

        Raises:
            ReadTimeout: the deadline passed.
            ServiceError: whatever ``fn`` raised as a service error, or the store could not
                be read.
        """
        ...

    def interrupt(self) -> None:
        """Stop the read running now, if any (from any thread): it ends with ReadTimeout.
        For a daemon that stops while a long read of its own (a full count) still runs."""
        ...

    def close(self) -> None: ...


class Held(Protocol):
    """A lock held across every daemon of a store, until :meth:`release` (or this daemon's
    end: a crashed daemon's locks go with its connection)."""

    def release(self) -> None: ...


class Storage(Protocol):
    """A storage engine, opened on one store."""

    @property
    def writer(self) -> WriteSession: ...

    @property
    def mirror(self) -> VectorIndex | None:
        """The in-RAM vector index the engine's searches use (None: the engine searches alone)."""
        ...

    @property
    def has_peers(self) -> bool:
        """Whether other daemons write this store (then :meth:`wait_for_others` is worth a
        thread)."""
        ...

    def open_reader(self) -> ReadSession: ...

    @property
    def searches_without_mirror(self) -> bool:
        """Whether searches and dedup have an exact path of their own while the mirror is
        not loaded (then the daemon serves while :meth:`load_mirror` runs)."""
        ...

    def load_mirror(self) -> Cursor:
        """Fill the (empty) vector mirror from the store, mark it loaded
        (:meth:`~memhub.storage.mirror.VectorIndex.mark_loaded`) and return the feed cursor it
        then reflects."""
        ...

    def load_facets(self) -> None:
        """Rebuild the mirror's facet index from the store (another program wrote to it)."""
        ...

    def changes_since(self, cursor: Cursor) -> ChangeBatch:
        """The committed changes after ``cursor``, in commit order (a bounded batch)."""
        ...

    def vectors(self, rows: Sequence[int]) -> dict[int, FloatArray]:
        """The stored vectors of these rows (those that still have one)."""
        ...

    def wait_for_others(self, timeout: float) -> bool:
        """Block up to ``timeout`` s for a sign that another daemon committed; False at the
        timeout. Engines with no other daemons return False at once."""
        ...

    def describe(self) -> StorageStats: ...

    def try_hold(self, name: str) -> Held | None:
        """Take the store-wide lock ``name`` if no daemon of the store holds it (None: one
        does). For long jobs that must not run twice at once on one store (a consolidation
        run), never for writes: the writer's own lock orders those. Blocking: call it in a
        worker thread."""
        ...

    def close(self) -> None:
        """Close every connection (after the writer and readers stopped)."""
        ...
