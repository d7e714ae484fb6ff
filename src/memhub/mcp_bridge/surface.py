"""MMS's MCP surface (tools, resources, prompts) as one SDK server, whatever carries it.

``memhub bridge`` serves it on stdio with a websocket link to the daemon; the daemon's HTTP
endpoint (:mod:`memhub.http`) serves the same server over Streamable HTTP with the service in
process. Both build it here, so the tools, texts and ``isError`` rules cannot drift apart: the
only thing a carrier supplies is a :class:`Backing`, which says which
:class:`~memhub.mcp_bridge.calls.Daemon` answers a given request.

It uses the SDK's low-level ``Server`` because that publishes MMS's input schemas and
annotations verbatim (``MCPServer`` would derive schemas from Python signatures).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final, Protocol

import trio

from memhub import __version__
from memhub.mcp_bridge import progress, prompts, resources, schemas
from memhub.mcp_bridge.tools import call_tool

if TYPE_CHECKING:
    import mcp_types
    from mcp.server.context import ServerRequestContext
    from mcp.server.lowlevel import Server

    from memhub.mcp_bridge.calls import Daemon, ToolResult

log = logging.getLogger(__name__)

SERVER_NAME: Final = "memory"
"""MMS's server name; clients and users' prompts refer to the tools through it."""

TAG_LIST_TIMEOUT_S: Final = 2.0


class Backing(Protocol):
    """What a carrier of the surface provides."""

    remote: bool
    """Whether the carrier is a network transport: 12.4's local-only tools are not listed."""

    def daemon(self, ctx: ServerRequestContext[Any]) -> Daemon:
        """The daemon that answers this request (a carrier may learn the client's name here)."""
        ...

    def daemon_ready(self) -> bool:
        """Whether a daemon answers at once (optional extras are skipped otherwise)."""
        ...

    async def early_answer(
        self, ctx: ServerRequestContext[Any], tool: str, arguments: dict[str, Any] | None
    ) -> ToolResult | None:
        """An answer that does not need the daemon (a bridge whose daemon is still starting
        answers ``memory_health`` with "starting"; HTTP refuses a call the caller's scope does
        not cover), or None to run the tool."""
        ...


def build_server(backing: Backing) -> Server[Any]:
    """The low-level SDK server with MMS's tools, resources and prompts over ``backing``."""
    from mcp.server.lowlevel import Server

    surface = _Surface(backing)
    return Server(
        SERVER_NAME,
        version=__version__,
        on_list_tools=surface.list_tools,
        on_call_tool=surface.call_tool,
        on_list_resources=surface.list_resources,
        on_list_resource_templates=surface.list_templates,
        on_read_resource=surface.read_resource,
        on_list_prompts=surface.list_prompts,
        on_get_prompt=surface.get_prompt,
    )


class _Surface:
    """The SDK handlers; each asks the backing for its daemon."""

    def __init__(self, backing: Backing) -> None:
        self.backing = backing

    async def list_tools(
        self, ctx: ServerRequestContext[Any], params: mcp_types.PaginatedRequestParams | None
    ) -> mcp_types.ListToolsResult:
        import mcp_types

        # Usually before a bridge's warm-up connects: then the link's first hello carries the
        # client's name.
        self.backing.daemon(ctx)
        return mcp_types.ListToolsResult(tools=schemas.mcp_tools(remote=self.backing.remote))

    async def call_tool(
        self, ctx: ServerRequestContext[Any], params: mcp_types.CallToolRequestParams
    ) -> mcp_types.CallToolResult:
        import mcp_types

        daemon = self.backing.daemon(ctx)
        try:
            result = await self.backing.early_answer(ctx, params.name, params.arguments)
            if result is None:
                with progress.reporting(ctx.session.report_progress):
                    result = await call_tool(daemon, params.name, params.arguments)
            text, is_error = result.text, result.is_error
        except Exception as exc:
            # A bug of ours must not take the server down with it: report it as a tool error.
            log.exception("tool %s failed", params.name)
            text, is_error = f"Error: {exc}", True
        return mcp_types.CallToolResult(
            content=[mcp_types.TextContent(type="text", text=text)], is_error=is_error
        )

    async def list_resources(
        self, ctx: ServerRequestContext[Any], params: mcp_types.PaginatedRequestParams | None
    ) -> mcp_types.ListResourcesResult:
        import mcp_types

        daemon = self.backing.daemon(ctx)
        listed = list(resources.STATIC)
        # MMS adds the first five tags; only ask when that cannot stall the client.
        with trio.move_on_after(TAG_LIST_TIMEOUT_S):
            if self.backing.daemon_ready():
                try:
                    memories, _ = await resources.scan(daemon, limit=resources.PAGE)
                    tags = resources.unique_tags(memories)[: resources.TAG_RESOURCES]
                    listed.extend(resources.tag_resource(tag) for tag in tags)
                except Exception as exc:
                    log.warning("failed to load tag resources: %s", exc)
        return mcp_types.ListResourcesResult(
            resources=[
                mcp_types.Resource(
                    uri=uri, name=name, description=desc, mime_type="application/json"
                )
                for uri, name, desc in listed
            ]
        )

    async def list_templates(
        self, ctx: ServerRequestContext[Any], params: mcp_types.PaginatedRequestParams | None
    ) -> mcp_types.ListResourceTemplatesResult:
        import mcp_types

        return mcp_types.ListResourceTemplatesResult(
            resource_templates=[
                mcp_types.ResourceTemplate(
                    uri_template=uri, name=name, description=desc, mime_type="application/json"
                )
                for uri, name, desc in resources.TEMPLATES
            ]
        )

    async def read_resource(
        self, ctx: ServerRequestContext[Any], params: mcp_types.ReadResourceRequestParams
    ) -> mcp_types.ReadResourceResult:
        import mcp_types

        uri = str(params.uri)
        text = await resources.read(self.backing.daemon(ctx), uri)
        # Upstream returns a bare string, which its SDK sends as text/plain (the listing
        # still says application/json).
        return mcp_types.ReadResourceResult(
            contents=[mcp_types.TextResourceContents(uri=uri, mime_type="text/plain", text=text)]
        )

    async def list_prompts(
        self, ctx: ServerRequestContext[Any], params: mcp_types.PaginatedRequestParams | None
    ) -> mcp_types.ListPromptsResult:
        import mcp_types

        self.backing.daemon(ctx)
        return mcp_types.ListPromptsResult(
            prompts=[
                mcp_types.Prompt(
                    name=spec.name,
                    description=spec.description,
                    arguments=[
                        mcp_types.PromptArgument(
                            name=arg.name, description=arg.description, required=arg.required
                        )
                        for arg in spec.arguments
                    ],
                )
                for spec in prompts.PROMPTS
            ]
        )

    async def get_prompt(
        self, ctx: ServerRequestContext[Any], params: mcp_types.GetPromptRequestParams
    ) -> mcp_types.GetPromptResult:
        import mcp_types

        daemon = self.backing.daemon(ctx)
        text = await prompts.render(daemon, params.name, params.arguments)
        return mcp_types.GetPromptResult(
            description=prompts.description(params.name),
            messages=[
                mcp_types.PromptMessage(
                    role="user", content=mcp_types.TextContent(type="text", text=text)
                )
            ],
        )
