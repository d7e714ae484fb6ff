"""The values the storage seam speaks: engine-neutral, no SQL, no database driver.

Everything a caller hands an engine (a new memory, a filter) and everything an engine hands
back besides wire records (a change of the feed, the store's statistics, aggregate counts) is
defined here, so that :mod:`memhub.service`, the actors and the web UI's counts import no engine.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any, Final, Literal

import attrs
import numpy as np
import numpy.typing as npt

from memhub.domain.tags import UNTAGGED, read_back
from memhub.domain.timestamps import iso_utc
from memhub.protocol import messages as m
from memhub.storage.engine import Cursor

FloatArray = npt.NDArray[np.float32]

#: mcp-memory-service 12.x's store name for memories stored without one.
DEFAULT_STORE: Final = "default"
#: The type counted for a memory stored without one.
DEFAULT_TYPE: Final = "note"


@attrs.frozen(kw_only=True)
class DedupPolicy:
    """Semantic dedup settings (the ``MCP_SEMANTIC_DEDUP_*`` variables)."""

    enabled: bool = True
    window_hours: float = 24.0
    threshold: float = 0.85


@attrs.frozen(kw_only=True)
class NewMemory:
    """A validated memory ready to insert: normalized tags, canonical type, its unit vector."""

    content: str
    content_hash: str
    tags: list[str]
    memory_type: str
    metadata: dict[str, Any]
    vector: FloatArray = attrs.field(eq=False)
    skip_semantic_dedup: bool = False
    store: str = DEFAULT_STORE

    def record_at(self, now: float) -> m.MemoryRecord:
        """The record a read will give of this memory, stored at ``now``."""
        iso = iso_utc(now)
        return m.MemoryRecord(
            content_hash=self.content_hash,
            content=self.content,
            tags=read_back(self.tags),
            memory_type=self.memory_type,
            metadata=self.metadata,
            created_at=now,
            updated_at=now,
            created_at_iso=iso,
            updated_at_iso=iso,
            store=self.store,
        )

    def stored_change(self, row: int, record: m.MemoryRecord) -> Change:
        return Change(
            kind="stored",
            content_hash=self.content_hash,
            row=row,
            memory=record,
            vector=self.vector,
            store=self.store,
        )


@attrs.frozen(kw_only=True)
class Filters:
    """Row filters shared by search, list and delete, as data; each engine compiles them.

    Every filter is applied *before* a top-k cut.
    """

    tags: list[str] = attrs.field(factory=list)
    match_all: bool = False
    memory_type: str | None = None
    after: float | None = None
    before: float | None = None
    include_superseded: bool = False
    stale_before: float | None = None  # last access (or creation) before this epoch
    agent_id: str | None = None  # 12.x's author scope: metadata.agent_id or tag agent:<id>
    store: str | None = DEFAULT_STORE  # None: every store

    @property
    def only_store(self) -> bool:
        """True when nothing but the store picks rows (what the followed totals count)."""
        return not (
            self.tags
            or self.memory_type
            or self.after is not None
            or self.before is not None
            or self.stale_before is not None
            or self.agent_id is not None
        )

    @property
    def narrowing(self) -> bool:
        """True when the filter can exclude many rows beyond the base visibility rules (a
        named store other than ``default`` usually holds few of them)."""
        return bool(
            (self.store is not None and self.store != DEFAULT_STORE)
            or self.tags
            or self.memory_type
            or self.after is not None
            or self.before is not None
            or self.stale_before is not None
            or self.agent_id is not None
        )


# ---------------------------------------------------------------------------------------------
# The change feed


@attrs.frozen
class Facets:
    """What the aggregate counts know of one memory."""

    tags: tuple[str, ...]
    memory_type: str
    created_at: float
    store: str = DEFAULT_STORE

    @classmethod
    def of(cls, record: m.MemoryRecord, store: str = DEFAULT_STORE) -> Facets:
        return cls(tuple(record.tags), record.memory_type, record.created_at, store)


ChangeKind = Literal["stored", "updated", "deleted"]


@attrs.frozen(kw_only=True)
class Change:
    """One committed change of one memory, as the feed reports it.

    ``row`` is the engine's key of the row (the vector mirror's key). A ``stored`` change
    carries the unit vector when the engine has it at hand; a follower that needs it and finds
    None asks the engine (:meth:`~memhub.storage.engine.Storage.vectors`).
    """

    kind: ChangeKind
    content_hash: str
    row: int
    memory: m.MemoryRecord | None = None  # after the change (stored, updated)
    before: Facets | None = None  # before the change (updated, deleted)
    vector: FloatArray | None = attrs.field(default=None, eq=False)
    client: str = ""  # the MCP client that asked for it ("" when unknown)
    origin: str = ""  # the machine whose daemon wrote it ("" when it was another program)
    store: str = DEFAULT_STORE

    @property
    def after(self) -> Facets | None:
        return Facets.of(self.memory, self.store) if self.memory is not None else None

    def with_vector(self, vector: FloatArray | None) -> Change:
        return attrs.evolve(self, vector=vector)

    def event(self) -> m.Event:
        return m.Event(
            kind=self.kind,
            content_hash=self.content_hash,
            memory=self.memory,
            client=self.client,
            origin=self.origin,
            store=self.store,
        )


@attrs.frozen
class ChangeBatch:
    """The changes committed after a cursor, in commit order, and the cursor after them.

    ``resync`` says the store also changed in ways the feed cannot itemise (another program
    wrote to it): whatever is derived from the store (the aggregate counts) must be recounted.
    ``gap`` says changes after the cursor were lost to the follower (it fell too far behind):
    everything derived, the vector mirror included, must be rebuilt from the store.
    """

    changes: list[Change]
    cursor: Cursor
    resync: bool = False
    gap: bool = False
    #: Another program committed to the store: it may have edited rows in place, which no
    #: feed itemises (the facet index is rebuilt).
    foreign: bool = False


# ---------------------------------------------------------------------------------------------
# What an engine reports about itself


@attrs.frozen(kw_only=True)
class StorageStats:
    """An engine's description of the store it has open, for health reports and ``status``."""

    engine: str  # "sqlite" or "postgresql"
    engine_version: str
    extension: str  # the vector extension: "sqlite-vec" or "pgvector"
    extension_version: str
    location: str  # a file path, or a URL without its password
    schema: str  # the layout generation ("v10", "v12", "team-1")
    store_bytes: int
    log_bytes: int  # write-ahead log not yet folded back (SQLite's -wal); 0 where not known


# ---------------------------------------------------------------------------------------------
# Aggregate counts


def local_day(epoch: float) -> str:
    return time.strftime("%Y-%m-%d", time.localtime(epoch))


@attrs.define
class Totals:
    """Counts over the active memories of one store: tags (case-insensitively), types, days."""

    memories: int = 0
    tags: Counter[str] = attrs.field(factory=Counter)
    spelling: dict[str, str] = attrs.field(factory=dict)
    types: Counter[str] = attrs.field(factory=Counter)
    days: Counter[str] = attrs.field(factory=Counter)

    def add_tags(self, tags: list[str] | tuple[str, ...], n: int) -> None:
        for tag in set(tags):
            key = tag.lower()
            if key == UNTAGGED:
                continue
            self.spelling.setdefault(key, tag)
            self.tags[key] += n

    def count(self, facets: Facets, n: int) -> None:
        """Add (``n`` = 1) or take away (``n`` = -1) one memory."""
        self.memories += n
        self.add_tags(facets.tags, n)
        self.types[facets.memory_type or DEFAULT_TYPE] += n
        self.days[local_day(facets.created_at)] += n

    def merge(self, other: Totals) -> None:
        """Add ``other``'s counts (to total several stores)."""
        self.memories += other.memories
        for key, n in other.tags.items():
            self.spelling.setdefault(key, other.spelling[key])
            self.tags[key] += n
        self.types.update(other.types)
        self.days.update(other.days)

    def ranked_tags(self, limit: int) -> list[tuple[str, int]]:
        ranked = sorted(
            ((k, n) for k, n in self.tags.items() if n > 0), key=lambda item: (-item[1], item[0])
        )[:limit]
        return [(self.spelling[key], n) for key, n in ranked]

    @property
    def distinct_tags(self) -> int:
        return sum(1 for n in self.tags.values() if n > 0)

    def ranked_types(self) -> list[tuple[str, int]]:
        return sorted(
            ((t, n) for t, n in self.types.items() if n > 0), key=lambda item: (-item[1], item[0])
        )

    def days_since(self, first_day: str) -> list[tuple[str, int]]:
        return sorted((d, n) for d, n in self.days.items() if d >= first_day and n > 0)


@attrs.frozen(kw_only=True)
class Candidate:
    """A memory as 12.4's consolidation reads it: the record, its unit vector (None: the row
    has none) and ``last_accessed`` (the column; None when never set or absent)."""

    record: m.MemoryRecord
    vector: FloatArray | None = attrs.field(eq=False)
    last_accessed: float | None
