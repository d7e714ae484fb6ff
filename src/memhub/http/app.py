"""The ASGI application of the HTTP endpoint: the guard, then ``/mcp`` or the REST routes.

``/mcp`` is dispatched by exact path (a Starlette ``Mount`` would redirect ``/mcp`` to
``/mcp/`` with a 307, and MCP clients post to the URL they were given). Everything else is a
FastAPI app, the framework mcp-memory-service 12.4 serves its REST API with, so that routing
errors (404 ``{"detail": "Not Found"}``, 405), validation errors (422 and their ``detail``
lists) and the OpenAPI document (``GET /openapi.json``) come out as 12.4's do.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from memhub import __version__
from memhub.http.guard import Guard

if TYPE_CHECKING:
    from fastapi import FastAPI

    from memhub.http.auth import AuthPolicy
    from memhub.http.mcp_endpoint import McpEndpoint
    from memhub.service import MemoryService

log = logging.getLogger(__name__)

DESCRIPTION = (
    "memhub's HTTP endpoint: mcp-memory-service 12.4's REST routes for its hooks and scripts, "
    "and MCP Streamable HTTP at /mcp (not described here: it speaks JSON-RPC). Authenticate "
    "with `Authorization: Bearer <MCP_API_KEY>` or `X-API-Key: <MCP_API_KEY>`."
)


def rest_app(service: MemoryService, auth: AuthPolicy) -> FastAPI:
    """The REST routes as one FastAPI app (OpenAPI at ``/openapi.json``, no docs pages)."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    from memhub.http import (
        rest_harvest,
        rest_health,
        rest_memories,
        rest_quality,
        rest_search,
    )
    from memhub.http.rest_common import RestContext

    app = FastAPI(
        title="memhub",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.memhub = RestContext(service=service, auth=auth)
    for module in (rest_health, rest_memories, rest_search, rest_harvest, rest_quality):
        app.include_router(module.router)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        # A bug of ours: a JSON body (as upstream's routes answer) and a log line, never a
        # traceback for the client.
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse({"detail": "Internal server error"}, status_code=500)

    return app


def build_app(
    rest: Any,
    mcp: McpEndpoint,
    *,
    bind_host: str,
    extra_origins: tuple[str, ...],
    max_body: int,
    body_deadline_s: float,
) -> Guard:
    """The whole endpoint: ``Guard`` → ``/mcp`` | REST."""

    async def route(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] in ("/mcp", "/mcp/"):
            await mcp(scope, receive, send)
        else:
            await rest(scope, receive, send)

    return Guard(
        route,
        bind_host=bind_host,
        extra_origins=extra_origins,
        max_body=max_body,
        body_deadline_s=body_deadline_s,
    )
