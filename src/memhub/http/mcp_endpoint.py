"""MCP Streamable HTTP at ``/mcp``: the bridge's MCP surface, served by the SDK's session manager.

The server is :func:`memhub.mcp_bridge.surface.build_server`, the one ``memhub bridge`` serves
on stdio, so the tools, prompts, resources, texts and ``isError`` rules are the same; only the
:class:`~memhub.mcp_bridge.surface.Backing` differs: here each request is answered in process by
its session's caller (:mod:`memhub.http.local`).

Sessions are stateful (``Mcp-Session-Id``): a client that negotiates a handshake-era protocol
(2024-11-05 … 2025-11-25) says its name once, in ``initialize``, and only a session remembers
it. Clients of the 2026-07-28 protocol send their name with every request and need no session;
the SDK routes those by their ``MCP-Protocol-Version`` header.

Every request is authenticated here (the same rules as REST), before the SDK sees it.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl

from memhub.http.auth import AuthPolicy, Identity, Refusal
from memhub.http.guard import json_response
from memhub.http.local import SCOPE_REFUSAL, AuthorizedDaemon, SessionCallers
from memhub.http.scopes import tool_scope

if TYPE_CHECKING:
    from mcp.server.context import ServerRequestContext
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

    from memhub.mcp_bridge.calls import ToolResult

log = logging.getLogger(__name__)

IDENTITY_KEY: Final = "memhub.identity"
"""Where the endpoint leaves the request's identity in the ASGI scope for the handlers."""
SESSION_HEADER: Final = "mcp-session-id"
SESSION_IDLE_S: Final = 30 * 60.0  # the SDK's default: a session unused this long is closed


class HttpBacking:
    """The surface's daemon for a request: the caller of its session, with its identity."""

    remote = True  # 12.4's local-only tools (they read files) are not listed nor run here

    def __init__(self, callers: SessionCallers) -> None:
        self.callers = callers

    def daemon(self, ctx: ServerRequestContext[Any]) -> AuthorizedDaemon:
        request = ctx.request
        session_id = identity = None
        if request is not None:
            session_id = request.headers.get(SESSION_HEADER)
            identity = request.scope.get(IDENTITY_KEY)
        params = ctx.session.client_params
        name = params.client_info.name if params is not None else None
        return self.callers.daemon_for(session_id, name, identity)

    def daemon_ready(self) -> bool:
        return True  # in process: the service is up whenever a request arrives

    async def early_answer(
        self, ctx: ServerRequestContext[Any], tool: str, arguments: dict[str, Any] | None
    ) -> ToolResult | None:
        """12.4's order: a local-only tool is refused first, then a call the caller's scope does
        not cover (:func:`~memhub.http.scopes.tool_scope`), before anything runs."""
        from memhub.mcp_bridge.calls import ToolResult
        from memhub.mcp_bridge.v12_tools.catalog import remote_refusal

        refused = remote_refusal(tool)
        if refused is not None:
            return refused
        op = tool_scope(tool, arguments)
        identity = ctx.request.scope.get(IDENTITY_KEY) if ctx.request is not None else None
        if isinstance(identity, Identity) and identity.may(op):
            return None
        # 12.4 refuses the call itself (403 on its /mcp, isError on its SDK transports).
        return ToolResult(SCOPE_REFUSAL.format(op=op), is_error=True)


def session_manager(
    callers: SessionCallers, *, hosts: frozenset[str], origins: frozenset[str], max_body: int
) -> StreamableHTTPSessionManager:
    """The SDK's manager with the surface over ``callers`` and the spec's security rules."""
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
    from mcp.server.transport_security import TransportSecuritySettings

    from memhub.mcp_bridge.surface import build_server

    # The guard in front already enforces these; the SDK's own check stays on as a second net.
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=sorted(hosts),
        allowed_origins=sorted(origins),
    )
    return StreamableHTTPSessionManager(
        app=build_server(HttpBacking(callers)),
        # Every answer is one JSON-RPC response: nothing is ever streamed back (no progress
        # notifications), and a JSON body is what the shortest clients handle best.
        json_response=True,
        stateless=False,
        security_settings=security,
        session_idle_timeout=SESSION_IDLE_S,
        max_request_body_size=max_body,
    )


class McpEndpoint:
    """ASGI app of ``/mcp``: authenticate, let the SDK answer, close deleted sessions."""

    def __init__(
        self, manager: StreamableHTTPSessionManager, callers: SessionCallers, auth: AuthPolicy
    ) -> None:
        self.manager = manager
        self.callers = callers
        self.auth = auth

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        outcome = self.auth.authenticate(headers, query)
        if isinstance(outcome, Refusal):
            await json_response(outcome.status, outcome.body, outcome.headers)(scope, receive, send)
            return
        scope[IDENTITY_KEY] = outcome
        status = 0

        async def watch(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.manager.handle_request(scope, receive, watch)
        session_id = headers.get(SESSION_HEADER)
        if scope["method"] == "DELETE" and session_id and status < 400:
            self.callers.end(session_id)
