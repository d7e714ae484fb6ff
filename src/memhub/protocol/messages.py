"""Wire messages of the memhub protocol: frozen, keyword-only, behaviour-free attrs classes.

Every client request carries an ``id`` that its reply echoes. The serialization rules (the
``type`` tag of each class, strict structuring) live in :mod:`memhub.protocol.codec`; this module
only says what the messages are. ``docs/protocol.md`` shows each one as JSON.

Times on the wire are Unix epoch seconds (floats). Content hashes are the 64-hex sha256 of the
stripped, lower-cased content, as mcp-memory-service computes them.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

from memhub.protocol.extras import BumpSessionCounter as BumpSessionCounter
from memhub.protocol.extras import ConflictInfo as ConflictInfo
from memhub.protocol.extras import ConflictList as ConflictList
from memhub.protocol.extras import ConsolidateMerge as ConsolidateMerge
from memhub.protocol.extras import ConsolidateRecommend as ConsolidateRecommend
from memhub.protocol.extras import ConsolidateRun as ConsolidateRun
from memhub.protocol.extras import ConsolidationSettings as ConsolidationSettings
from memhub.protocol.extras import EntityDetail as EntityDetail
from memhub.protocol.extras import ExploreEntities as ExploreEntities
from memhub.protocol.extras import GraphQuery as GraphQuery
from memhub.protocol.extras import ListConflicts as ListConflicts
from memhub.protocol.extras import MistakeNoteAdd as MistakeNoteAdd
from memhub.protocol.extras import MistakeNoted as MistakeNoted
from memhub.protocol.extras import QualityAnalyze as QualityAnalyze
from memhub.protocol.extras import QualityMaintain as QualityMaintain
from memhub.protocol.extras import QualityRate as QualityRate
from memhub.protocol.extras import ResolveConflict as ResolveConflict
from memhub.protocol.extras import ToolData as ToolData
from memhub.protocol.extras import Versioned as Versioned
from memhub.protocol.extras import VersionedUpdate as VersionedUpdate

SearchMode = Literal["semantic", "exact", "hybrid"]
TagMatch = Literal["any", "all"]
EventKind = Literal["stored", "updated", "deleted"]


# ---------------------------------------------------------------------------------------------
# Shared records


@attrs.frozen(kw_only=True)
class MemoryRecord:
    """One memory as stored in the database (tombstones never travel)."""

    content_hash: str
    content: str
    tags: list[str]
    memory_type: str
    metadata: dict[str, Any]
    created_at: float
    updated_at: float
    created_at_iso: str
    updated_at_iso: str
    store: str = "default"
    """The named store it is in (mcp-memory-service 12.x's ``store``; ``default`` unless named)."""


@attrs.frozen(kw_only=True)
class Hit:
    """A search result: the memory and its relevance score in [0, 1]."""

    memory: MemoryRecord
    score: float


@attrs.frozen(kw_only=True)
class Turn:
    """One turn of a conversation passed to ``store_session``."""

    role: str
    content: str


# ---------------------------------------------------------------------------------------------
# Client -> daemon


@attrs.frozen(kw_only=True)
class Hello:
    """First message on every connection. Nothing else is accepted before it."""

    id: int
    protocol: int
    token: str
    client: str = ""


@attrs.frozen(kw_only=True)
class Store:
    """Store one memory. Exact duplicates always fail with ``duplicate``; semantic dedup
    follows the daemon's settings and is skipped for a ``conversation_id``, for the type
    ``session`` and when ``skip_semantic_dedup`` is set."""

    id: int
    content: str
    tags: list[str] = attrs.field(factory=list)
    memory_type: str | None = None
    metadata: dict[str, Any] = attrs.field(factory=dict)
    conversation_id: str | None = None
    skip_semantic_dedup: bool = False
    store: str = "default"
    """The named store to write to (12.x's ``store``)."""


@attrs.frozen(kw_only=True)
class StoreSession:
    """Store a conversation as one memory (or several chunks split on turn boundaries)."""

    id: int
    turns: list[Turn]
    session_id: str | None = None
    tags: list[str] = attrs.field(factory=list)
    metadata: dict[str, Any] = attrs.field(factory=dict)
    store: str = "default"


@attrs.frozen(kw_only=True)
class Search:
    """Search memories. Filters are applied before the top-``limit`` cut.

    ``time_expr`` is a natural-language range parsed in the daemon's local time; it takes
    precedence over ``after``/``before``. Without a query, matching memories are returned
    newest first with a score of 0.5 (as mcp-memory-service does).
    """

    id: int
    query: str | None = None
    mode: SearchMode = "semantic"
    limit: int = 10
    tags: list[str] = attrs.field(factory=list)
    tag_match: TagMatch = "any"
    memory_type: str | None = None
    after: float | None = None
    before: float | None = None
    time_expr: str | None = None
    include_superseded: bool = False
    include_debug: bool = False
    #: The named store to read (``all``: every store).
    store: str = "default"
    #: Only memories authored by this agent (``metadata.agent_id`` or tag ``agent:<id>``, as
    #: mcp-memory-service 12.x scopes them); applied before the top-``limit`` cut.
    agent_id: str | None = None


@attrs.frozen(kw_only=True)
class ListMemories:
    """One page of memories, newest first."""

    id: int
    page: int = 1
    page_size: int = 20
    tags: list[str] = attrs.field(factory=list)
    tag_match: TagMatch = "any"
    memory_type: str | None = None
    stale_days: int | None = None
    #: Only memories authored by this agent (see ``Search.agent_id``).
    agent_id: str | None = None
    #: The named store to list (``all``: every store).
    store: str = "default"


@attrs.frozen(kw_only=True)
class Get:
    """Fetch one memory by content hash."""

    id: int
    content_hash: str


@attrs.frozen(kw_only=True)
class Delete:
    """Soft-delete by hash, or by tags and/or a created-at range. ``content_hash`` wins."""

    id: int
    content_hash: str | None = None
    tags: list[str] = attrs.field(factory=list)
    tag_match: TagMatch = "any"
    after: float | None = None
    before: float | None = None
    dry_run: bool = False
    store: str = "default"
    """Delete only in this named store (``all``: in any store)."""


@attrs.frozen(kw_only=True)
class Update:
    """Change tags (replace), type, or metadata (merge) of one memory."""

    id: int
    content_hash: str
    tags: list[str] | None = None
    memory_type: str | None = None
    metadata: dict[str, Any] | None = None
    preserve_timestamps: bool = True
    store: str | None = None
    """When given (and not ``all``), the memory must be in this store, or nothing changes."""


@attrs.frozen(kw_only=True)
class CleanupDuplicates:
    """Soft-delete every active memory whose hash repeats an older active one.

    ``dry_run`` only lists them (the web UI shows that list before it asks)."""

    id: int
    dry_run: bool = False


@attrs.frozen(kw_only=True)
class Health:
    """Health and statistics of the daemon and its database."""

    id: int


@attrs.frozen(kw_only=True)
class Subscribe:
    """Receive an ``Event`` for every memory stored, updated or deleted by any client."""

    id: int


@attrs.frozen(kw_only=True)
class Unsubscribe:
    """Stop receiving events on this connection."""

    id: int


@attrs.frozen(kw_only=True)
class Shutdown:
    """Ask the daemon to stop gracefully (drain queues, commit, checkpoint)."""

    id: int


@attrs.frozen(kw_only=True)
class IssueTicket:
    """Ask for a one-time browser ticket (master token only; see ``memhub ui``)."""

    id: int


@attrs.frozen(kw_only=True)
class CountTags:
    """How many active memories carry each tag, over the whole store, most used first."""

    id: int
    limit: int = 200


@attrs.frozen(kw_only=True)
class CountTypes:
    """How many active memories there are of each type."""

    id: int


@attrs.frozen(kw_only=True)
class CountDays:
    """How many active memories were created on each of the last ``days`` local days."""

    id: int
    days: int = 30


@attrs.frozen(kw_only=True)
class ListClients:
    """The connections the daemon serves right now."""

    id: int


Request = (
    Store
    | StoreSession
    | Search
    | ListMemories
    | Get
    | Delete
    | Update
    | CleanupDuplicates
    | Health
    | Subscribe
    | Unsubscribe
    | Shutdown
    | IssueTicket
    | CountTags
    | CountTypes
    | CountDays
    | ListClients
    # mcp-memory-service 12.4's extra tools (memhub.protocol.extras)
    | MistakeNoteAdd
    | BumpSessionCounter
    | ListConflicts
    | ResolveConflict
    | VersionedUpdate
    | GraphQuery
    | ExploreEntities
    | EntityDetail
    | QualityRate
    | QualityAnalyze
    | QualityMaintain
    | ConsolidateRecommend
    | ConsolidateMerge
    | ConsolidateRun
)
ClientMsg = Hello | Request


# ---------------------------------------------------------------------------------------------
# Daemon -> client


@attrs.frozen(kw_only=True)
class Welcome:
    """Reply to ``Hello``: who the daemon is and what it serves."""

    id: int
    protocol: int
    server_version: str
    store: str
    """The store served: a file path, or a team store's URL (never with a password)."""
    engine: str
    """``sqlite`` or ``postgresql``."""
    machine: str
    """The name this daemon gives its writes in the live feed (``MEMHUB_MACHINE_NAME``)."""
    pid: int
    schema: str
    embedder: str
    embedding_dim: int
    session_token: str | None = None
    """Set when the hello carried a browser ticket: the token this tab reconnects with."""


@attrs.frozen(kw_only=True)
class Stored:
    """The memory is committed. ``warning`` carries a type coercion notice."""

    id: int
    content_hash: str
    memory_type: str
    created_at: float
    warning: str | None = None


@attrs.frozen(kw_only=True)
class SessionStored:
    """A session is committed: one hash per chunk (one chunk when it was short enough)."""

    id: int
    session_id: str
    content_hashes: list[str]
    turns: int


@attrs.frozen(kw_only=True)
class SearchResult:
    """Hits best first; ``debug`` holds filter counts when asked for."""

    id: int
    mode: SearchMode
    query: str | None
    hits: list[Hit]
    debug: dict[str, Any] | None = None


@attrs.frozen(kw_only=True)
class Page:
    """One page of ``ListMemories``; the fields match mcp-memory-service's memory_list JSON."""

    id: int
    memories: list[MemoryRecord]
    page: int
    page_size: int
    total: int
    total_pages: int
    has_more: bool


@attrs.frozen(kw_only=True)
class Found:
    """Reply to ``Get``."""

    id: int
    memory: MemoryRecord


@attrs.frozen(kw_only=True)
class Deleted:
    """What a delete removed (or, with ``dry_run``, would remove)."""

    id: int
    content_hashes: list[str]
    dry_run: bool


@attrs.frozen(kw_only=True)
class Updated:
    """The update is committed; ``fields`` lists what changed, ``updated_at`` last if it moved."""

    id: int
    content_hash: str
    fields: list[str]


@attrs.frozen(kw_only=True)
class CleanedUp:
    """Duplicates soft-deleted by ``CleanupDuplicates`` (with ``dry_run``: that would be)."""

    id: int
    content_hashes: list[str]
    dry_run: bool = False


@attrs.frozen(kw_only=True)
class WriterStats:
    """Counters of the single writer."""

    queue_depth: int
    batches: int
    writes: int
    last_batch_size: int
    max_batch_size: int
    mean_batch_size: float
    busy_retries: int
    busy_failures: int
    upkeep_runs: int
    """Engine housekeeping done between batches (SQLite: WAL checkpoints)."""


@attrs.frozen(kw_only=True)
class EmbedderStats:
    """Counters of the embedding actor."""

    name: str
    dimension: int
    queue_depth: int
    batches: int
    texts: int
    max_batch_size: int
    mean_batch_size: float
    cache_hits: int
    cache_misses: int


@attrs.frozen(kw_only=True)
class ReaderStats:
    """Counters shared by the reader actors."""

    readers: int
    queue_depth: int
    queries: int
    timeouts: int
    mean_query_ms: float


@attrs.frozen(kw_only=True)
class StoreStats:
    """What the storage engine says about the store it has open."""

    engine: str
    """``sqlite`` or ``postgresql``."""
    engine_version: str
    extension: str
    """The vector extension: ``sqlite-vec`` or ``pgvector``."""
    extension_version: str
    location: str
    """A file path, or a team store's URL without its password."""
    schema: str
    """The layout generation: ``v10``, ``v12`` (SQLite) or ``team-1`` (PostgreSQL)."""
    store_bytes: int
    log_bytes: int
    """Write-ahead log not yet folded back (SQLite's ``-wal``; 0 for PostgreSQL)."""


@attrs.frozen(kw_only=True)
class MirrorStats:
    """The daemon's in-RAM vector mirror (absent with ``MEMHUB_VECTOR_INDEX=vec0``)."""

    rows: int
    position: int
    """The change-feed position the mirror reflects (engine-defined)."""
    digest: str
    """An order-independent digest of the row ids held: equal on two daemons of one store,
    or between a daemon and a fresh load, exactly when they hold the same rows."""


@attrs.frozen(kw_only=True)
class HealthReport:
    """Everything ``memhub status``, ``memory_health`` and ``memory_stats`` show."""

    id: int
    status: Literal["healthy", "unhealthy"]
    message: str
    server_version: str
    protocol: int
    pid: int
    machine: str
    uptime_s: float
    store: StoreStats
    total_memories: int
    deleted_memories: int
    connected_clients: int
    subscribers: int
    writer: WriterStats
    embedder: EmbedderStats
    readers: ReaderStats
    mirror: MirrorStats | None


@attrs.frozen(kw_only=True)
class Ok:
    """Plain acknowledgement (subscribe, unsubscribe, shutdown)."""

    id: int


@attrs.frozen(kw_only=True)
class Failed:
    """A request failed. ``id`` is None when the frame could not be read far enough to know it."""

    id: int | None
    code: str
    message: str
    detail: dict[str, Any] | None = None


@attrs.frozen(kw_only=True)
class Event:
    """Pushed to subscribers after the commit of a change, from any client of any daemon of
    the store, in commit order.

    ``memory`` is the record as committed for ``stored`` and ``updated``, None for ``deleted``.
    """

    kind: EventKind
    content_hash: str
    memory: MemoryRecord | None = None
    client: str = ""
    """The ``client`` name the writer's connection gave in its hello ("" if none or unknown)."""
    origin: str = ""
    """The machine whose daemon committed it; "" when another program wrote the store."""
    store: str = "default"
    """The named store the memory is in (mcp-memory-service 12.x's ``store``)."""


@attrs.frozen(kw_only=True)
class Ticket:
    """A one-time ticket: trade it in ``hello`` (as the token) within ``expires_in_s``."""

    id: int
    ticket: str
    expires_in_s: float


@attrs.frozen(kw_only=True)
class TagCount:
    tag: str
    count: int


@attrs.frozen(kw_only=True)
class TagCounts:
    """Reply to ``CountTags``: ``distinct`` tags in all, the ``limit`` most used listed."""

    id: int
    tags: list[TagCount]
    distinct: int


@attrs.frozen(kw_only=True)
class TypeCount:
    memory_type: str
    count: int


@attrs.frozen(kw_only=True)
class TypeCounts:
    """Reply to ``CountTypes``, most common first."""

    id: int
    types: list[TypeCount]


@attrs.frozen(kw_only=True)
class DayCount:
    day: str
    """The local date, ``YYYY-MM-DD``."""
    count: int


@attrs.frozen(kw_only=True)
class DayCounts:
    """Reply to ``CountDays``: only days with at least one memory, oldest first."""

    id: int
    days: list[DayCount]


@attrs.frozen(kw_only=True)
class ClientInfo:
    """One connection as ``ListClients`` shows it."""

    name: str
    kind: Literal["token", "browser"]
    connected_at: float
    requests: int
    in_flight: int


@attrs.frozen(kw_only=True)
class Clients:
    """Reply to ``ListClients``, oldest connection first."""

    id: int
    clients: list[ClientInfo]


Reply = (
    Welcome
    | Stored
    | SessionStored
    | SearchResult
    | Page
    | Found
    | Deleted
    | Updated
    | CleanedUp
    | HealthReport
    | Ticket
    | TagCounts
    | TypeCounts
    | DayCounts
    | Clients
    | MistakeNoted
    | ConflictList
    | Versioned
    | ToolData
    | Ok
    | Failed
)
ServerMsg = Reply | Event
