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

OLD_DAEMON: Final = (
    "Error: the running memhub daemon predates {tool}; stop it (`memhub stop`) and the next "
    "call starts this version's daemon"
)
MISSING: Final[dict[str, str]] = {}
"""12.4 tools memhub advertises but cannot serve yet: name -> what is missing."""


def handlers() -> dict[str, Handler]:
    """The served extra tools (imported on first use: the bridge starts without them)."""
    from memhub.mcp_bridge.v12_tools import (
        conflicts,
        consolidate,
        distill,
        explore,
        graph,
        guides,
        harvest,
        ingest,
        mistakes,
        quality,
        quarantine,
        sessions,
    )

    return {
        "mistake_note_add": mistakes.add,
        "mistake_note_search": mistakes.search,
        "mistake_note_update": mistakes.update,
        "mistake_note_delete": mistakes.delete,
        "get_quarantined_memories": quarantine.listing,
        "unquarantine_memory": quarantine.release,
        "memory_conflicts": conflicts.listing,
        "memory_resolve": conflicts.resolve,
        "commit_session_legacy": sessions.commit,
        "get_bootstrap_profile": guides.bootstrap,
        "get_onboarding_guide": guides.onboarding,
        "memory_distill": distill.distill,
        "memory_graph": graph.graph,
        "memory_ingest": ingest.ingest,
        "memory_harvest": harvest.harvest,
        "memory_explore": explore.explore,
        "memory_detail": explore.detail,
        "memory_quality": quality.quality,
        "memory_consolidate": consolidate.consolidate,
    }


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
