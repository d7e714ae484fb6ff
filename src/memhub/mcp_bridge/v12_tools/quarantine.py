"""``get_quarantined_memories`` and ``unquarantine_memory``: tags and metadata, as 12.4 keeps them.

12.4 quarantines a memory (only with ``MCP_NLI_ON_STORE``) by replacing its tags with
``quarantined`` and merging ``quarantined``/``quarantined_at``/``contradicted_belief``/
``quarantine_reason`` into its metadata; memhub never quarantines (it has no NLI) but lists and
releases what 12.4 quarantined, with 12.4's rules: the listing reads every store, newest first,
cut at ``limit`` before the ``quarantined`` flag is checked; a release merges
``quarantined: false`` and ``unquarantined_at`` and keeps the tag.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from memhub.errors import NotFound
from memhub.mcp_bridge import arguments as a
from memhub.mcp_bridge.calls import ToolResult, expect
from memhub.mcp_bridge.v12_tools.texts import answer
from memhub.protocol import messages as m

if TYPE_CHECKING:
    from memhub.mcp_bridge.calls import Daemon

PAGE: Final = 100
MAX_ROWS: Final = 10_000


async def tagged(daemon: Daemon, tag: str, wanted: int | None) -> list[m.MemoryRecord]:
    """Memories carrying ``tag`` in any store, newest first (``wanted`` None: every one, up to
    :data:`MAX_ROWS`)."""
    rows: list[m.MemoryRecord] = []
    page = 1
    cap = MAX_ROWS if wanted is None else min(wanted, MAX_ROWS)
    while len(rows) < cap:
        reply = expect(
            (
                await daemon.call(
                    m.ListMemories(id=0, page=page, page_size=PAGE, tags=[tag], store="all")
                )
            ).unwrap(),
            m.Page,
        )
        rows.extend(reply.memories)
        if not reply.has_more:
            break
        page += 1
    return rows[:cap]


async def listing(daemon: Daemon, args: dict[str, Any]) -> ToolResult:
    limit = a.as_int(args.get("limit"), "limit", 50)
    # 12.4 slices the tag search with Python's rules (a negative limit drops the newest tail)
    rows = await tagged(daemon, "quarantined", limit if limit >= 0 else None)
    quarantined = [
        {
            "content_hash": mem.content_hash,
            "content": mem.content[:200],
            "contradicted_belief": mem.metadata.get("contradicted_belief"),
            "contradicted_memory": mem.metadata.get("contradicted_memory"),
            "quarantined_at": mem.metadata.get("quarantined_at"),
            "reason": mem.metadata.get("quarantine_reason", ""),
        }
        for mem in rows[:limit]
        if mem.metadata.get("quarantined")
    ]
    return answer({"quarantined": quarantined, "count": len(quarantined)})


async def release(daemon: Daemon, args: dict[str, Any]) -> ToolResult:
    target = args.get("content_hash", "")
    if not target:
        return ToolResult("Error: content_hash is required")
    delivery = await daemon.call(
        m.Update(
            id=0,
            content_hash=str(target),
            metadata={
                "quarantined": False,
                "unquarantined_at": datetime.now(UTC).isoformat(),
            },
            preserve_timestamps=True,
            store=None,
        )
    )
    if isinstance(delivery.error, NotFound):
        return answer({"status": "error", "message": delivery.error.message})
    expect(delivery.unwrap(), m.Updated)
    return answer({"status": "unquarantined", "content_hash": target})
