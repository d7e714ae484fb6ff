"""12.4's quality fields as the storage seam reads them in bulk: the values of ``analyze``.

mcp-memory-service 12.4 keeps a memory's quality only in its metadata JSON (``quality_score``,
``quality_provider``, ...; no column, no table). Its ``memory_quality analyze`` and the
``quality`` step of ``maintain`` load every memory of the default store and count in Python;
memhub's engines compute the same numbers with one SQL aggregation each
(:meth:`memhub.storage.engine.Snapshot.quality_summary`), so a large store is never loaded.

The rules both engines apply, as 12.4 reads the fields:

* the score is ``metadata.quality_score`` when it is a JSON number, else 0.5 (12.4's default;
  12.4 fails on a non-number, memhub counts it as the default);
* the provider is ``metadata.quality_provider`` when it is a string, else ``implicit``;
* tiers: high ``>= 0.7``, medium ``0.5 <= s < 0.7``, low ``< 0.5``;
* trends (REST ``/api/quality/trends``) count the live memories of every store created in a
  time range, per 15-minute bucket of ``created_at`` (:data:`BUCKET_S`): the REST route merges
  the buckets into the days of the daemon's local time, exactly, since every UTC offset in use
  is a whole number of quarter hours;
* rows: the live memories of the store (superseded ones included), 12.4's order
  ``created_at DESC, content_hash DESC``: provider counts list providers by first appearance
  in it, and ties of score keep it (top) or its reverse (bottom).
"""

from __future__ import annotations

from typing import Any, Final

import attrs

DEFAULT_SCORE: Final = 0.5
DEFAULT_PROVIDER: Final = "implicit"
HIGH: Final = 0.7
MEDIUM: Final = 0.5
#: Characters of content each ranked row carries (12.4 shows 60, then "...").
PREVIEW: Final = 61
RANKED: Final = 10
BUCKET_S: Final = 900


@attrs.frozen(kw_only=True)
class RankedMemory:
    content_hash: str
    content: str
    """The first :data:`PREVIEW` characters."""
    score: float


@attrs.frozen(kw_only=True)
class QualitySummary:
    """Quality statistics of a store's live memories whose score lies in ``[low, high]``.

    Attributes:
        store_total: live memories of the store, whatever their score.
        total: those in the range; ``high``/``medium``/``low`` split them by tier.
        score_sum: the sum of their scores.
        providers: ``(provider, count)`` in order of first appearance (newest memory first).
        top: the :data:`RANKED` best, best first.
        bottom: the :data:`RANKED` worst, in the same order as ``top`` (worst last).
    """

    store_total: int
    total: int
    high: int
    medium: int
    low: int
    score_sum: float
    providers: list[tuple[str, int]]
    top: list[RankedMemory]
    bottom: list[RankedMemory]

    @property
    def average(self) -> float:
        return self.score_sum / self.total if self.total else 0.0


@attrs.frozen(kw_only=True)
class ScoreBucket:
    """The scores of the memories created in ``[start, start + BUCKET_S)``."""

    start: float
    count: int
    score_sum: float
    best: float
    worst: float


def metrics(content_hash: str, meta: dict[str, Any]) -> dict[str, Any]:
    """12.4's quality record of one memory (MCP ``get``'s JSON, REST's
    ``QualityMetricsResponse``): these nine keys, in this order, read from its metadata."""
    return {
        "content_hash": content_hash,
        "quality_score": meta.get("quality_score", DEFAULT_SCORE),
        "quality_provider": meta.get("quality_provider", DEFAULT_PROVIDER),
        "access_count": meta.get("access_count", 0),
        "last_accessed_at": meta.get("last_accessed_at"),
        "ai_scores": meta.get("ai_scores", []),
        "user_rating": meta.get("user_rating"),
        "user_feedback": meta.get("user_feedback"),
        "quality_components": meta.get("quality_components", {}),
    }
