"""12.4's ``memory_consolidate run`` in the daemon: the pipeline for one time horizon.

Order and phases are 12.4's (``consolidator.py``): the horizon's batch (memories created in
its window, the least recently consolidated ``batch_size`` first), decay scores merged into
their metadata, clusters (weekly, monthly, quarterly), associations (weekly, monthly: a memory
and ``memory_graph`` edges each), cluster summaries (when clusters exist), forgetting
(monthly, quarterly, yearly: archives on disk, deletions, compressed replacements), then
``last_consolidated_at`` on the batch. Daily runs decay only.

* **Never in the way of interactive writes.** Reads run in reader snapshots, the scoring,
  pairing and clustering in a worker thread, and every write is a bounded chunk of the writer
  (:mod:`memhub.extras.consolidation_writes`): a ``memory_store`` queued meanwhile waits one
  chunk at most.
* **One run at a time per store**, however many bridges ask: a second ``run`` is answered
  ``busy`` with who runs what since when. Across a team store's machines the engine's
  store-wide lock (:meth:`~memhub.storage.engine.Storage.try_hold`: a PostgreSQL advisory
  lock on a session of its own, gone with a crashed daemon) answers ``busy`` too, without the
  details (they are the other machine's).
* **A kill at any instant** leaves whole chunks; running again is safe (a rerun finds the
  stored associations and summaries and does not write them twice).
"""

from __future__ import annotations

import random
import time
import weakref
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs
import trio

from memhub.consolidation import associations, clustering, compression, decay
from memhub.consolidation.inference import infer, review_band
from memhub.domain.ontology import custom_types_from_env, known_types
from memhub.domain.timestamps import iso_utc
from memhub.errors import BadRequest
from memhub.extras import consolidation_forget as forget
from memhub.extras import consolidation_writes as writes
from memhub.protocol import messages as m
from memhub.storage.model import Candidate, Filters
from memhub.storage.relations import Edge

if TYPE_CHECKING:
    from memhub.service import MemoryService
    from memhub.storage.engine import Snapshot

DAY: Final = 86400.0
#: 12.4's ``HORIZON_CONFIGS`` windows (days) and ``ENABLED_PHASES``.
WINDOWS: Final = {"daily": 1, "weekly": 7, "monthly": 30, "quarterly": 90, "yearly": 365}
CLUSTERING: Final = frozenset({"weekly", "monthly", "quarterly"})
ASSOCIATIONS: Final = frozenset({"weekly", "monthly"})
COMPRESSION: Final = frozenset({"weekly", "monthly", "quarterly"})
FORGETTING: Final = frozenset({"monthly", "quarterly", "yearly"})
#: The batch when 12.4's incremental mode is off (12.4 takes the whole window; memhub bounds it).
MAX_BATCH: Final = 10_000
MAX_PAIRS: Final = 100_000
MAX_ASSOCIATION_TAGGED: Final = 1_000_000
LOCK: Final = "consolidation"
#: The reads that scan a window (or every association memory) get longer than an interactive
#: read's deadline: on a store of millions they are seconds of the run's own work.
READ_TIMEOUT: Final = 300.0


@attrs.frozen
class Running:
    horizon: str
    client: str
    since: float


_running: weakref.WeakKeyDictionary[MemoryService, Running] = weakref.WeakKeyDictionary()


@attrs.define
class Report:
    """12.4's ``ConsolidationReport``."""

    horizon: str
    processed: int = 0
    associations: int = 0
    clusters: int = 0
    compressed: int = 0
    archived: int = 0
    errors: list[str] = attrs.field(factory=list)


def check(req: m.ConsolidateRun) -> None:
    """Refuse what 12.4 refuses (and bounds memhub sets) before anything runs."""
    if req.horizon not in WINDOWS:
        raise BadRequest(
            "Invalid time_horizon. Must be one of: daily, weekly, monthly, quarterly, yearly, "
            "incremental"
        )
    s = req.settings
    if not 1 <= s.batch_size <= MAX_BATCH:
        raise BadRequest(f"batch_size must be between 1 and {MAX_BATCH}")
    if not 0 <= s.max_pairs <= MAX_PAIRS:
        raise BadRequest(f"max_pairs must be between 0 and {MAX_PAIRS}")
    if s.min_cluster_size < 1 or s.max_summary_length < 4:
        raise BadRequest("min_cluster_size must be at least 1, max_summary_length at least 4")
    if any(days < 1 for days in s.retention.values()):
        raise BadRequest("retention periods must be at least 1 day")
    if s.forgetting_enabled and req.horizon in FORGETTING and not s.archive_path:
        raise BadRequest("archive_path is required for a run that forgets")
    try:
        clustering.resolve(s.clustering_algorithm)
    except clustering.ClusteringUnavailable as exc:
        raise BadRequest(str(exc)) from None


async def run(svc: MemoryService, req: m.ConsolidateRun, client: str) -> m.ToolData:
    check(req)
    busy = _running.get(svc)
    if busy is not None:
        data = {"busy": True, "horizon": busy.horizon, "client": busy.client,
                "since": iso_utc(busy.since)}  # fmt: skip
        return m.ToolData(id=req.id, data=data)
    _running[svc] = Running(req.horizon, client, time.time())
    try:
        # Across machines: a team store's other daemons hold the same store-wide lock.
        held = await trio.to_thread.run_sync(svc.storage.try_hold, LOCK)
        if held is None:
            data = {"busy": True, "horizon": None, "client": None, "since": None}
            return m.ToolData(id=req.id, data=data)
        started = time.monotonic()
        try:
            report = await pipeline(svc, req, client)
        finally:
            # Shielded: a run cancelled with its caller (a client gone) must still give the
            # team store's lock back, or no machine could consolidate until this daemon ends.
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(held.release)
    finally:
        del _running[svc]
    return m.ToolData(
        id=req.id,
        data={
            "time_horizon": report.horizon,
            "duration": time.monotonic() - started,
            "memories_processed": report.processed,
            "associations_discovered": report.associations,
            "clusters_created": report.clusters,
            "memories_compressed": report.compressed,
            "memories_archived": report.archived,
            "errors": report.errors,
        },
    )


def _batch(svc: MemoryService, after: float, before: float, limit: int) -> Any:
    """The batch as 12.4 reads it (its ``Memory`` turns unknown types into ``observation``)."""
    raw = svc.settings.custom_memory_types
    known = known_types(custom_types_from_env({"MCP_CUSTOM_MEMORY_TYPES": raw} if raw else {}))

    def read(snap: Snapshot) -> list[Candidate]:
        return [decay.as_12_4_reads(c, known)
                for c in snap.consolidation_batch(after, before, limit)]  # fmt: skip

    return read


async def pipeline(svc: MemoryService, req: m.ConsolidateRun, client: str) -> Report:
    s, horizon = req.settings, req.horizon
    if s.forgetting_enabled and horizon in FORGETTING:
        # 12.4 makes its archive directories before any run; a refusal writes nothing
        await trio.to_thread.run_sync(forget.archive_at, Path(s.archive_path))
    now = time.time()
    limit = s.batch_size if s.incremental_mode else MAX_BATCH
    window = _batch(svc, now - WINDOWS[horizon] * DAY, now, limit)
    memories = await svc.readers.submit(window, timeout_s=READ_TIMEOUT)
    report = Report(horizon=horizon, processed=len(memories))
    if not memories:
        return report
    if s.decay_enabled:
        await _decay(svc, client, memories, s, now)
    clusters: list[clustering.Cluster] = []
    if s.clustering_enabled and horizon in CLUSTERING:
        clusters = await trio.to_thread.run_sync(
            clustering.clusters, memories, s.clustering_algorithm, s.min_cluster_size, now
        )
        report.clusters = len(clusters)
    if s.associations_enabled and horizon in ASSOCIATIONS:
        report.associations = await _associate(svc, client, memories, s, report)
    if s.compression_enabled and clusters and horizon in COMPRESSION:
        report.compressed = await _compress(svc, client, clusters, memories, s, report)
    if s.forgetting_enabled and horizon in FORGETTING:
        report.archived = await _forget(svc, client, req, now, report)
    if s.incremental_mode:
        stamp = {"last_consolidated_at": datetime.now().timestamp()}
        await writes.merge_metadata(svc, client, {c.record.content_hash: stamp for c in memories})
    return report


async def _scores(
    svc: MemoryService, memories: list[Candidate], s: m.ConsolidationSettings, now: float
) -> dict[str, decay.Relevance]:
    hashes = [c.record.content_hash for c in memories]
    counts = await svc.readers.submit(lambda snap: snap.neighbour_counts(hashes))

    def score() -> dict[str, decay.Relevance]:
        return {
            c.record.content_hash: decay.relevance(
                c.record, c.last_accessed, counts.get(c.record.content_hash, 0), s, now
            )
            for c in memories
        }

    return await trio.to_thread.run_sync(score)


async def _decay(
    svc: MemoryService, client: str, memories: list[Candidate], s: m.ConsolidationSettings,
    now: float,
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Score and persist (12.4's phase 1); the keys merged into each memory's metadata."""
    scores = await _scores(svc, memories, s, now)
    at = datetime.now().isoformat()
    keys = {h: decay.metadata_keys(score, at) for h, score in scores.items()}
    await writes.merge_metadata(svc, client, keys)
    return keys


def _existing_pairs(snap: Snapshot) -> set[tuple[str, str]]:
    """12.4's ``_get_existing_associations``: pairs recorded by association memories."""
    tagged = Filters(tags=[associations.ASSOCIATION_TAG], store=None, include_superseded=True)
    rows, _ = snap.list_page(tagged, page=1, page_size=MAX_ASSOCIATION_TAGGED)
    pairs = set()
    for record in rows:
        sources = record.metadata.get("source_memory_hashes")
        if isinstance(sources, list) and len(sources) >= 2:
            a, b = sorted(str(h) for h in sources[:2])
            pairs.add((a, b))
    return pairs


def _association_memory(found: associations.Association, edge: Edge | None) -> writes.Planned:
    a, b = found.source.record.content_hash, found.target.record.content_hash
    kind = found.connection_type
    return writes.Planned(
        content=(
            f"Association between memories {a[:8]} and {b[:8]}: {kind} "
            f"(similarity: {found.similarity:.3f})"
        ),
        content_hash=f"assoc_{a[:8]}_{b[:8]}",
        tags=["association", "discovered", *kind.split(", ")],
        memory_type="observation",
        metadata={
            "source_memory_hashes": [a, b],
            "similarity_score": found.similarity,
            "connection_type": kind,
            "discovery_method": "creative_association",
            "discovery_date": datetime.now().isoformat(),
            **found.analysis_metadata(),
        },
        vector=None,
        edges=[edge] if edge is not None else [],
    )


def _edge(found: associations.Association, typed: bool, now: float) -> Edge:
    src, tgt = found.source.record, found.target.record
    label, confidence = infer(
        (src.memory_type, tgt.memory_type), (src.content, tgt.content),
        (src.created_at, tgt.created_at), (src.tags, tgt.tags), found.similarity,
        typed_edges=typed,
    )  # fmt: skip
    label, review = review_band(label, confidence)
    metadata = {
        "discovery_method": "creative_association",
        "discovery_date": datetime.now().isoformat(),
        **found.analysis_metadata(),
        "relationship_confidence": round(confidence, 3),
        "needs_review": review,
    }
    return Edge(source=src.content_hash, target=tgt.content_hash, similarity=found.similarity,
                connection_types=[t.strip() for t in found.connection_type.split(",")],
                metadata=metadata, relationship_type=label, created_at=now)  # fmt: skip


async def _associate(
    svc: MemoryService, client: str, memories: list[Candidate], s: m.ConsolidationSettings,
    report: Report,
) -> int:  # fmt: skip
    existing = await svc.readers.submit(_existing_pairs, timeout_s=READ_TIMEOUT)

    def compute() -> list[writes.Planned]:
        found, _ = associations.discover(
            memories, existing, min_similarity=s.min_similarity,
            max_similarity=s.max_similarity, max_pairs=s.max_pairs, rng=random.Random(),
        )  # fmt: skip
        now = time.time()
        edges = [_edge(f, s.typed_edges, now) if s.association_edges else None for f in found]
        return [_association_memory(f, e) for f, e in zip(found, edges, strict=True)]

    planned = await trio.to_thread.run_sync(compute)
    if s.association_memories:
        report.errors += await writes.store_all(svc, client, planned)
    elif s.association_edges:
        await writes.put_edges(svc, client, [e for p in planned for e in p.edges])
    return len(planned)


async def _compress(
    svc: MemoryService, client: str, clusters: list[clustering.Cluster],
    memories: list[Candidate], s: m.ConsolidationSettings, report: Report,
) -> int:  # fmt: skip
    by_hash = {c.record.content_hash: c for c in memories}

    def compute() -> list[writes.Planned]:
        at = datetime.now().isoformat()
        out = []
        for cluster in clusters:
            summary = compression.compress(cluster, by_hash, s.max_summary_length, at)
            if summary is not None:
                out.append(writes.Planned(
                    content=summary.content, content_hash=summary.content_hash,
                    tags=summary.tags, memory_type="pattern", metadata=summary.metadata,
                    vector=summary.centroid.astype("float32"),
                ))  # fmt: skip
        return out

    planned = await trio.to_thread.run_sync(compute)
    report.errors += await writes.store_all(svc, client, planned)
    return len(planned)


async def _forget(
    svc: MemoryService, client: str, req: m.ConsolidateRun, now: float, report: Report
) -> int:
    s = req.settings
    floor = max(s.forgetting_min_age_days, WINDOWS[req.horizon])
    stale = _batch(svc, 0.0, now - floor * DAY, s.batch_size)
    pool = await svc.readers.submit(stale, timeout_s=READ_TIMEOUT)
    if not pool:
        return 0
    scores = await _scores(svc, pool, s, now)
    after: dict[str, dict[str, Any]] = {c.record.content_hash: c.record.metadata for c in pool}
    if s.decay_enabled:
        at = datetime.now().isoformat()
        keys = {h: decay.metadata_keys(score, at) for h, score in scores.items()}
        await writes.merge_metadata(svc, client, keys)
        after = {h: {**meta, **keys[h]} for h, meta in after.items()}
    return await forget.apply(svc, client, req, pool, scores, after, now, report.errors)
