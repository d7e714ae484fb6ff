"""Routes the hooks call whose tools memhub does not have yet: 501 with a body that says so.

``POST /api/harvest`` and the quality routes need 12.4's harvest and quality tools, which are
being built (see the issue on 12.4's tools). Until then they answer 501 after the usual
authentication and scope checks, so a hook sees a clear, non-retryable answer instead of a 404
that reads like a wrong endpoint. The session-end hook fires its quality evaluation and forgets
it, so a 501 there costs nothing.
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
    """Score a memory's quality (not yet: 501)."""
    require(identity, "write", None)
    raise _pending("Quality evaluation", "quality")


@router.post("/quality/memories/{content_hash}/rate", tags=["pending"], status_code=501)
async def rate_quality(
    identity: Authenticated,
    content_hash: str,
) -> None:
    """Record a user's rating of a memory (not yet: 501)."""
    require(identity, "write", None)
    raise _pending("Quality rating", "quality")


@router.get("/quality/memories/{content_hash}", tags=["pending"], status_code=501)
async def get_quality(
    identity: Authenticated,
    content_hash: str,
) -> None:
    """A memory's quality record (not yet: 501)."""
    require(identity, "read", None)
    raise _pending("Quality lookup", "quality")
