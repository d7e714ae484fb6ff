"""mcp-memory-service 12.4's 28 tools as its ``tools/list`` shows them (packaged data).

12.4 builds the list from a static registry; nothing in it depends on the environment. memhub
advertises it verbatim (names, order, descriptions, input schemas, annotations) when
``MEMHUB_TOOL_SCHEMAS=v12``, and validates the 19 tools 12.4 added to the nine core ones
against these schemas whatever it advertises, as 12.4's SDK does before any handler runs.
"""

from __future__ import annotations

import copy
import functools
import json
from importlib import resources
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import mcp_types

    from memhub.mcp_bridge.calls import ToolResult

DATA_FILE: Final = "mms-12.4.0-tools.json"

LOCAL_ONLY: Final = frozenset({"memory_harvest", "memory_ingest"})
"""Tools 12.4 hides and refuses on remote transports (SSE, streamable HTTP): they read the
server machine's files."""


def remote_refusal(name: str) -> ToolResult | None:
    """12.4's answer to a local-only tool (or an old name of one) called over the network."""
    from memhub.mcp_bridge.aliases import ALIASES
    from memhub.mcp_bridge.calls import ToolResult

    target = ALIASES[name][0] if name in ALIASES else name
    if target not in LOCAL_ONLY:
        return None
    return ToolResult(json.dumps({"error": f"Tool not available over this transport: {name}"}))


@functools.cache
def _tools() -> tuple[dict[str, Any], ...]:
    text = resources.files(__package__).joinpath(DATA_FILE).read_text(encoding="utf-8")
    return tuple(json.loads(text)["tools"])


def tools() -> list[dict[str, Any]]:
    """The 28 tools, in 12.4's order (deep copies: callers may not alter the data)."""
    return copy.deepcopy(list(_tools()))


@functools.cache
def _by_name() -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in _tools()}


def names() -> list[str]:
    return [t["name"] for t in _tools()]


def input_schema(name: str) -> dict[str, Any]:
    """12.4's input schema of tool ``name`` (KeyError if 12.4 has no such tool)."""
    schema: dict[str, Any] = _by_name()[name]["inputSchema"]
    return schema


def tool_annotations(name: str) -> dict[str, Any]:
    """12.4's annotations of tool ``name`` (``{}`` if it has none; KeyError if no such tool)."""
    found: dict[str, Any] = _by_name()[name].get("annotations") or {}
    return dict(found)


def is_12x_tool(name: str) -> bool:
    return name in _by_name()


def mcp_tools(*, remote: bool = False) -> list[mcp_types.Tool]:
    """The list as SDK objects; ``remote`` drops the local-only tools, as 12.4 does."""
    import mcp_types

    names_ = {
        "title": "title",
        "readOnlyHint": "read_only_hint",
        "destructiveHint": "destructive_hint",
        "idempotentHint": "idempotent_hint",
        "openWorldHint": "open_world_hint",
    }
    listed = []
    for tool in tools():
        if remote and tool["name"] in LOCAL_ONLY:
            continue
        annotations = tool.get("annotations") or {}
        listed.append(
            mcp_types.Tool(
                name=tool["name"],
                description=tool["description"],
                input_schema=tool["inputSchema"],
                annotations=(
                    mcp_types.ToolAnnotations(**{names_[k]: v for k, v in annotations.items()})
                    if annotations
                    else None
                ),
            )
        )
    return listed
