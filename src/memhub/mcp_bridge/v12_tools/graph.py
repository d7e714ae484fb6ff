"""``memory_graph``: 12.4's five read-only walks (the daemon walks, this formats)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from memhub.errors import BadRequest
from memhub.mcp_bridge import arguments as a
from memhub.mcp_bridge.calls import ToolResult, expect
from memhub.mcp_bridge.v12_tools.texts import answer
from memhub.protocol import messages as m

if TYPE_CHECKING:
    from memhub.mcp_bridge.calls import Daemon


async def graph(daemon: Daemon, args: dict[str, Any]) -> ToolResult:
    action = args.get("action")
    if not action:
        return ToolResult("Error: action parameter is required")
    hash_ = a.as_str(args.get("hash"), "hash")
    if action in ("connected", "subgraph") and not hash_:
        return ToolResult(f"Error: hash is required for '{action}' action")
    if action == "path" and not (args.get("hash1") and args.get("hash2")):
        return ToolResult("Error: hash1 and hash2 are required for 'path' action")
    if action == "suggest" and not hash_:
        return answer(
            {"success": False, "error": "Missing required parameter: hash", "suggestions": []}
        )
    request = m.GraphQuery(
        id=0,
        action=str(action),
        hash=hash_,
        hash1=a.as_str(args.get("hash1"), "hash1"),
        hash2=a.as_str(args.get("hash2"), "hash2"),
        max_hops=a.as_int(args.get("max_hops"), "max_hops", 2),
        max_depth=a.as_int(args.get("max_depth"), "max_depth", 5),
        radius=a.as_int(args.get("radius"), "radius", 2),
        rel_type=a.as_str(args.get("rel_type"), "rel_type") or "related",
    )
    delivery = await daemon.call(request)
    if isinstance(delivery.error, BadRequest):
        return ToolResult(f"Error in memory_graph action '{action}': {delivery.error.message}")
    return answer(expect(delivery.unwrap(), m.ToolData).data)
