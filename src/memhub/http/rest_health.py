"""``/api/health`` (open, as upstream) and ``/api/health/detailed`` (scope ``read``): the keys
the hooks read (``storage.backend``, ``storage.status``, ``statistics.total_memories`` …) from
memhub's own health report."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psutil
from fastapi import APIRouter, Depends, HTTPException, Request

from memhub import __version__
from memhub.errors import ServiceError
from memhub.http.rest_common import Authenticated, ask, no_key_in_query, require
from memhub.http.rest_models import DetailedHealthResponse, HealthResponse
from memhub.protocol import messages as m

router = APIRouter(prefix="/api")


@router.get(
    "/health",
    response_model=HealthResponse,
    tags=["health"],
    dependencies=[Depends(no_key_in_query)],
)
async def health() -> dict[str, str]:
    """Whether the endpoint answers (no credentials needed)."""
    return {"status": "healthy"}


def format_uptime(seconds: float) -> str:
    """Upstream's wording."""
    if seconds < 60:
        return f"{seconds:.1f} seconds"
    if seconds < 3600:
        return f"{seconds / 60:.1f} minutes"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / 86400:.1f} days"


@router.get("/health/detailed", response_model=DetailedHealthResponse, tags=["health"])
async def detailed_health(
    identity: Authenticated,
    request: Request,
) -> dict[str, Any]:
    """The store's state and counts, in 12.4's shape."""
    require(identity, "read", None)
    try:
        report = await ask(request, m.Health(id=0))
        tags = await ask(request, m.CountTags(id=0, limit=1))
        days = await ask(request, m.CountDays(id=0, days=7))
    except ServiceError as exc:
        raise HTTPException(500, detail=f"Health check failed: {exc.message}") from None
    assert isinstance(report, m.HealthReport)
    assert isinstance(tags, m.TagCounts)
    assert isinstance(days, m.DayCounts)
    backend = "postgresql" if report.store.engine == "postgresql" else "sqlite-vec"
    size_mb = round(report.store.store_bytes / (1024 * 1024), 2)
    this_week = sum(d.count for d in days.days)
    healthy = report.status == "healthy"
    storage: dict[str, Any] = {
        "backend": backend,
        "status": "connected" if healthy else "error",
        "accessible": healthy,
        "embedding_model": report.embedder.name,
        "total_memories": report.total_memories,
        "unique_tags": tags.distinct,
        "memories_this_week": this_week,
        "database_size_bytes": report.store.store_bytes,
        "database_size_mb": size_mb,
        "embedding_dimension": report.embedder.dimension,
    }
    if not healthy:
        storage["error"] = report.message
    memory = psutil.virtual_memory()
    disk = psutil.disk_usage("/")
    return {
        "status": "healthy" if healthy else "degraded",
        "version": __version__,
        "timestamp": datetime.now(UTC).isoformat(),
        "uptime_seconds": report.uptime_s,
        "storage": storage,
        "system": {
            "memory_percent": memory.percent,
            "disk_percent": round(disk.used / disk.total * 100, 2),
        },
        "performance": {
            "uptime_seconds": report.uptime_s,
            "uptime_formatted": format_uptime(report.uptime_s),
        },
        "statistics": {
            "total_memories": report.total_memories,
            "unique_tags": tags.distinct,
            "memories_this_week": this_week,
            "database_size_mb": size_mb,
            "backend": backend,
            "missing_embeddings": 0,
        },
    }
