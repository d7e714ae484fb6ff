"""12.4's relevance score (``consolidation/decay.py``): exponential decay per memory type.

The decay is an e-folding time (``exp(-age / retention)``), not a half-life; ``age`` is whole
days since the later of creation and update. Boosts: graph neighbours (+10 % each), recent
access, importance (``metadata.importance_score`` or the weightiest tag, never below 1.0),
quality (``computed_quality``, else ``quality_score``, else 0.5; +20 % from 5 neighbours).
Protected memories never score below 0.5.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, Final

import attrs

from memhub.domain.ontology import TAXONOMY
from memhub.protocol import messages as m
from memhub.storage.model import Candidate

DAY: Final = 86400.0
#: 12.4's ``retention_periods`` defaults (``MCP_RETENTION_<TYPE>``), in days.
RETENTION: Final = {
    "decision": 365,
    "learning": 180,
    "pattern": 90,
    "error": 30,
    "observation": 30,
    "critical": 365,
    "reference": 180,
    "standard": 30,
    "temporary": 7,
}
FALLBACK_RETENTION: Final = 30
TAG_IMPORTANCE: Final = {
    "critical": 2.0,
    "important": 1.5,
    "reference": 1.3,
    "urgent": 1.4,
    "project": 1.2,
    "personal": 1.1,
    "temporary": 0.7,
    "draft": 0.8,
    "note": 0.9,
}
PROTECTED_TAGS: Final = frozenset({"critical", "important", "reference", "permanent"})
PARENT: Final = {sub: base for base, subs in TAXONOMY.items() for sub in subs} | {
    base: base for base in TAXONOMY
}


@attrs.frozen(kw_only=True)
class Relevance:
    """12.4's ``RelevanceScore``."""

    memory_hash: str
    total_score: float
    base_importance: float
    decay_factor: float
    connection_boost: float
    access_boost: float
    metadata: dict[str, Any]


def as_12_4_reads(candidate: Candidate, known: frozenset[str]) -> Candidate:
    """The memory with the type 12.4's ``Memory`` gives it: a type that is not a known one
    (another program stored ``temporary`` or ``standard``) is read as ``observation``."""
    kind = candidate.record.memory_type
    if not kind or kind in known:
        return candidate
    return attrs.evolve(candidate, record=attrs.evolve(candidate.record, memory_type="observation"))


def whole_days(now: float, then: float) -> int:
    """``(now - then).days`` of two aware datetimes: floor of the difference in days."""
    delta = datetime.fromtimestamp(now, UTC) - datetime.fromtimestamp(then, UTC)
    return delta.days


def age_days(record: m.MemoryRecord, now: float) -> int:
    stamps = [t for t in (record.created_at, record.updated_at) if t]
    return whole_days(now, max(stamps)) if stamps else 0


def is_protected(record: m.MemoryRecord) -> bool:
    if PROTECTED_TAGS.intersection(record.tags):
        return True
    failures = record.metadata.get("failure_count", 0)
    proven = isinstance(failures, int | float) and failures >= 3
    return record.memory_type == "mistake" and proven


def quality(meta: dict[str, Any]) -> float:
    """``metadata.computed_quality``, else ``quality_score``, else 0.5 (12.4's lookups)."""
    value = meta.get("computed_quality", meta.get("quality_score", 0.5))
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return 0.5  # 12.4 fails the whole run on a non-number; memhub reads the default
    return float(value)


def base_importance(record: m.MemoryRecord) -> float:
    raw = record.metadata.get("importance_score")
    if raw is not None and not isinstance(raw, bool):
        try:
            return max(0.0, min(2.0, float(raw)))
        except (TypeError, ValueError):
            pass  # 12.4 logs it and falls back to the tags
    best = 1.0
    for tag in record.tags:
        best = max(best, TAG_IMPORTANCE.get(tag.lower(), 1.0))
    return best


def access_boost(last_accessed: float | None, record: m.MemoryRecord, now: float) -> float:
    seen = last_accessed or record.updated_at
    if not seen:
        return 1.0
    days = whole_days(now, seen)
    if days <= 1:
        return 1.5
    if days <= 7:
        return 1.2
    if days <= 30:
        return 1.1
    return 1.0


def retention_of(memory_type: str, retention: dict[str, int]) -> int:
    kind = memory_type
    if kind not in retention:
        kind = PARENT.get(memory_type) or memory_type
    return retention.get(kind, FALLBACK_RETENTION)


def relevance(
    record: m.MemoryRecord,
    last_accessed: float | None,
    connections: int,
    settings: m.ConsolidationSettings,
    now: float,
) -> Relevance:
    age = age_days(record, now)
    importance = base_importance(record)
    memory_type = record.memory_type or "standard"
    period = retention_of(memory_type, {**RETENTION, **settings.retention})
    decay = math.exp(-age / period)
    connection_boost = 1 + 0.1 * connections
    boost = access_boost(last_accessed, record, now)
    original = quality(record.metadata)
    q = original
    factor = 1.0
    boosted = False
    if settings.quality_boost_enabled and connections >= settings.quality_boost_min_connections:
        factor = settings.quality_boost_factor
        raised = min(1.0, q * factor)
        if raised > q:
            boosted, q = True, raised
    multiplier = 1.0 + q * 0.5
    total = importance * decay * connection_boost * boost * multiplier
    protected = is_protected(record)
    if protected:
        total = max(total, 0.5)
    return Relevance(
        memory_hash=record.content_hash,
        total_score=total,
        base_importance=importance,
        decay_factor=decay,
        connection_boost=connection_boost,
        access_boost=boost,
        metadata={
            "age_days": age,
            "memory_type": memory_type,
            "retention_period": period,
            "connection_count": connections,
            "is_protected": protected,
            "quality_score": q,
            "quality_multiplier": multiplier,
            "association_boost_applied": boosted,
            "quality_boost_factor": factor,
            "original_quality_score": original,
        },
    )


def metadata_keys(score: Relevance, now_local_iso: str) -> dict[str, Any]:
    """The keys 12.4's ``update_memory_relevance_metadata`` merges into the metadata."""
    return {
        "relevance_score": score.total_score,
        "relevance_calculated_at": now_local_iso,
        "decay_factor": score.decay_factor,
        "connection_boost": score.connection_boost,
        "access_boost": score.access_boost,
    }
