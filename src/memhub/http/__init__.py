"""The daemon's HTTP endpoint (``MCP_HTTP_ENABLED=true``): mcp-memory-service 12.4's REST routes
and MCP Streamable HTTP at ``/mcp``, served by the daemon itself, every write through its
writer actor.

Modules, each with one purpose: :mod:`~memhub.http.server` (hypercorn in the daemon's
nursery), :mod:`~memhub.http.app` (the ASGI composition), :mod:`~memhub.http.guard` (Host,
Origin, body limits), :mod:`~memhub.http.auth` (API key and anonymous access),
:mod:`~memhub.http.mcp_endpoint` and :mod:`~memhub.http.local` (MCP sessions over the service),
and the REST routes ``rest_*``. Nothing here is imported unless the endpoint is enabled.
"""

from __future__ import annotations

from memhub.http.server import HttpListening, serve_http

__all__ = ["HttpListening", "serve_http"]
