"""Tool calls: resolve the name, run its handler, keep MMS's error wording.

Every tool answers with one text. Failures keep MMS's ``Error…``/``Failed…`` wording; whether
the answer is also flagged ``is_error`` follows :mod:`memhub.mcp_bridge.outcomes`: only what
both upstream generations flag (the SDK's input validation) and what upstream cannot produce
(the daemon unreachable or failing inside).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

import attrs

from memhub.errors import BadRequest, ServiceError
from memhub.mcp_bridge import aliases, outcomes, reads, schemas, writes
from memhub.mcp_bridge import arguments as a
from memhub.mcp_bridge import v12_arguments as v12
from memhub.mcp_bridge.calls import Daemon, ToolResult
from memhub.mcp_bridge.v12_tools import dispatch as v12_tools

if TYPE_CHECKING:
    from collections.abc import Mapping

Handler = Callable[[Daemon, dict[str, Any]], Awaitable[ToolResult]]


async def call_tool(daemon: Daemon, name: str, arguments: Mapping[str, Any] | None) -> ToolResult:
    """Run one tool call (new name, deprecated alias, or unknown) and format its result."""
    args: dict[str, Any] = dict(arguments or {})
    # Upstream's SDK validates a listed tool's arguments against its schema before the
    # handler runs (aliases are not listed, so they are not validated).
    violation, required = ("", False)
    if name in schemas.TOOLS_BY_NAME:
        violation, required = outcomes.schema_violation(schemas.input_schema(name), args)
    elif refused := v12_tools.validation_error(name, args):
        return ToolResult(refused, is_error=True)  # 12.4's SDK refuses these calls outright
    if violation and required:
        return ToolResult(violation, is_error=True)
    result = await _dispatch(daemon, name, args)
    if violation and result.refused:
        # memhub's leniency could not rescue the call either: upstream's SDK answer.
        return ToolResult(violation, is_error=True)
    return ToolResult(result.text, is_error=result.flagged)


@attrs.frozen
class _Outcome:
    text: str
    flagged: bool = False
    refused: bool = False


async def _dispatch(daemon: Daemon, name: str, args: dict[str, Any]) -> _Outcome:
    try:
        resolved, args = aliases.resolve(name, args)
    except a.ArgumentError as exc:
        return _Outcome(f"Error: {exc}")
    extra = await v12_tools.run(daemon, resolved, args)
    if extra is not None:
        return _Outcome(extra.text, flagged=extra.is_error)
    unsupported = aliases.unsupported_message(name, resolved)
    if unsupported is not None:
        return _Outcome(unsupported)
    tool = CORE_TOOLS.get(resolved)
    if tool is None:
        # 12.x's wording (v10 said "Error: Unknown tool: <name>"); both answer without isError.
        return _Outcome(json.dumps({"error": f"Unknown tool: {name}"}))
    prefix = tool.error_prefix
    preamble = ""
    if resolved == "memory_search":
        if str(args.get("mode", "")).strip().lower() == "ranked" and not args.get("query"):
            return _Outcome("Error: query required for ranked mode")
        args, preamble = v12.prepare_search(args)
    try:
        result = await tool.handler(daemon, args)
    except a.ArgumentError as exc:
        return _Outcome(f"Error: {exc}", refused=True)
    except BadRequest as exc:
        if tool.plain_bad_request:
            return _Outcome(f"Error: {exc.message}", refused=True)
        return _Outcome(f"{prefix}{exc.message}", refused=True)
    except ServiceError as exc:
        return _Outcome(f"{prefix}{exc.message}", flagged=outcomes.is_infrastructure_failure(exc))
    # The handlers mark their refusals (duplicates, not found, bad filters) as failures;
    # upstream answers those as ordinary results.
    text = result.text
    if preamble and not result.is_error:
        text = preamble + text
    return _Outcome(text, refused=result.is_error)


@attrs.frozen
class CoreTool:
    """One of the nine core tools: its handler and how MMS words its failures."""

    handler: Handler
    error_prefix: str  # MMS's wording when the handler fails
    plain_bad_request: bool = False  # MMS reports storage-level validation as ``Error: <message>``


CORE_TOOLS: Final[dict[str, CoreTool]] = {
    "memory_store": CoreTool(writes.store, "Error storing memory: "),
    "memory_store_session": CoreTool(writes.store_session, "Error storing session: "),
    "memory_search": CoreTool(reads.search, "Error searching memories: ", True),
    "memory_list": CoreTool(reads.list_memories, "Error listing memories: "),
    "memory_delete": CoreTool(writes.delete, "Error deleting memories: ", True),
    "memory_update": CoreTool(writes.update, "Error updating memory metadata: ", True),
    "memory_health": CoreTool(reads.health, "Error checking database health: "),
    "memory_stats": CoreTool(reads.stats, "Error getting cache stats: "),
    "memory_cleanup": CoreTool(writes.cleanup, "Error cleaning up duplicates: "),
}
"""The core tools by name (their schemas are :data:`memhub.mcp_bridge.schemas.TOOLS`)."""
