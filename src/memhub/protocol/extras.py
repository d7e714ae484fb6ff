"""Wire messages of mcp-memory-service 12.4's extra tools (part of :mod:`memhub.protocol.messages`).

Each request is one operation the daemon must do atomically or close to the data (a
read-modify-write of a memory, a graph walk, a versioned update); the bridge composes the rest
from the core requests and formats 12.4's texts. Replies whose shape *is* 12.4's JSON answer
(graph walks, entity views) travel as :class:`ToolData`.
"""

from __future__ import annotations

from typing import Any

import attrs

# ---------------------------------------------------------------------------------------------
# Client -> daemon


@attrs.frozen(kw_only=True)
class MistakeNoteAdd:
    """12.4's ``mistake_note_add``: bump the closest mistake note (similarity of ``pattern +
    context`` to it at least ``dedup_threshold``) or store a new one; a new note refused as
    a duplicate bumps the memory it duplicates. The bump is one read-modify-write in the
    writer. The factors are the bridge's ``MCP_ERROR_WEIGHT``, ``MCP_LEARNING_RATE`` and
    ``MCP_FRUSTRATION_THRESHOLD``."""

    id: int
    error_pattern: str
    context_signature: str
    incorrect_action: str
    correct_action: str
    dedup_threshold: float = 0.85
    error_weight: float = 3.0
    learning_rate: float = 0.1
    frustration_threshold: float = 5.0
    agent_id: str | None = None


@attrs.frozen(kw_only=True)
class BumpSessionCounter:
    """Add one to agent ``agent_id``'s session counter memory (12.4's
    ``__session_counter_<agent>``), creating it at 1."""

    id: int
    agent_id: str


@attrs.frozen(kw_only=True)
class ListConflicts:
    """Unresolved ``contradicts`` pairs of live, current memories, every store."""

    id: int


@attrs.frozen(kw_only=True)
class ResolveConflict:
    """``winner_hash`` supersedes ``loser_hash`` (12.4's ``memory_resolve``)."""

    id: int
    winner_hash: str
    loser_hash: str


@attrs.frozen(kw_only=True)
class VersionedUpdate:
    """12.4's versioned ``memory_update``: a new version with ``content`` (and optionally new
    tags and type) inherits the old one's metadata (``metadata`` overrides keys of it) and
    store; the old version is superseded. ``store``: refuse unless the memory is in it."""

    id: int
    content_hash: str
    content: str
    tags: list[str] | None = None
    memory_type: str | None = None
    reason: str | None = None
    metadata: dict[str, Any] | None = None
    store: str | None = None


@attrs.frozen(kw_only=True)
class GraphQuery:
    """One read-only ``memory_graph`` walk: ``connected`` (``hash``, ``max_hops``), ``path``
    (``hash1`` → ``hash2`` in at most ``max_depth`` nodes), ``subgraph`` (``hash``,
    ``radius``), ``infer`` (``rel_type``, ``max_hops``), ``suggest`` (``hash``). Answered
    with 12.4's JSON in :class:`ToolData`."""

    id: int
    action: str
    hash: str | None = None
    hash1: str | None = None
    hash2: str | None = None
    max_hops: int = 2
    max_depth: int = 5
    radius: int = 2
    rel_type: str = "related"


@attrs.frozen(kw_only=True)
class ExploreEntities:
    """12.4's ``memory_explore``: a semantic search for ``query`` (``max(max_entities *
    chunks_per_entity, max_entities)`` hits with any of ``tags`` in ``store``, ``all``: every
    store; those scoring at least ``min_score``), then the entities linked to the hits, each
    with its best hits. ``scoring``: None or ``composite``. Answered with 12.4's JSON in
    :class:`ToolData`."""

    id: int
    query: str
    max_entities: int = 10
    chunks_per_entity: int = 3
    tags: list[str] = attrs.field(factory=list)
    min_score: float = 0.0
    scoring: str | None = None
    store: str = "default"


@attrs.frozen(kw_only=True)
class EntityDetail:
    """12.4's ``memory_detail``: entity ``entity_id``'s newest ``limit`` memories ranked by
    quality, and (``include_related``) the entities of the memories sharing neighbours with
    its first ``max_hops + 1`` memories. ``store``: only its memories (None or ``all``: every
    store). Answered with 12.4's JSON in :class:`ToolData`."""

    id: int
    entity_id: str
    limit: int = 50
    include_related: bool = True
    max_hops: int = 1
    scoring: str | None = None
    store: str | None = None


@attrs.frozen(kw_only=True)
class QualityRate:
    """12.4's ``memory_quality rate``: record a user rating (-1, 0 or 1) of the live memory
    ``content_hash`` (any store) in its metadata, in one read-modify-write in the writer.
    Answered with :class:`ToolData` ``{"old_score", "new_score"}``."""

    id: int
    content_hash: str
    rating: int
    feedback: str = ""


@attrs.frozen(kw_only=True)
class QualityAnalyze:
    """12.4's ``memory_quality analyze`` over the default store, scores in ``[min_quality,
    max_quality]``; answered with :class:`ToolData` (the engine's aggregation)."""

    id: int
    min_quality: float = 0.0
    max_quality: float = 1.0


@attrs.frozen(kw_only=True)
class QualityMaintain:
    """12.4's ``memory_quality maintain`` local steps (duplicates, conflicts, stale, quality,
    regex entities); ``dry_run`` writes nothing. The knobs are the bridge's ``MCP_MAINTAIN_*``
    and ``MCP_ENTITY_CUSTOM_TERMS``. Answered with :class:`ToolData` ``{"steps", "errors"}``."""

    id: int
    dry_run: bool = True
    stale_days: int = 30
    auto_resolve: bool = False
    auto_resolve_threshold: float = 0.95
    auto_resolve_age_days: float = 7.0
    scan_limit: int = 2000
    custom_terms: list[str] = attrs.field(factory=list)


@attrs.frozen(kw_only=True)
class ConsolidateRecommend:
    """12.4's ``memory_consolidate recommend`` selection: the oldest ``limit`` live memories of
    every store (superseded ones too) created in ``[now - window_days days, now]``. Answered
    with :class:`ToolData` ``{"memory_count", "memory_types" (oldest first), "total_size_bytes"
    (characters of content), "old_count" (more than 30 whole days old at ``now``)}``."""

    id: int
    now: float
    window_days: int
    limit: int = 500


@attrs.frozen(kw_only=True)
class ConsolidateMerge:
    """12.4's ``memory_consolidate merge``, in one write transaction: ``merged_content`` is
    stored in the default store (no semantic dedup; ``tags`` or the sorted union of the
    sources' tags; ``memory_type`` or the first source's), then each source (found in any
    store) is soft-deleted from the default store, its graph edges with it. Answered with
    :class:`ToolData` 12.4's ``{"ok", "content_hash", "merged", "deleted", "failed"}``;
    ``not_found`` ("memories not found: …", nothing written) if a source is missing."""

    id: int
    content_hashes: list[str]
    merged_content: str
    tags: list[str] | None = None
    memory_type: str | None = None


@attrs.frozen(kw_only=True)
class ConsolidationSettings:
    """12.4's ``CONSOLIDATION_CONFIG`` and the settings its pipeline reads beside it, as the
    bridge's environment gives them (``MCP_DECAY_ENABLED``, ``MCP_ASSOCIATION_*``, ...).
    ``archive_path``: the directory archives are written to (the bridge resolves 12.4's
    ``MCP_CONSOLIDATION_ARCHIVE_PATH`` / ``MCP_MEMORY_ARCHIVE_PATH`` / base-directory rule)."""

    decay_enabled: bool = True
    associations_enabled: bool = True
    min_similarity: float = 0.3
    max_similarity: float = 0.7
    max_pairs: int = 1000
    clustering_enabled: bool = True
    min_cluster_size: int = 5
    clustering_algorithm: str = "auto"
    compression_enabled: bool = True
    max_summary_length: int = 500
    forgetting_enabled: bool = True
    relevance_threshold: float = 0.1
    forgetting_min_age_days: int = 365
    batch_size: int = 500
    incremental_mode: bool = True
    retention: dict[str, int] = attrs.field(factory=dict)
    quality_boost_enabled: bool = True
    quality_boost_min_connections: int = 5
    quality_boost_factor: float = 1.2
    retention_high: int = 365
    retention_medium: int = 180
    retention_low_min: int = 30
    retention_low_max: int = 90
    typed_edges: bool = True
    association_memories: bool = True
    association_edges: bool = True
    archive_path: str = ""


@attrs.frozen(kw_only=True)
class ConsolidateRun:
    """12.4's ``memory_consolidate run`` for ``horizon`` (daily, weekly, monthly, quarterly,
    yearly): decay, clustering, associations, compression and forgetting as that horizon runs
    them, persisted in chunks of one write transaction each. One run at a time per store:
    ``busy`` while another runs. Answered with :class:`ToolData` 12.4's report
    ``{"time_horizon", "duration", "memories_processed", "associations_discovered",
    "clusters_created", "memories_compressed", "memories_archived", "errors"}``."""

    id: int
    horizon: str
    settings: ConsolidationSettings = attrs.field(factory=ConsolidationSettings)


# ---------------------------------------------------------------------------------------------
# Daemon -> client


@attrs.frozen(kw_only=True)
class MistakeNoted:
    """Reply to ``MistakeNoteAdd``: ``created`` or ``updated`` (an existing note was bumped)."""

    id: int
    status: str
    content_hash: str
    failure_count: int


@attrs.frozen(kw_only=True)
class ConflictInfo:
    hash_a: str
    hash_b: str
    content_a: str
    content_b: str
    similarity: float
    edge_metadata: dict[str, Any]


@attrs.frozen(kw_only=True)
class ConflictList:
    """Reply to ``ListConflicts``, each pair once (``hash_a < hash_b``)."""

    id: int
    conflicts: list[ConflictInfo]


@attrs.frozen(kw_only=True)
class Versioned:
    """Reply to ``VersionedUpdate``: the new version's hash and its parent's."""

    id: int
    content_hash: str
    parent_hash: str


@attrs.frozen(kw_only=True)
class ToolData:
    """A result whose shape is 12.4's own JSON answer (graph walks, entity views, reports)."""

    id: int
    data: dict[str, Any]


REQUESTS = (
    MistakeNoteAdd,
    BumpSessionCounter,
    ListConflicts,
    ResolveConflict,
    VersionedUpdate,
    GraphQuery,
    ExploreEntities,
    EntityDetail,
    QualityRate,
    QualityAnalyze,
    QualityMaintain,
    ConsolidateRecommend,
    ConsolidateMerge,
    ConsolidateRun,
)
REPLIES = (MistakeNoted, ConflictList, Versioned, ToolData)
