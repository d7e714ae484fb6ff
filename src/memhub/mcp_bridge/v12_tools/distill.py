"""``memory_distill``: 12.4's candidate listing, and its answer when no LLM is configured.

12.4 distills insights with an LLM (``HARVEST_LLM_PROVIDERS`` or Groq). memhub has no LLM: a
dry run lists the candidates exactly as 12.4 does (long observation, decision, reference and
learning memories of the default store that were not distilled before), and a real run
answers what 12.4 answers when its provider is missing: every candidate processed and
skipped, nothing stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from memhub.mcp_bridge import arguments as a
from memhub.mcp_bridge.calls import ToolResult, expect
from memhub.mcp_bridge.v12_tools.texts import answer
from memhub.protocol import messages as m

if TYPE_CHECKING:
    from memhub.mcp_bridge.calls import Daemon

TYPES: Final = ("observation", "decision", "reference", "learning")
MIN_LENGTH: Final = 200
PAGE: Final = 100


async def _first(daemon: Daemon, memory_type: str, count: int) -> list[m.MemoryRecord]:
    """12.4's ``list_memories(page=1, page_size=count, memory_type=t)`` (newest first)."""
    rows: list[m.MemoryRecord] = []
    page = 1
    while len(rows) < count:
        reply = expect(
            (
                await daemon.call(
                    m.ListMemories(id=0, page=page, page_size=PAGE, memory_type=memory_type)
                )
            ).unwrap(),
            m.Page,
        )
        rows.extend(reply.memories)
        if not reply.has_more:
            break
        page += 1
    return rows[:count]


def is_candidate(memory: m.MemoryRecord) -> bool:
    tags = ",".join(memory.tags)
    if len(memory.content) < MIN_LENGTH:
        return False
    if "memory-distilled" in tags or "association" in tags:
        return False
    return not ("checkpoint" in tags and "sessao" in tags)


async def distill(daemon: Daemon, args: dict[str, Any]) -> ToolResult:
    batch = a.as_int(args.get("batch_size"), "batch_size", 20)
    dry_run = a.as_bool(args.get("dry_run"), "dry_run", True)
    candidates: list[m.MemoryRecord] = []
    if batch > 0:
        for memory_type in TYPES:
            candidates.extend(
                mem for mem in await _first(daemon, memory_type, batch) if is_candidate(mem)
            )
    candidates = candidates[: max(batch, 0)]
    if dry_run:
        return answer(
            {
                "dry_run": True,
                "candidates_found": len(candidates),
                "candidates": [
                    {"hash": c.content_hash, "type": c.memory_type, "preview": c.content[:150]}
                    for c in candidates
                ],
            }
        )
    # 12.4 without an LLM provider: its rewriter returns nothing for every candidate.
    return answer(
        {
            "dry_run": False,
            "processed": len(candidates),
            "stored": 0,
            "skipped": len(candidates),
            "insights": [],
        }
    )
