"""``/api/quality/memories/{hash}`` (rate, get), as mcp-memory-service 12.4 answers them
(``web/api/quality.py``), over the daemon's ``memory_quality`` requests.

Like 12.4 neither route is scoped to a store: the hash finds the live memory in any store. The
evaluate route (12.4's ONNX/Groq/Gemini/OpenAI or implicit-signal scoring) stays in
:mod:`memhub.http.rest_pending`: memhub makes no such calls.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from memhub.errors import BadRequest, NotFound, ServiceError
from memhub.http.rest_common import Authenticated, ask, require
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
