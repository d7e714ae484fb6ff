"""12.4's ``memory_quality`` in the daemon: ratings, statistics and the local maintenance cycle.

Quality lives only in a memory's metadata, under 12.4's keys (``quality_score``,
``computed_quality``, ``user_rating``, ``user_feedback``, ``user_rating_timestamp``,
``rating_history``, ...), so 12.4 reads memhub's ratings and the reverse.

* A rating is one read-modify-write in the writer (read the metadata, merge the rated keys):
  two clients rating the same memory at once both land in its ``rating_history``, and no other
  metadata key is lost.
* ``analyze`` and the ``quality`` step of ``maintain`` are the engine's SQL aggregation
  (:meth:`~memhub.storage.engine.Snapshot.quality_summary`), not a load of the store.
* ``evaluate`` (REST only) is 12.4's scorer as it runs with no AI tier available (no ONNX
  runtime installed, no provider configured): the implicit-signals score of the memory's
  metadata, one read-modify-write in the writer.
* ``distribution`` and ``trends`` (REST only) are engine aggregations too: the ``analyze``
  summary plus the 20 ranked rows, and per-quarter-hour buckets merged into local days.
* ``maintain`` runs 12.4's local steps in its order, each failing on its own (12.4's
  ``errors`` list): duplicates, conflicts (with the opt-in auto-resolve), stale count, quality
  snapshot, regex entities (:mod:`memhub.graph.entities`). A dry run writes nothing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from memhub.errors import BadRequest, NotFound, ServiceError
from memhub.graph import entities as graph_entities
from memhub.protocol import messages as m
from memhub.storage.model import DEFAULT_STORE, Filters
from memhub.storage.quality import (
    DEFAULT_PROVIDER,
    DEFAULT_SCORE,
    QualitySummary,
    RankedMemory,
    ScoreBucket,
)
from memhub.storage.relations import Edge

if TYPE_CHECKING:
    from memhub.service import MemoryService
    from memhub.storage.engine import Snapshot, WriteTxn

#: 12.4's ``USER_RATING_TO_QUALITY``: a human rating replaces the machine score.
RATING_SCORE: Final = {-1: 0.25, 0: 0.5, 1: 0.9}
HISTORY: Final = 10
DETAILS: Final = 20
#: Entity links written per write call of a non-dry maintain.
LINK_CHUNK: Final = 2000
EVERY_ROW: Final = 2**62


def _score(value: object) -> float:
    """A stored score as a number (12.4 fails on anything else; memhub reads the default)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return DEFAULT_SCORE
    return float(value)


def rated(meta: dict[str, Any], rating: int, feedback: str, now: float) -> dict[str, Any]:
    """The metadata keys 12.4's ``rate`` writes (``server/handlers/quality.py``)."""
    computed = meta.get("computed_quality")
    if computed is None:
        computed = meta.get("quality_score", DEFAULT_SCORE)  # seeded once, then kept
    old = _score(meta.get("quality_score", DEFAULT_SCORE))
    new = RATING_SCORE[rating]
    history = meta.get("rating_history")
    history = list(history) if isinstance(history, list) else []
    history.append(
        {"rating": rating, "feedback": feedback, "timestamp": now, "old_score": old,
         "new_score": new}
    )  # fmt: skip
    return {
        "quality_score": new,
        "computed_quality": computed,
        "user_rating": rating,
        "user_feedback": feedback,
        "user_rating_timestamp": now,
        "rating_history": history[-HISTORY:],
    }


async def rate(svc: MemoryService, req: m.QualityRate, client: str) -> m.ToolData:
    if req.rating not in RATING_SCORE:
        raise BadRequest("rating must be -1, 0, or 1")
    target = svc.rules.pattern("content_hash", req.content_hash)
    svc.rules.metadata({"user_feedback": req.feedback})  # the size limits of any metadata

    def write(txn: WriteTxn) -> m.ToolData:
        found = txn.get(target)
        if found is None:
            raise NotFound(f"Memory not found with hash: {target}")
        updates = rated(found.metadata, req.rating, req.feedback, time.time())
        txn.update(target, tags=None, memory_type=None, metadata=updates, preserve_timestamps=True)
        old = _score(found.metadata.get("quality_score", DEFAULT_SCORE))
        return m.ToolData(id=req.id, data={"old_score": old, "new_score": updates["quality_score"]})

    return await svc.writer.submit(write, client=client)


def summary_data(found: QualitySummary) -> dict[str, Any]:
    def rows(ranked: list[Any]) -> list[dict[str, Any]]:
        return [{"content_hash": r.content_hash, "content": r.content, "score": r.score}
                for r in ranked]  # fmt: skip

    return {
        "store_total": found.store_total,
        "total": found.total,
        "high": found.high,
        "medium": found.medium,
        "low": found.low,
        "average": found.average,
        "providers": [[p, n] for p, n in found.providers],
        "top": rows(found.top),
        "bottom": rows(found.bottom),
    }


async def analyze(svc: MemoryService, req: m.QualityAnalyze) -> m.ToolData:
    low, high = req.min_quality, req.max_quality
    found = await svc.readers.submit(lambda snap: snap.quality_summary(DEFAULT_STORE, low, high))
    return m.ToolData(id=req.id, data=summary_data(found))


# -- evaluate, distribution, trends (REST) ----------------------------------------------------

IMPLICIT_PROVIDER: Final = "implicit_signals"
#: 12.4's ``QualityConfig`` defaults: no blend of implicit signals, no search-side boost.
COMPONENT_KNOBS: Final = {
    "implicit_blend_enabled": False,
    "implicit_weight": 0.3,
    "boost_enabled": False,
    "boost_weight": 0.3,
}


def _number(value: object, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return default
    return float(value)


def implicit_score(meta: dict[str, Any], now: float) -> float:
    """12.4's ``ImplicitSignalsEvaluator``: access count, recency of the last access and the
    average search rank, read from the metadata (a non-number counts as its default)."""
    access_count = max(_number(meta.get("access_count"), 0.0), 0.0)
    access_score = min(1.0, math.log(access_count + 1) / math.log(100))
    last = meta.get("last_accessed_at")
    if last is None or isinstance(last, bool) or not isinstance(last, int | float):
        recency_score = 0.1  # never accessed
    else:
        days = (now - float(last)) / (24 * 3600)
        recency_score = max(0.0, min(1.0, math.exp(-0.1 * days)))
    ranking_score = 1.0 - _number(meta.get("avg_ranking"), 0.5)
    score = 0.4 * access_score + 0.3 * recency_score + 0.3 * ranking_score
    return max(0.0, min(1.0, score))


def evaluated(meta: dict[str, Any], now: float) -> dict[str, Any]:
    """The metadata keys 12.4's evaluate route writes when the implicit signals score it."""
    score = implicit_score(meta, now)
    history = meta.get("ai_scores")
    history = list(history) if isinstance(history, list) else []
    history.append({"score": score, "timestamp": now, "provider": IMPLICIT_PROVIDER})
    rating = meta.get("user_rating")
    # a human rating replaces the machine score (12.4's effective_quality)
    effective = RATING_SCORE.get(rating, score) if isinstance(rating, int) else score
    return {
        "quality_score": effective,
        "computed_quality": score,
        "quality_provider": IMPLICIT_PROVIDER,
        "ai_scores": history[-HISTORY:],
        "quality_components": {"ai_score": score, "implicit_score": score, **COMPONENT_KNOBS},
    }


async def evaluate(svc: MemoryService, content_hash: str, client: str) -> dict[str, Any]:
    """Score one memory (any store) and keep the score: ``old_score`` and the keys written."""
    target = svc.rules.pattern("content_hash", content_hash)

    def write(txn: WriteTxn) -> dict[str, Any]:
        found = txn.get(target)
        if found is None:
            raise NotFound(f"Memory not found: {target}")
        updates = evaluated(found.metadata, time.time())
        txn.update(target, tags=None, memory_type=None, metadata=updates, preserve_timestamps=True)
        return {"old_score": _score(found.metadata.get("quality_score", DEFAULT_SCORE)), **updates}

    return await svc.writer.submit(write, client=client)


def _ranked_json(snap: Snapshot, ranked: list[RankedMemory]) -> list[dict[str, Any]]:
    rows = []
    for r in ranked:
        record = snap.get(r.content_hash)
        if record is None:  # not possible inside one snapshot; skip rather than fail
            continue
        meta = record.metadata
        content = record.content
        rows.append(
            {
                "content_hash": r.content_hash,
                "content": content[:100] + "..." if len(content) > 100 else content,
                "created_at": record.created_at,
                "memory_type": record.memory_type or "note",
                "quality_score": r.score,
                "quality_provider": meta.get("quality_provider", DEFAULT_PROVIDER),
                "tags": record.tags,
                "access_count": meta.get("access_count", 0),
            }
        )
    return rows


async def distribution(svc: MemoryService, low: float, high: float) -> dict[str, Any]:
    """12.4's ``GET /api/quality/distribution`` over the default store, in one snapshot."""

    def read(snap: Snapshot) -> dict[str, Any]:
        found = snap.quality_summary(DEFAULT_STORE, low, high)
        return {
            "total_memories": found.total,
            "high_quality_count": found.high,
            "medium_quality_count": found.medium,
            "low_quality_count": found.low,
            "average_score": round(found.average, 3),
            "provider_breakdown": dict(found.providers),
            "top_memories": _ranked_json(snap, found.top),
            "bottom_memories": _ranked_json(snap, found.bottom),
            "quality_range": {"min": low, "max": high},
        }

    return await svc.readers.submit(read)


def trend_days(buckets: list[ScoreBucket]) -> list[dict[str, Any]]:
    """Buckets merged into the local days 12.4 groups by (``datetime.fromtimestamp``)."""
    days: dict[str, list[float]] = {}
    for b in buckets:
        day = datetime.fromtimestamp(b.start).date().isoformat()
        acc = days.get(day)
        if acc is None:
            days[day] = [b.count, b.score_sum, b.best, b.worst]
        else:
            acc[0] += b.count
            acc[1] += b.score_sum
            acc[2] = max(acc[2], b.best)
            acc[3] = min(acc[3], b.worst)
    return [
        {
            "date": day,
            "average_quality_score": round(total / count, 3),
            "memory_count": int(count),
            "max_score": best,
            "min_score": worst,
        }
        for day, (count, total, best, worst) in sorted(days.items())
    ]


async def trends(svc: MemoryService, start: float, end: float) -> list[dict[str, Any]]:
    """12.4's daily quality statistics of the memories (every store) created in the range."""
    buckets = await svc.readers.submit(lambda snap: snap.score_buckets(start, end))
    return trend_days(buckets)


# -- maintain ----------------------------------------------------------------------------------


async def _cleanup(svc: MemoryService, req: m.QualityMaintain, client: str) -> dict[str, Any]:
    if req.dry_run:
        total = (await svc.readers.submit(lambda snap: snap.counts()))[0]
        return {"skipped_dry_run": True, "current_total": total}
    removed = await svc.writer.submit(lambda txn: txn.cleanup_duplicates(), client=client)
    message = (
        f"Successfully soft-deleted {len(removed)} duplicate memories"
        if removed
        else "No duplicate memories found"
    )
    return {"duplicates_removed": len(removed), "message": message}


def _resolve_guarded(
    txn: WriteTxn, hash_a: str, hash_b: str, age_days: float
) -> tuple[str, str | None]:
    """12.4's two-signal guard, then newer-wins: (action, winner)."""
    a, b = txn.get(hash_a), txn.get(hash_b)
    if a is None or b is None:
        return "skipped_missing_memory", None
    if (a.memory_type or "") != (b.memory_type or ""):
        return "skipped_type_mismatch", None
    ts_a, ts_b = a.created_at or 0.0, b.created_at or 0.0
    if abs(ts_a - ts_b) / 86400 < age_days:
        return "skipped_age_too_close", None
    winner, loser = (hash_a, hash_b) if ts_a >= ts_b else (hash_b, hash_a)
    try:
        txn.resolve_conflict(winner, loser)
    except ServiceError as exc:
        return f"resolve_failed: {exc.message}", None
    return "auto_resolved", winner


async def _conflicts(svc: MemoryService, req: m.QualityMaintain, client: str) -> dict[str, Any]:
    found = await svc.readers.submit(lambda snap: snap.conflicts())
    details = []
    candidates = []
    for c in found:
        detail: dict[str, Any] = {
            "hash_a": c.hash_a[:12],
            "hash_b": c.hash_b[:12],
            "similarity": round(c.similarity, 3),
        }
        if req.auto_resolve and not req.dry_run and c.similarity >= req.auto_resolve_threshold:
            candidates.append((detail, c.hash_a, c.hash_b))
        else:
            detail["action"] = "skipped" if req.dry_run else "below_threshold"
        details.append(detail)
    if candidates:

        def write(txn: WriteTxn) -> list[tuple[str, str | None]]:
            return [_resolve_guarded(txn, a, b, req.auto_resolve_age_days)
                    for _, a, b in candidates]  # fmt: skip

        outcomes = await svc.writer.submit(write, client=client)
        for (detail, _, _), (action, winner) in zip(candidates, outcomes, strict=True):
            detail["action"] = action
            if winner is not None:
                detail["winner"] = winner[:12]
    resolved = sum(1 for d in details if d["action"] == "auto_resolved")
    return {
        "total": len(found),
        "auto_resolved": resolved,
        "skipped": len(found) - resolved,
        "details": details[:DETAILS],
    }


async def _stale(svc: MemoryService, req: m.QualityMaintain) -> dict[str, Any]:
    days = req.stale_days
    if days > 0:
        before = time.time() - days * 86400
        count = await svc.readers.submit(lambda snap: snap.stale_count(DEFAULT_STORE, before))
    else:  # 12.4 applies no staleness filter then: every memory counts
        count = await svc.readers.submit(
            lambda snap: snap.quality_summary(DEFAULT_STORE, -math.inf, math.inf).store_total
        )
    return {"stale_days_threshold": days, "stale_count": count}


async def _quality(svc: MemoryService) -> dict[str, Any]:
    found = await svc.readers.submit(
        lambda snap: snap.quality_summary(DEFAULT_STORE, -math.inf, math.inf)
    )
    if not found.total:
        return {"total_scored": 0, "message": "no memories"}
    return {
        "total_scored": found.total,
        "average_score": round(found.average, 3),
        "high_quality": found.high,
        "medium_quality": found.medium,
        "low_quality": found.low,
    }


async def _entities(svc: MemoryService, req: m.QualityMaintain, client: str) -> dict[str, Any]:
    limit = req.scan_limit if req.scan_limit > 0 else EVERY_ROW  # 0: all, as 12.4
    records, _ = await svc.readers.submit(
        lambda snap: snap.list_page(Filters(store=DEFAULT_STORE), page=1, page_size=limit)
    )
    terms = [t.strip() for t in req.custom_terms if t.strip()]
    now = time.time()
    found = 0
    edges: list[Edge] = []
    for record in records:
        tags = graph_entities.merged_tags(record.tags, record.metadata)
        extracted = graph_entities.extract(record.content, tags, terms)
        found += len(extracted)
        edges.extend(graph_entities.links(record.content_hash, extracted, now))
    if req.dry_run:
        return {"skipped_dry_run": True, "memories_scanned": len(records),
                "entities_found": found}  # fmt: skip
    for start in range(0, len(edges), LINK_CHUNK):
        await svc.writer.submit(_linker(edges[start : start + LINK_CHUNK]), client=client)
    # 12.4 counts the link calls, not the rows they added (its INSERT OR IGNORE)
    return {"memories_scanned": len(records), "entities_found": found,
            "links_stored": found}  # fmt: skip


def _linker(chunk: list[Edge]) -> Callable[[WriteTxn], int]:
    return lambda txn: txn.put_edges(chunk, replace=False)


async def maintain(svc: MemoryService, req: m.QualityMaintain, client: str) -> m.ToolData:
    if req.stale_days < 0 or req.scan_limit < 0:
        raise BadRequest("stale_days and scan_limit must not be negative")
    steps: dict[str, Any] = {}
    errors: list[str] = []
    runs: list[tuple[str, Callable[[], Awaitable[dict[str, Any]]]]] = [
        ("cleanup", lambda: _cleanup(svc, req, client)),
        ("conflicts", lambda: _conflicts(svc, req, client)),
        ("stale", lambda: _stale(svc, req)),
        ("quality", lambda: _quality(svc)),
        ("entities", lambda: _entities(svc, req, client)),
    ]
    for name, step in runs:
        try:
            steps[name] = await step()
        except ServiceError as exc:
            errors.append(f"{name}: {exc.message}")
            steps[name] = {"error": exc.message}
    return m.ToolData(id=req.id, data={"steps": steps, "errors": errors})
