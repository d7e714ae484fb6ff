"""Tool calls: resolve the name, run its handler, keep MMS's error wording.

Every tool answers with one text. Failures keep MMS's ``Error…``/``Failed…`` wording and are
also flagged ``is_error`` (MMS 12.x does the same; v10 never set it), so a client can tell a
failure from a result without parsing text.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

from memhub.errors import BadRequest, ServiceError
from memhub.mcp_bridge import aliases, reads, writes
from memhub.mcp_bridge import arguments as a
from memhub.mcp_bridge.calls import Daemon, ToolResult, fail

if TYPE_CHECKING:
    from collections.abc import Mapping

Handler = Callable[[Daemon, dict[str, Any]], Awaitable[ToolResult]]


async def call_tool(daemon: Daemon, name: str, arguments: Mapping[str, Any] | None) -> ToolResult:
    """Run one tool call (new name, deprecated alias, or unknown) and format its result."""
    args: dict[str, Any] = dict(arguments or {})
    try:
        resolved, args = aliases.resolve(name, args)
    except a.ArgumentError as exc:
        return fail(f"Error: {exc}")
    unsupported = aliases.unsupported_message(name, resolved)
    if unsupported is not None:
        return fail(unsupported)
    handler = HANDLERS.get(resolved)
    if handler is None:
        return fail(f"Error: Unknown tool: {name}")
    prefix = ERROR_PREFIX[resolved]
    try:
        return await handler(daemon, args)
    except a.ArgumentError as exc:
        return fail(f"Error: {exc}")
    except BadRequest as exc:
        if resolved in PLAIN_BAD_REQUEST:
            return fail(f"Error: {exc.message}")
        return fail(f"{prefix}{exc.message}")
    except ServiceError as exc:
        return fail(f"{prefix}{exc.message}")


HANDLERS: Final[dict[str, Handler]] = {
    "memory_store": writes.store,
    "memory_store_session": writes.store_session,
    "memory_search": reads.search,
    "memory_list": reads.list_memories,
    "memory_delete": writes.delete,
    "memory_update": writes.update,
    "memory_health": reads.health,
    "memory_stats": reads.stats,
    "memory_cleanup": writes.cleanup,
}

ERROR_PREFIX: Final = {
    "memory_store": "Error storing memory: ",
    "memory_store_session": "Error storing session: ",
    "memory_search": "Error searching memories: ",
    "memory_list": "Error listing memories: ",
    "memory_delete": "Error deleting memories: ",
    "memory_update": "Error updating memory metadata: ",
    "memory_health": "Error checking database health: ",
    "memory_stats": "Error getting cache stats: ",
    "memory_cleanup": "Error cleaning up duplicates: ",
}
"""MMS's wording when a tool's handler fails."""

PLAIN_BAD_REQUEST: Final = frozenset({"memory_search", "memory_delete", "memory_update"})
"""Tools whose storage-level validation errors MMS reports as plain ``Error: <message>``."""
