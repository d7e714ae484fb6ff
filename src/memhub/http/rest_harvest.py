"""``POST /api/harvest``: decisions, bugs, conventions and learnings mined from the Claude Code
transcripts of one project, as mcp-memory-service 12.4 answers it (``web/api/harvest.py``).

The harvesting is the ``memory_harvest`` tool's (:mod:`memhub.mcp_bridge.v12_tools.harvest`),
run in the daemon: the transcripts are read in a worker thread, and a real run stores the
candidates through :class:`~memhub.http.local.LocalDaemon`, i.e. the writer actor, named
``rest-api``. As in 12.4:

* ``project_path`` is required and names a directory under ``~/.claude/projects/`` (the
  daemon's home): absolute paths, ``..`` and links out of it are 400, a missing directory 404;
* the write scope is needed, dry run or not; ``types`` outside 12.4's five are 400;
* ``use_llm`` gives the heuristic result (12.4 without an LLM provider does the same);
* there is no tracker, ``force_reharvest`` or ``auto_commit`` (the MCP tool has them).

memhub is stricter than 12.4 with what a client cannot see: a transcript over 64 MiB or without
a JSON line, an odd session id, or a named transcript that links out of the directory is a 400
naming it, and then nothing is stored (12.4 reads them as empty sessions or drops them).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path, PurePosixPath
from typing import Any, Final

import trio
from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from memhub.credentials import Caller
from memhub.errors import ServiceError
from memhub.http.local import LocalDaemon
from memhub.http.rest_common import BUSY, REST_CLIENT, Authenticated, context, require
from memhub.mcp_bridge.v12_tools import harvest as hv

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api")
NO_PROJECT: Final = (
    "project_path is required for HTTP harvest (CWD inference only works in MCP context)"
)
BAD_PROJECT: Final = (
    "project_path must be a directory name under ~/.claude/projects/ "
    "(no '..', no absolute paths, no path separators beyond nested project dirs)"
)


class HarvestRequest(BaseModel):
    sessions: int = Field(
        default=1, ge=1, le=hv.MAX_SESSIONS, description="Number of recent sessions to harvest"
    )
    session_ids: list[str] | None = Field(
        default=None, max_length=hv.MAX_SESSIONS, description="Specific session IDs to harvest"
    )
    use_llm: bool = Field(
        default=False, description="Accepted; memhub has no LLM, so the result is the heuristic one"
    )
    dry_run: bool = Field(default=True, description="Preview candidates without storing")
    min_confidence: float = Field(
        default=0.6, ge=0.0, le=1.0, description="Minimum confidence threshold"
    )
    types: list[str] = Field(
        default_factory=lambda: list(hv.TYPES), description="Candidate memory types to include"
    )
    project_path: str | None = Field(
        default=None, description="A directory name under ~/.claude/projects/ (required)"
    )


class HarvestCandidateModel(BaseModel):
    type: str
    content: str
    confidence: float
    tags: list[str]


class HarvestSessionResult(BaseModel):
    session_id: str
    total_messages: int
    found: int
    stored: int
    by_type: dict[str, int]
    candidates: list[HarvestCandidateModel]
    coverage: dict[str, Any] | None = None


class HarvestResponse(BaseModel):
    dry_run: bool
    results: list[HarvestSessionResult]


def project_directory(project_path: str | None) -> Path:
    """12.4's ``_resolve_project_path``: a relative name under ``~/.claude/projects/``
    (touches the file system: run it in a thread)."""
    if not project_path:
        raise HTTPException(400, detail=NO_PROJECT)
    if "\0" in project_path:
        raise HTTPException(400, detail=BAD_PROJECT)
    projects = (Path.home() / ".claude" / "projects").resolve()
    pure = PurePosixPath(project_path.strip().replace(os.sep, "/"))
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise HTTPException(400, detail=BAD_PROJECT)
    found = projects.joinpath(*pure.parts).resolve()
    if not found.is_relative_to(projects):
        raise HTTPException(400, detail=BAD_PROJECT)
    if not found.is_dir():
        raise HTTPException(404, detail=f"Project directory not found: {found}")
    return found


def _read(body: HarvestRequest) -> list[hv.Session]:
    """Resolve, list and read, all in one worker thread; nothing is stored yet."""
    directory = project_directory(body.project_path)
    ids = body.session_ids or None  # [] lists the newest sessions, as 12.4 does
    paths = hv.strict_session_files(directory, ids, body.sessions)
    return hv.harvest_files(paths, set(body.types), body.min_confidence, strict=True)


@router.post("/harvest", response_model=HarvestResponse, tags=["harvest"])
async def harvest_sessions(
    identity: Authenticated,
    body: HarvestRequest,
    request: Request,
) -> dict[str, Any]:
    """Extract learnings from the Claude Code transcripts of one project; a dry run (the
    default) stores nothing."""
    require(identity, "write")
    invalid = [t for t in body.types if t not in hv.TYPES]
    if invalid:
        raise HTTPException(
            400, detail=f"Invalid types: {invalid}. Must be subset of {list(hv.TYPES)}"
        )
    try:
        found = await trio.to_thread.run_sync(_read, body)
    except hv.Refused as exc:
        raise HTTPException(400, detail=f"{exc.message}; nothing was harvested") from None
    results = []
    if body.dry_run:
        results = [hv.session_result(s, 0) for s in found]
    else:
        service = context(request).service
        local = LocalDaemon(service, Caller(name=REST_CLIENT, kind="token"))
        service.connection_opened(local.caller)
        try:
            daemon = local.as_seen_by(identity)
            for session in found:
                stored, _ = await hv.store_candidates(daemon, session)
                results.append(hv.session_result(session, stored))
        except BUSY as exc:
            raise HTTPException(503, detail=exc.message) from None
        except ServiceError:
            log.exception("harvest failed while storing")
            raise HTTPException(500, detail="Harvest failed") from None
        finally:
            service.connection_closed(local.caller)
    return {"dry_run": body.dry_run, "results": results}
