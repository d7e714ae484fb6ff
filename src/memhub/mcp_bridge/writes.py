"""The write tools: ``memory_store``, ``memory_store_session``, ``memory_delete``,
``memory_update`` and ``memory_cleanup``.

Each handler validates like MMS, sends one request and formats MMS's text. A retried store or
session whose first attempt committed comes back from the link as the success it was
(:mod:`memhub.mcp_bridge.lost_acks`); a retried delete by hash that finds nothing left is
reported as done here, because the memory the caller wanted gone is gone either way.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Final

from memhub.domain.ontology import type_coerced_warning
from memhub.errors import NotFound
from memhub.mcp_bridge import arguments as a
from memhub.mcp_bridge import formatting
from memhub.mcp_bridge import v12_arguments as v12
from memhub.mcp_bridge.calls import ToolResult, expect, fail
from memhub.protocol import messages as m

if TYPE_CHECKING:
    from memhub.mcp_bridge.calls import Daemon, Delivery

PROTECTED_UPDATE_KEYS: Final = frozenset(
    {
        "content",
        "content_hash",
        "tags",
        "memory_type",
        "metadata",
        "embedding",
        "created_at",
        "created_at_iso",
        "updated_at",
        "updated_at_iso",
    }
)
"""Keys of ``updates`` that MMS never copies into the metadata JSON."""


async def store(daemon: Daemon, args: dict[str, Any]) -> ToolResult:
    content = args.get("content")
    if not content:  # the argument is missing; blank content is the daemon's to refuse
        return fail("Error: Content is required")
    if not isinstance(content, str):
        raise a.ArgumentError(f"content must be a string, got {type(content).__name__}")
    metadata = a.as_object(args.get("metadata"), "metadata")
    tags = a.store_tags(args)
    requested_type = a.as_str(metadata.get("type"), "metadata.type") or a.as_str(
        args.get("memory_type"), "memory_type"
    )
    for key in ("tags", "type"):  # they have their own columns; MMS strips them too
        metadata.pop(key, None)
    metadata = v12.with_author(args, metadata)
    hostname = a.as_str(args.get("client_hostname"), "client_hostname")
    if hostname:
        tags = a.merge_tags(tags, [f"source:{hostname}"])
        metadata["hostname"] = hostname
    request = m.Store(
        id=0,
        content=content,
        tags=tags,
        memory_type=requested_type,
        metadata=metadata,
        conversation_id=a.as_str(args.get("conversation_id"), "conversation_id"),
        store=v12.requested_store(args),
    )
    reply = expect((await daemon.call(request)).unwrap(), m.Stored)
    return ToolResult(
        formatting.stored(reply.content_hash)
        + _type_note(requested_type, reply.memory_type, reply.warning)
    )


def _type_note(requested: str | None, effective: str, warning: str | None) -> str:
    """The daemon's note about the type, or, when the daemon's reply was lost and the link
    recovered the success without it, MMS's coercion warning if the explicit type was replaced."""
    if warning is None and requested and requested.strip().lower() != effective.lower():
        return "\n" + type_coerced_warning(requested, effective)
    if not warning:
        return ""
    # The daemon words its own notes as MMS does ("Warning: ..."); don't double the prefix.
    return "\n" + (warning if warning.startswith("Warning") else f"Warning: {warning}")


async def store_session(daemon: Daemon, args: dict[str, Any]) -> ToolResult:
    raw_turns = args.get("turns")
    if isinstance(raw_turns, str):
        raw_turns = a.as_object({"turns": raw_turns}, "turns").get("turns")
    if not raw_turns:
        return fail("Error: turns is required and must be non-empty")
    if not isinstance(raw_turns, list):
        raise a.ArgumentError("turns must be an array of {role, content} objects")
    turns = []
    for turn in raw_turns:
        if not isinstance(turn, dict):
            raise a.ArgumentError("each turn must be an object with role and content")
        text = (a.as_str(turn.get("content"), "turn content") or "").strip()
        if text:
            turns.append(
                m.Turn(role=a.as_str(turn.get("role"), "turn role") or "unknown", content=text)
            )
    if not turns:
        return fail("Error: all turns have empty content")
    # Chosen here, not by the daemon, so that a retried request names the same session.
    session_id = a.as_str(args.get("session_id"), "session_id") or str(uuid.uuid4())
    request = m.StoreSession(
        id=0,
        turns=turns,
        session_id=session_id,
        tags=a.normalize_tags(args.get("tags")),
        metadata=v12.with_author(args, a.as_object(args.get("metadata"), "metadata")),
        store=v12.requested_store(args),
    )
    reply = expect((await daemon.call(request)).unwrap(), m.SessionStored)
    return ToolResult(formatting.session_stored(reply.session_id, reply.content_hashes, len(turns)))


async def delete(daemon: Daemon, args: dict[str, Any]) -> ToolResult:
    target = a.as_str(args.get("content_hash"), "content_hash")
    tags = a.normalize_tags(args.get("tags"))
    tag_match = a.as_tag_match(args.get("tag_match"))
    before = a.parse_date(args.get("before"), "before")
    after = a.parse_date(args.get("after"), "after")
    dry_run = a.as_bool(args.get("dry_run"), "dry_run", False)
    store = v12.requested_store(args)
    if target:
        delivery = await daemon.call(
            m.Delete(id=0, content_hash=target, dry_run=dry_run, store=store)
        )
        hashes = _deleted_hashes(delivery)
        if dry_run:
            if hashes:
                return ToolResult(formatting.would_delete_hash(target))
            return fail(f"Error: Memory not found: {target}")
        if hashes or delivery.ambiguous:
            # Ambiguous and gone: the lost first attempt deleted it (or someone else did);
            # either way the memory the caller wanted gone is gone.
            return ToolResult(formatting.deleted_by_hash(target))
        return fail(f"Error: Memory with hash {target} not found")
    if not tags and before is None and after is None:
        return fail("Error: At least one filter required (content_hash, tags, before, or after)")
    delivery = await daemon.call(
        m.Delete(
            id=0,
            tags=tags,
            tag_match=tag_match,
            after=after,
            before=before,
            dry_run=dry_run,
            store=store,
        )
    )
    hashes = _deleted_hashes(delivery)
    if dry_run:
        return ToolResult(formatting.would_delete(hashes))
    tags_only_any = bool(tags) and before is None and after is None and tag_match == "any"
    if tags_only_any and not hashes and not delivery.ambiguous:
        # MMS loses this message and prints "Error: Unknown error"; we print the message.
        return fail(f"Error: No memories found matching any of the {len(tags)} tags")
    return ToolResult(
        formatting.deleted_by_filter(hashes, tags_only_any=tags_only_any, tag_count=len(tags))
    )


def _deleted_hashes(delivery: Delivery) -> list[str]:
    if isinstance(delivery.error, NotFound):
        return []
    reply = expect(delivery.unwrap(), m.Deleted)
    return list(reply.content_hashes)


async def update(daemon: Daemon, args: dict[str, Any]) -> ToolResult:
    target = a.as_str(args.get("content_hash"), "content_hash")
    if not target:
        return fail("Error: content_hash is required")
    updates = args.get("updates")
    if not updates:
        return fail("Error: updates dictionary is required")
    if isinstance(updates, str):
        try:
            updates = a.as_object(updates, "updates")
        except a.ArgumentError:
            return fail("Error: updates must be a dictionary")
    if not isinstance(updates, dict):
        return fail("Error: updates must be a dictionary")
    if a.as_bool(args.get("versioned"), "versioned", False):
        from memhub.mcp_bridge.v12_tools import versioned  # 12.x's versioned content change

        return await versioned.update(daemon, target, updates, args)
    fields: list[str] = []
    tags = memory_type = None
    metadata: dict[str, Any] = {}
    if "tags" in updates:
        tags = a.normalize_tags(updates["tags"])
        fields.append("tags")
    if "memory_type" in updates:
        memory_type = a.as_str(updates["memory_type"], "memory_type")
        fields.append("memory_type")
    if "metadata" in updates:
        if not isinstance(updates["metadata"], dict):
            return fail(
                "Failed to update memory metadata: Metadata must be provided as a dictionary"
            )
        metadata.update(updates["metadata"])
        fields.append("custom_metadata")
    for key, value in updates.items():
        if key not in PROTECTED_UPDATE_KEYS:
            metadata[key] = value
            fields.append(key)
    request = m.Update(
        id=0,
        content_hash=target,
        tags=tags,
        memory_type=memory_type,
        metadata=metadata if ("metadata" in updates or metadata) else None,
        preserve_timestamps=a.as_bool(args.get("preserve_timestamps"), "preserve_timestamps", True),
        store=v12.update_store(args),
    )
    delivery = await daemon.call(request)
    if isinstance(delivery.error, NotFound):
        return fail(f"Failed to update memory metadata: {delivery.error.message}")
    expect(delivery.unwrap(), m.Updated)
    return ToolResult(formatting.updated([*fields, "updated_at"]))


async def cleanup(daemon: Daemon, args: dict[str, Any]) -> ToolResult:
    reply = expect((await daemon.call(m.CleanupDuplicates(id=0))).unwrap(), m.CleanedUp)
    return ToolResult(formatting.cleaned_up(reply.content_hashes))
