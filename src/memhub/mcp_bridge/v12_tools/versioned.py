"""``memory_update`` with ``versioned: true``: 12.4's versioned content change.

The daemon stores the new version (its own vector, the old version's store, inherited
metadata) and marks the old one superseded in one write (:mod:`memhub.extras.evolution`);
12.4 does it in two transactions and may leave a tombstone behind when the second fails.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from memhub.domain.hashing import content_hash
from memhub.errors import BadRequest, Duplicate, NotFound
from memhub.mcp_bridge import arguments as a
from memhub.mcp_bridge import v12_arguments as v12
from memhub.mcp_bridge.calls import ToolResult, expect, fail
from memhub.protocol import messages as m

if TYPE_CHECKING:
    from memhub.mcp_bridge.calls import Daemon


async def update(
    daemon: Daemon, target: str, updates: dict[str, Any], args: dict[str, Any]
) -> ToolResult:
    content = updates.get("content")
    if not content or not isinstance(content, str) or not content.strip():
        return fail("Error: versioned update requires 'content' field in updates.")
    metadata = updates.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        return fail("Error: metadata must be a dictionary of custom fields.")
    tags = a.normalize_tags(updates["tags"]) if "tags" in updates else None
    memory_type = a.as_str(updates.get("memory_type"), "memory_type")
    reason = a.as_str(updates.get("reason"), "reason")
    delivery = await daemon.call(
        m.VersionedUpdate(
            id=0,
            content_hash=target,
            content=content,
            tags=tags,
            memory_type=memory_type,
            reason=reason,
            metadata=metadata,
            store=v12.update_store(args),
        )
    )
    error = delivery.error
    if error is not None and delivery.ambiguous:
        # The first attempt may have made the version the retry now refuses to make again.
        new_hash = content_hash(content)
        found = await daemon.call(m.Get(id=0, content_hash=new_hash))
        if isinstance(found.reply, m.Found):
            return ToolResult(_done(new_hash, target))
    if isinstance(error, NotFound) and error.message.startswith("memory not found in"):
        # 12.4 raises here (a PermissionError): its SDK flags the answer.
        return ToolResult(error.message, is_error=True)
    if isinstance(error, Duplicate):
        return fail(f"Failed versioned update: Failed to store new version: {error.message}")
    if isinstance(error, NotFound | BadRequest):
        return fail(f"Failed versioned update: {error.message}")
    reply = expect(delivery.unwrap(), m.Versioned)
    return ToolResult(_done(reply.content_hash, reply.parent_hash))


def _done(new_hash: str, parent: str) -> str:
    return (
        f"Versioned update successful. New hash: {new_hash}, parent hash: {parent}. "
        "Memory versioned successfully"
    )
