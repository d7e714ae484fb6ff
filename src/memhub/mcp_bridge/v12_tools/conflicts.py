"""``memory_conflicts`` and ``memory_resolve``: ``contradicts`` edges and their resolution.

memhub reads the ``contradicts`` pairs 12.4 records (at store time, by its maintain step, by
NLI) from ``memory_graph`` and resolves them as 12.4 does: the loser gets ``superseded_by``,
the winner ``confidence`` 1.0, both lose the ``conflict:unresolved`` tag, the edges stay.
memhub does not detect new conflicts when storing (see the README).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from memhub.mcp_bridge.calls import ToolResult, expect
from memhub.protocol import messages as m

if TYPE_CHECKING:
    from memhub.mcp_bridge.calls import Daemon


async def listing(daemon: Daemon, args: dict[str, Any]) -> ToolResult:
    found = expect((await daemon.call(m.ListConflicts(id=0))).unwrap(), m.ConflictList)
    if not found.conflicts:
        return ToolResult("No unresolved conflicts found.")
    lines = [f"Found {len(found.conflicts)} conflict(s):\n"]
    for c in found.conflicts:
        divergence = c.edge_metadata.get("divergence")
        lines.append(
            f"- {c.hash_a[:12]} vs {c.hash_b[:12]} "
            f"(similarity: {c.similarity:.2f}, divergence: {divergence})"
        )
        lines.append(f"  A: {c.content_a[:100]}")
        lines.append(f"  B: {c.content_b[:100]}")
    return ToolResult("\n".join(lines))


async def _resolve_one(daemon: Daemon, winner: str, loser: str) -> str:
    delivery = await daemon.call(m.ResolveConflict(id=0, winner_hash=winner, loser_hash=loser))
    if delivery.error is not None:
        # resolving again is harmless (12.4 allows it), so a retried resolve means nothing else
        return delivery.error.message
    return f"Conflict resolved: {winner[:8]} supersedes {loser[:8]}"


async def resolve(daemon: Daemon, args: dict[str, Any]) -> ToolResult:
    pairs = args.get("hashes")
    if pairs and isinstance(pairs, list):
        # 12.4's unadvertised batch form: pairs missing either hash are skipped silently
        messages = []
        for pair in pairs:
            if not isinstance(pair, dict):
                continue
            winner, loser = pair.get("winner_hash", ""), pair.get("loser_hash", "")
            if winner and loser and isinstance(winner, str) and isinstance(loser, str):
                messages.append(await _resolve_one(daemon, winner, loser))
        return ToolResult(f"Resolved {len(messages)} conflict(s):\n" + "\n".join(messages))
    winner, loser = args.get("winner_hash", ""), args.get("loser_hash", "")
    if not winner or not loser:
        return ToolResult(
            "Error: winner_hash and loser_hash required (or pass hashes list for batch)"
        )
    return ToolResult(await _resolve_one(daemon, str(winner), str(loser)))
