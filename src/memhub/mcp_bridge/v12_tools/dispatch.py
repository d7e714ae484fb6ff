"""Running one of 12.4's extra tools: validation as 12.4's SDK does it, then its handler.

12.4's SDK validates a call against the advertised schema before the handler runs and answers
a violation with ``isError`` and ``Input validation error: …``; the handlers of these tools
catch their own failures and answer text. memhub keeps both rules: a violation is flagged,
a handler's refusal is an ordinary result in 12.4's wording, and only memhub's own machinery
failing (the daemon unreachable, a database error) is flagged on top.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

from memhub.errors import ServiceError
from memhub.mcp_bridge import outcomes
from memhub.mcp_bridge.arguments import ArgumentError
from memhub.mcp_bridge.calls import ToolResult
from memhub.mcp_bridge.v12_tools import catalog

if TYPE_CHECKING:
    from memhub.mcp_bridge.calls import Daemon

Handler = Callable[["Daemon", dict[str, Any]], Awaitable[ToolResult]]

MISSING: Final[dict[str, str]] = {}
"""12.4 tools memhub advertises but cannot serve yet: name -> what is missing."""


def handlers() -> dict[str, Handler]:
    """The served extra tools (imported on first use: the bridge starts without them)."""
    return {}


def validation_error(name: str, arguments: dict[str, Any]) -> str:
    """12.4's SDK answer for arguments its schema refuses, or ``""``."""
    if not catalog.is_12x_tool(name):
        return ""
    text, _ = outcomes.schema_violation(catalog.input_schema(name), arguments)
    return text


async def run(daemon: Daemon, name: str, arguments: dict[str, Any]) -> ToolResult | None:
    """The answer of extra tool ``name``, or None if ``name`` is not one of them."""
    handler = handlers().get(name)
    if handler is None:
        if name in MISSING:
            return ToolResult(f"Error: {name} is not served by memhub: {MISSING[name]}")
        return None
    try:
        return await handler(daemon, arguments)
    except ArgumentError as exc:
        return ToolResult(f"Error: {exc}")
    except ServiceError as exc:
        return ToolResult(f"Error: {exc.message}", is_error=outcomes.is_infrastructure_failure(exc))
