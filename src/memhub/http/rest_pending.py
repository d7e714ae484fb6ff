"""Routes the hooks call that memhub does not serve: 501 with a body that says so.

Quality evaluation scores with 12.4's ONNX/Groq/Gemini/OpenAI tiers, and memhub makes no
such calls (rating and reading quality are served: :mod:`memhub.http.rest_quality`). They answer
501 after the usual authentication and scope checks, so a hook sees a clear, non-retryable
answer instead of a 404 that reads like a wrong endpoint. The session-end hook fires its quality
evaluation and forgets it, so a 501 there costs nothing.
"""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, HTTPException

from memhub.http.rest_common import Authenticated, require

router = APIRouter(prefix="/api")
NO_EVALUATION: Final = (
    "Quality evaluation is not implemented by memhub: mcp-memory-service 12.4 scores memories "
    "with ONNX, Groq, Gemini or OpenAI-compatible models, and memhub makes no such calls; "
    "nothing was changed (rating and reading quality are served: "
    "POST /api/quality/memories/{hash}/rate, GET /api/quality/memories/{hash})"
)


@router.post("/quality/memories/{content_hash}/evaluate", tags=["pending"], status_code=501)
async def evaluate_quality(
    identity: Authenticated,
    content_hash: str,
) -> None:
    """Score a memory's quality (not served: 501)."""
    require(identity, "write", None)
    raise HTTPException(501, detail=NO_EVALUATION)
