"""Routes the hooks call whose tools memhub does not have yet: 501 with a body that says so.

``POST /api/harvest`` needs 12.4's harvest tool, which is being built (see the issue on 12.4's
tools); quality evaluation scores with 12.4's ONNX/Groq/Gemini/OpenAI tiers, and memhub makes no
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
NOT_YET: Final = (
    "{what} is not implemented by memhub yet (mcp-memory-service 12.4's {tool} tools are not "
    "available); nothing was changed"
)


NO_EVALUATION: Final = (
    "Quality evaluation is not implemented by memhub: mcp-memory-service 12.4 scores memories "
    "with ONNX, Groq, Gemini or OpenAI-compatible models, and memhub makes no such calls; "
    "nothing was changed (rating and reading quality are served: "
    "POST /api/quality/memories/{hash}/rate, GET /api/quality/memories/{hash})"
)


def _pending(what: str, tool: str) -> HTTPException:
    return HTTPException(501, detail=NOT_YET.format(what=what, tool=tool))


@router.post("/harvest", tags=["pending"], status_code=501)
async def harvest(
    identity: Authenticated,
) -> None:
    """Harvest memories from Claude Code transcripts (not yet: 501)."""
    require(identity, "write", None)
    raise _pending("POST /api/harvest", "harvest")


@router.post("/quality/memories/{content_hash}/evaluate", tags=["pending"], status_code=501)
async def evaluate_quality(
    identity: Authenticated,
    content_hash: str,
) -> None:
    """Score a memory's quality (not served: 501)."""
    require(identity, "write", None)
    raise HTTPException(501, detail=NO_EVALUATION)
