"""``memory_explore`` and ``memory_detail``: 12.4's entity views (the daemon reads, this words).

Both are read-only. Refusals are 12.4's JSON shapes with ``success: false`` (never flagged);
what the daemon refuses (a range, a walk past its bound) is worded the way 12.4 words an
exception of its handler: the same shape, with the message as ``error``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from memhub.errors import BadRequest
from memhub.mcp_bridge import arguments as a
from memhub.mcp_bridge.calls import ToolResult, expect
from memhub.mcp_bridge.v12_tools.texts import answer
from memhub.protocol import messages as m

if TYPE_CHECKING:
    from memhub.mcp_bridge.calls import Daemon


def _scoring(value: object) -> str | None:
    return None if value is None else a.as_choice(value, "scoring", ("composite",), "composite")


async def explore(daemon: Daemon, args: dict[str, Any]) -> ToolResult:
    def refused(error: str) -> ToolResult:
        return answer({"success": False, "error": error, "entities": [], "count": 0})

    query = a.as_str(args.get("query"), "query")
    if not query:
        return refused("Missing required parameter: query")
    request = m.ExploreEntities(
        id=0,
        query=query,
        max_entities=a.as_int(args.get("max_entities"), "max_entities", 10),
        chunks_per_entity=a.as_int(args.get("chunks_per_entity"), "chunks_per_entity", 3),
        tags=a.normalize_tags(args.get("tags")),
        min_score=a.as_float(args.get("min_score"), "min_score", 0.0),
        scoring=_scoring(args.get("scoring")),
        store=a.as_str(args.get("store"), "store") or "default",
    )
    delivery = await daemon.call(request)
    if isinstance(delivery.error, BadRequest):
        return refused(delivery.error.message)
    return answer(expect(delivery.unwrap(), m.ToolData).data)


async def detail(daemon: Daemon, args: dict[str, Any]) -> ToolResult:
    eid = a.as_str(args.get("entity_id"), "entity_id")

    def refused(error: str, *, with_id: bool = True) -> ToolResult:
        shape: dict[str, Any] = {"success": False, "error": error}
        if with_id:
            shape["entity_id"] = eid
        return answer({**shape, "chunks": [], "related_entities": []})

    if not eid:
        return refused("Missing required parameter: entity_id", with_id=False)
    request = m.EntityDetail(
        id=0,
        entity_id=eid,
        limit=a.as_int(args.get("limit"), "limit", 50),
        include_related=a.as_bool(args.get("include_related"), "include_related", True),
        max_hops=a.as_int(args.get("max_hops"), "max_hops", 1),
        scoring=_scoring(args.get("scoring")),
        store=a.as_str(args.get("store"), "store"),
    )
    delivery = await daemon.call(request)
    if isinstance(delivery.error, BadRequest):
        return refused(delivery.error.message)
    return answer(expect(delivery.unwrap(), m.ToolData).data)
