"""``mistake_note_add``, ``_search``, ``_update`` and ``_delete``: 12.4's mistake notes.

A note is an ordinary memory (type ``mistake``, tags ``mistake-note,error-replay``, four lines
of content, ``failure_count``/``confidence``/``frustration_score``/``is_avoid_rule`` in its
metadata) in the default store, so 12.4 reads memhub's notes and the reverse. Adding a note
seen before bumps it in one write in the daemon (:mod:`memhub.extras.mistakes`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Final

from memhub.errors import NotFound
from memhub.mcp_bridge import arguments as a
from memhub.mcp_bridge.calls import expect
from memhub.mcp_bridge.v12_tools.texts import answer, result_repr, status_error
from memhub.protocol import messages as m

if TYPE_CHECKING:
    from collections.abc import Mapping

    from memhub.mcp_bridge.calls import Daemon, ToolResult

EMPTY_REMEDIATION: Final = (
    "correct_action must not be empty — a mistake note requires a remediation, "
    "not just an error pattern"
)
FIELDS: Final = ("error_pattern", "context_signature", "incorrect_action", "correct_action")
PREFIXES: Final = (
    ("Pattern: ", "error_pattern"),
    ("Context: ", "context_signature"),
    ("Wrong: ", "incorrect_action"),
    ("Right: ", "correct_action"),
)
TAGS: Final = ["mistake-note", "error-replay"]


def _env_float(environ: Mapping[str, str], name: str, default: float) -> float:
    try:
        return float(environ.get(name, default))
    except ValueError:
        return default


def _text(args: dict[str, Any], key: str) -> str:
    value = args.get(key, "")
    return value if isinstance(value, str) else str(value)


async def add(
    daemon: Daemon,
    args: dict[str, Any],
    environ: Mapping[str, str] | None = None,
    *,
    with_agent: bool = True,
) -> ToolResult:
    env = os.environ if environ is None else environ
    pattern, context, wrong, right = (_text(args, k) for k in FIELDS)
    if not right.strip():
        return status_error(EMPTY_REMEDIATION)
    threshold = min(1.0, max(0.0, _env_float(env, "MCP_MISTAKE_NOTE_DEDUP_THRESHOLD", 0.85)))
    delivery = await daemon.call(
        m.MistakeNoteAdd(
            id=0,
            error_pattern=pattern,
            context_signature=context,
            incorrect_action=wrong,
            correct_action=right,
            dedup_threshold=threshold,
            error_weight=_env_float(env, "MCP_ERROR_WEIGHT", 3.0),
            learning_rate=_env_float(env, "MCP_LEARNING_RATE", 0.1),
            frustration_threshold=_env_float(env, "MCP_FRUSTRATION_THRESHOLD", 5.0),
            agent_id=(env.get("MCP_AGENT_ID") or None) if with_agent else None,
        )
    )
    if delivery.error is not None:
        return status_error(f"Failed to store: {result_repr(delivery.error.message)}")
    reply = expect(delivery.unwrap(), m.MistakeNoted)
    if reply.status == "updated":
        message = f"Existing mistake note updated (seen {reply.failure_count} times)"
    else:
        message = "New mistake note recorded"
    return answer(
        {
            "status": reply.status,
            "content_hash": reply.content_hash,
            "failure_count": reply.failure_count,
            "message": message,
        }
    )


async def search(daemon: Daemon, args: dict[str, Any]) -> ToolResult:
    query = _text(args, "query")
    limit = a.as_int(args.get("limit"), "limit", 5)
    if limit < 1 or not query.strip():
        return answer({"notes": [], "count": 0})
    result = expect(
        (
            await daemon.call(
                m.Search(id=0, query=query, limit=min(limit, 1000), memory_type="mistake")
            )
        ).unwrap(),
        m.SearchResult,
    )
    notes = [
        {
            "content_hash": hit.memory.content_hash,
            "content": hit.memory.content,
            "similarity": hit.score,
            "failure_count": hit.memory.metadata.get("failure_count", 1),
            "metadata": hit.memory.metadata,
            "updated_at": hit.memory.updated_at,
        }
        for hit in result.hits
    ]
    return answer({"notes": notes, "count": len(notes)})


async def _note(daemon: Daemon, content_hash: str) -> m.MemoryRecord | ToolResult:
    delivery = await daemon.call(m.Get(id=0, content_hash=content_hash))
    if isinstance(delivery.error, NotFound):
        return status_error(f"No memory found with hash {content_hash}")
    memory = expect(delivery.unwrap(), m.Found).memory
    if memory.memory_type != "mistake":
        return status_error(
            f"Memory {content_hash} is not a mistake note (type={memory.memory_type})"
        )
    return memory


def parse_note(content: str) -> dict[str, str]:
    """The four fields of a note's content (12.4 reads them by line prefix)."""
    fields = dict.fromkeys(FIELDS, "")
    for line in content.split("\n"):
        for prefix, key in PREFIXES:
            if line.startswith(prefix):
                fields[key] = line[len(prefix) :]
    return fields


async def update(daemon: Daemon, args: dict[str, Any]) -> ToolResult:
    target = _text(args, "content_hash")
    right = args.get("correct_action")
    if right is not None and not str(right).strip():
        return status_error(EMPTY_REMEDIATION)
    found = await _note(daemon, target)
    if not isinstance(found, m.MemoryRecord):
        return found
    failure_count = args.get("failure_count")
    changes = {k: args.get(k) for k in FIELDS if args.get(k) is not None}
    if changes:
        current = parse_note(found.content)
        fields = {k: (str(changes.get(k) or "") or current[k]) for k in FIELDS}
        content = "\n".join(f"{prefix}{fields[key]}" for prefix, key in PREFIXES)
        metadata = dict(found.metadata)
        if failure_count is not None:
            metadata["failure_count"] = failure_count
        stored = await daemon.call(
            m.Store(
                id=0, content=content, tags=list(TAGS), memory_type="mistake", metadata=metadata
            )
        )
        if stored.error is not None:
            return status_error(
                f"Failed to store updated note: {result_repr(stored.error.message)}"
            )
        new = expect(stored.unwrap(), m.Stored)
        await daemon.call(m.Delete(id=0, content_hash=target, store="all"))
        return answer({"status": "updated", "content_hash": new.content_hash})
    if failure_count is not None:
        done = await daemon.call(
            m.Update(
                id=0,
                content_hash=target,
                metadata={"failure_count": failure_count},
                preserve_timestamps=False,
            )
        )
        if done.error is not None:
            return status_error(f"Metadata update failed: {done.error.message}")
        return answer({"status": "updated", "content_hash": target})
    return status_error("No fields to update")


async def delete(daemon: Daemon, args: dict[str, Any]) -> ToolResult:
    target = _text(args, "content_hash")
    found = await _note(daemon, target) if target else status_error("No memory found with hash ")
    if not isinstance(found, m.MemoryRecord):
        return found
    done = await daemon.call(m.Delete(id=0, content_hash=target, store="all"))
    if done.error is not None and not (isinstance(done.error, NotFound) and done.ambiguous):
        return status_error(f"Delete failed: {done.error.message}")
    return answer({"status": "deleted", "content_hash": target})
