"""The storage seam: what the actors and the service need from a storage engine.

SQLite + sqlite-vec (:mod:`memhub.storage.sqlite`) is the first engine and the embedded default;
PostgreSQL + pgvector, for teams, is meant to be the second. Everything here is synchronous and
free of trio and sockets: the actors run it in worker threads.

Four shapes:

* a :class:`WriteSession` is the engine's one write connection. It runs a *batch* of write
  functions in one transaction, each isolated (a failure undoes only its own work), and
  returns once the transaction committed, with the change events to publish. When another
  process holds the write lock it raises :class:`StorageBusy` having written nothing, and the
  writer actor retries the whole batch.
* a :class:`WriteTxn` is what each write function receives: domain operations (store, update,
  delete, …), no SQL.
* a :class:`ReadSession` is one read connection. It runs one function in one snapshot under a
  deadline.
* a :class:`Snapshot` is what each read function receives: the reads, no SQL.

Nothing here assumes that ids commit in order or that the engine is a file: a server engine's
change feed (the vector mirror's "changes since a watermark") and its sizes are its own
business, behind :meth:`Storage.sizes` and the read functions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

if TYPE_CHECKING:
    import outcome

    from memhub.protocol import messages as m
    from memhub.storage.aggregates import Fingerprint, Totals
    from memhub.storage.queries import Filters
    from memhub.storage.vectors import FloatArray
    from memhub.storage.writes import NewMemory

T = TypeVar("T")


class StorageBusy(Exception):
    """Another process holds the write lock; nothing of the batch was written."""


class ReadTimeout(Exception):
    """A read ran past its deadline and was stopped."""


class WriteTxn(Protocol):
    """The operations of one write transaction."""

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
    ) -> tuple[m.MemoryRecord, list[str]]: ...

    def cleanup_duplicates(self) -> list[str]: ...

    def name_writer(self, since: int, client: str) -> None:
        """Name ``client`` in the change events recorded after the ``since``-th one."""
        ...

    @property
    def event_count(self) -> int: ...


class Snapshot(Protocol):
    """The reads of one consistent snapshot."""

    def get(self, content_hash: str) -> m.MemoryRecord | None: ...

    def list_page(
        self, filters: Filters, *, page: int, page_size: int
    ) -> tuple[list[m.MemoryRecord], int]: ...

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

    def change_marker(self) -> Fingerprint:
        """A value that differs whenever the store changed (for caches of aggregates)."""
        ...

    def aggregate_totals(self) -> tuple[Totals, Fingerprint]: ...


WriteFn = Callable[["WriteTxn"], object]


class WriteSession(Protocol):
    """The engine's one write connection."""

    @property
    def generation(self) -> str: ...

    def run_batch(
        self, fns: Sequence[WriteFn]
    ) -> tuple[list[outcome.Outcome[object]], list[m.Event]]:
        """Run ``fns`` in one transaction, each isolated; return once it committed.

        Raises:
            StorageBusy: another process holds the write lock; nothing was written.
            Exception: the transaction as a whole failed; nothing was written.
        """
        ...

    def refusal(self) -> str | None:
        """Why no write may be accepted any more (the store is gone), or None."""
        ...

    def maintain(self, mode: Literal["passive", "truncate"]) -> bool:
        """Fold the write log back (a checkpoint); False if it had to be skipped."""
        ...

    def log_bytes(self) -> int:
        """Bytes of write log not yet folded back into the store."""
        ...


class ReadSession(Protocol):
    """One read connection."""

    def run(self, fn: Callable[[Snapshot], T], deadline: float) -> T:
        """``fn`` in one snapshot, stopped at ``time.monotonic() > deadline``.

        Raises:
            ReadTimeout: the deadline passed.
            ServiceError: whatever ``fn`` raised as a service error.
            Exception: the store could not be read.
        """
        ...

    def close(self) -> None: ...


class Storage(Protocol):
    """A storage engine, opened: one write session, any number of read sessions."""

    @property
    def writer(self) -> WriteSession: ...

    def open_reader(self) -> ReadSession: ...

    def sizes(self) -> tuple[int, int]:
        """Bytes of the store and of its write log, for health reports."""
        ...

    def indexed_vectors(self) -> int:
        """Vectors held by the engine's in-memory index (0 without one)."""
        ...
