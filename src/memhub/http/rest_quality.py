"""``/api/quality/...`` (rate, evaluate, get, distribution, trends), as mcp-memory-service 12.4
answers them (``web/api/quality.py``), over the daemon's quality code
(:mod:`memhub.extras.quality`).

Like 12.4 the per-memory routes are not scoped to a store: the hash finds the live memory in any
store; the distribution covers the default store, the trends every store.

Evaluate scores as 12.4 does when no AI tier can run: 12.4 tries a local ONNX ranker (only when
``onnxruntime`` is installed, which its default install does not include, and then it downloads
and exports a model), an OpenAI-compatible endpoint, Groq or Gemini (only with their settings
or keys), and otherwise scores the memory's implicit signals (access count, recency, average
rank) locally. memhub has none of the model tiers and always scores the implicit signals, with
12.4's formula, keys and answer; it reads none of 12.4's ``MCP_QUALITY_*`` settings.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query, Request
from pydantic import BaseModel, Field

from memhub.errors import BadRequest, NotFound, ServiceError
from memhub.extras import quality
from memhub.http.rest_common import BUSY, REST_CLIENT, Authenticated, ask, context, require
from memhub.protocol import messages as m
from memhub.storage.quality import metrics

router = APIRouter(prefix="/api/quality")
RATING_TEXT = {-1: "thumbs down", 0: "neutral", 1: "thumbs up"}


class RateMemoryRequest(BaseModel):
    rating: int = Field(..., ge=-1, le=1, description="-1 (thumbs down), 0 (neutral), 1 (up)")
    feedback: str | None = Field("", description="Optional feedback text explaining the rating")


class RateMemoryResponse(BaseModel):
    success: bool
    message: str
    content_hash: str
    new_quality_score: float
    old_quality_score: float


@router.post("/memories/{content_hash}/rate", response_model=RateMemoryResponse, tags=["quality"])
async def rate_memory(
    identity: Authenticated,
    content_hash: str,
    body: RateMemoryRequest,
    request: Request,
) -> dict[str, Any]:
    """Record a user's rating: 12.4's metadata keys, merged in one write."""
    require(identity, "write", None)
    try:
        done = await ask(
            request,
            m.QualityRate(
                id=0, content_hash=content_hash, rating=body.rating, feedback=body.feedback or ""
            ),
        )
    except NotFound:
        raise HTTPException(404, detail=f"Memory not found: {content_hash}") from None
    except BadRequest as exc:
        raise HTTPException(400, detail=exc.message) from None
    except ServiceError as exc:
        raise HTTPException(500, detail=f"Error rating memory: {exc.message}") from None
    assert isinstance(done, m.ToolData)
    return {
        "success": True,
        "message": f"Memory rated successfully: {RATING_TEXT[body.rating]}",
        "content_hash": content_hash,
        "new_quality_score": done.data["new_score"],
        "old_quality_score": done.data["old_score"],
    }


class EvaluateRequest(BaseModel):
    query: str | None = Field(
        None, description="Optional query context (the implicit signals do not use it)"
    )


class EvaluateResponse(BaseModel):
    success: bool
    content_hash: str
    quality_score: float
    quality_provider: str
    ai_score: float | None
    implicit_score: float | None
    evaluation_time_ms: float
    message: str


class DistributionResponse(BaseModel):
    total_memories: int
    high_quality_count: int
    medium_quality_count: int
    low_quality_count: int
    average_score: float
    provider_breakdown: dict[str, int]
    top_memories: list[dict[str, Any]]
    bottom_memories: list[dict[str, Any]]
    quality_range: dict[str, float]


@router.post("/memories/{content_hash}/evaluate", response_model=EvaluateResponse, tags=["quality"])
async def evaluate_memory_quality(
    identity: Authenticated,
    content_hash: str,
    request: Request,
    body: Annotated[EvaluateRequest | None, Body()] = None,
) -> dict[str, Any]:
    """Score a memory by its implicit signals (12.4 without an AI tier) and keep the score."""
    require(identity, "write", None)
    started = time.monotonic()
    try:
        done = await quality.evaluate(context(request).service, content_hash, REST_CLIENT)
    except NotFound:
        raise HTTPException(404, detail=f"Memory not found: {content_hash}") from None
    except BUSY as exc:
        raise HTTPException(503, detail=exc.message) from None
    except ServiceError:
        raise HTTPException(500, detail="Error evaluating memory quality") from None
    score = done["quality_score"]
    return {
        "success": True,
        "content_hash": content_hash,
        "quality_score": score,
        "quality_provider": done["quality_provider"],
        "ai_score": done["ai_scores"][-1]["score"],
        "implicit_score": done["quality_components"]["implicit_score"],
        "evaluation_time_ms": round((time.monotonic() - started) * 1000, 2),
        "message": f"Quality evaluated: {score:.3f} (was {done['old_score']:.3f})",
    }


@router.get("/memories/{content_hash}", tags=["quality"])
async def get_memory_quality(
    identity: Authenticated,
    content_hash: str,
    request: Request,
) -> dict[str, Any]:
    """A memory's quality record, read from its metadata."""
    require(identity, "read", None)
    try:
        found = await ask(request, m.Get(id=0, content_hash=content_hash))
    except NotFound:
        raise HTTPException(404, detail=f"Memory not found: {content_hash}") from None
    except ServiceError as exc:
        raise HTTPException(500, detail=f"Error getting memory quality: {exc.message}") from None
    assert isinstance(found, m.Found)
    return metrics(content_hash, found.memory.metadata)


@router.get("/distribution", response_model=DistributionResponse, tags=["quality"])
async def get_quality_distribution(
    identity: Authenticated,
    request: Request,
    min_quality: Annotated[float, Query(allow_inf_nan=False)] = 0.0,
    max_quality: Annotated[float, Query(allow_inf_nan=False)] = 1.0,
) -> dict[str, Any]:
    """Tiers, average, providers and the 10 best and worst memories of the default store
    scored in ``[min_quality, max_quality]``, aggregated by the engine."""
    require(identity, "read", None)
    try:
        return await quality.distribution(context(request).service, min_quality, max_quality)
    except BUSY as exc:
        raise HTTPException(503, detail=exc.message) from None
    except ServiceError as exc:
        detail = f"Error analyzing quality distribution: {exc.message}"
        raise HTTPException(500, detail=detail) from None


@router.get("/trends", tags=["quality"])
async def get_quality_trends(
    identity: Authenticated,
    request: Request,
    days: int = 30,
) -> dict[str, Any]:
    """Daily average, best and worst quality score of the memories (every store) created in
    the last ``days`` days, by the daemon's local date."""
    require(identity, "read", None)
    end = datetime.now()
    try:
        start = end - timedelta(days=days)
        span = (start.timestamp(), end.timestamp())
    except (OverflowError, ValueError, OSError):
        # 12.4 answers these with a 500; the client asked for dates no calendar has
        raise HTTPException(400, detail=f"days is out of range: {days}") from None
    try:
        trend = await quality.trends(context(request).service, *span)
    except BUSY as exc:
        raise HTTPException(503, detail=exc.message) from None
    except ServiceError as exc:
        raise HTTPException(500, detail=f"Error getting quality trends: {exc.message}") from None
    return {
        "start_date": start.strftime("%Y-%m-%d"),
        "end_date": end.strftime("%Y-%m-%d"),
        "days_analyzed": days,
        "trend_data": trend,
        "total_memories": sum(d["memory_count"] for d in trend),
    }
