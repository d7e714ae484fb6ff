"""mcp-memory-service's five guided prompts, with its arguments and texts.

Both upstream generations (10.59 and 12.x) serve ``memory_review``, ``memory_analysis``,
``knowledge_export``, ``memory_cleanup`` and ``learning_session``. Each prompt reads (or, for
``learning_session``, writes) memories and renders one user message; the wording, the number
of memories read and the order are upstream's. Memory contents are rendered as plain text.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import TYPE_CHECKING, Final

import attrs

from memhub.errors import ServiceError
from memhub.mcp_bridge import formatting, resources
from memhub.protocol import messages as m

if TYPE_CHECKING:
    from collections.abc import Mapping

    from memhub.mcp_bridge.calls import Daemon


@attrs.frozen
class PromptArgument:
    name: str
    description: str
    required: bool


@attrs.frozen
class PromptSpec:
    name: str
    description: str
    arguments: tuple[PromptArgument, ...]


PROMPTS: Final[tuple[PromptSpec, ...]] = (
    PromptSpec(
        "memory_review",
        "Review and organize memories from a specific time period",
        (
            PromptArgument(
                "time_period",
                "Time period to review (e.g., 'last week', 'yesterday', '2 days ago')",
                True,
            ),
            PromptArgument(
                "focus_area",
                "Optional area to focus on (e.g., 'work', 'personal', 'learning')",
                False,
            ),
        ),
    ),
    PromptSpec(
        "memory_analysis",
        "Analyze patterns and themes in stored memories",
        (
            PromptArgument("tags", "Tags to analyze (comma-separated)", False),
            PromptArgument(
                "time_range", "Time range to analyze (e.g., 'last month', 'all time')", False
            ),
        ),
    ),
    PromptSpec(
        "knowledge_export",
        "Export memories in a specific format",
        (
            PromptArgument("format", "Export format (json, markdown, text)", True),
            PromptArgument("filter", "Filter criteria (tags or search query)", False),
        ),
    ),
    PromptSpec(
        "memory_cleanup",
        "Identify and remove duplicate or outdated memories",
        (
            PromptArgument(
                "older_than", "Remove memories older than (e.g., '6 months', '1 year')", False
            ),
            PromptArgument(
                "similarity_threshold", "Similarity threshold for duplicates (0.0-1.0)", False
            ),
        ),
    ),
    PromptSpec(
        "learning_session",
        "Store structured learning notes from a study session",
        (
            PromptArgument("topic", "Learning topic or subject", True),
            PromptArgument("key_points", "Key points learned (comma-separated)", True),
            PromptArgument("questions", "Questions or areas for further study", False),
        ),
    ),
)

REVIEW_LIMIT: Final = 20
ANALYSIS_LIMIT: Final = 100
EXPORT_LIMIT: Final = 100
CLEANUP_SCAN: Final = 1000
TOP_TAGS: Final = 10
_PLACEHOLDER: Final = re.compile(r"^\$\d+$")
"""An unresolved CLI positional placeholder (``$1``): upstream previews instead of storing."""


def description(name: str) -> str:
    """The ``GetPromptResult`` description upstream sends for every prompt."""
    return f"Result of {name} prompt"


async def render(daemon: Daemon, name: str, arguments: Mapping[str, str] | None) -> str:
    """The text of the single user message prompt ``name`` produces."""
    args = dict(arguments or {})
    if name == "memory_review":
        return await _review(daemon, args)
    if name == "memory_analysis":
        return await _analysis(daemon, args)
    if name == "knowledge_export":
        return await _export(daemon, args)
    if name == "memory_cleanup":
        return await _cleanup(daemon, args)
    if name == "learning_session":
        return await _learning_session(daemon, args)
    return f"Unknown prompt: {name}"


async def _search(daemon: Daemon, query: str, limit: int) -> list[m.MemoryRecord]:
    reply = (await daemon.call(m.Search(id=0, query=query, limit=limit))).unwrap()
    if not isinstance(reply, m.SearchResult):
        raise ServiceError(f"unexpected reply {type(reply).__name__} from the daemon")
    return [hit.memory for hit in reply.hits]


async def _by_tags(daemon: Daemon, tags: list[str]) -> list[m.MemoryRecord]:
    """Upstream's ``search_by_tag``: any of the (stripped) tags, newest first."""
    wanted = [t.strip() for t in tags if t.strip()]
    if not wanted:
        return []
    memories, _ = await resources.scan(daemon, tags=wanted)
    return memories


async def _recent(daemon: Daemon, n: int) -> list[m.MemoryRecord]:
    memories, _ = await resources.scan(daemon, limit=n)
    return memories


async def _review(daemon: Daemon, args: dict[str, str]) -> str:
    time_period = args.get("time_period", "last week")
    focus_area = args.get("focus_area", "")
    # Upstream's recall_memory on sqlite-vec is a plain semantic search of the phrase.
    memories = await _search(daemon, time_period, REVIEW_LIMIT)
    text = f"Review of memories from {time_period}"
    if focus_area:
        text += f" (focusing on {focus_area})"
    text += ":\n\n"
    if not memories:
        return text + "No memories found for this time period."
    for memory in memories:
        text += f"- {memory.content}\n"
        if memory.tags:
            text += f"  Tags: {', '.join(memory.tags)}\n"
    return text


async def _analysis(daemon: Daemon, args: dict[str, str]) -> str:
    tags = args["tags"].split(",") if args.get("tags") else []
    time_range = args.get("time_range", "all time")
    text = "Memory Analysis"
    if tags:
        text += f" for tags: {', '.join(tags)}"
    if time_range != "all time":
        text += f" from {time_range}"
    text += "\n\n"
    memories = await _by_tags(daemon, tags) if tags else await _recent(daemon, ANALYSIS_LIMIT)
    tag_counts: dict[str, int] = {}
    type_counts: dict[str, int] = {}
    for memory in memories:
        for tag in memory.tags:
            tag_counts[tag] = tag_counts.get(tag, 0) + 1
        type_counts[memory.memory_type] = type_counts.get(memory.memory_type, 0) + 1
    text += f"Total memories analyzed: {len(memories)}\n\n"
    text += "Top tags:\n"
    for tag, count in sorted(tag_counts.items(), key=lambda item: item[1], reverse=True)[:TOP_TAGS]:
        text += f"  - {tag}: {count} occurrences\n"
    text += "\nMemory types:\n"
    for memory_type, count in type_counts.items():
        text += f"  - {memory_type}: {count} memories\n"
    return text


async def _export(daemon: Daemon, args: dict[str, str]) -> str:
    format_type = args.get("format", "json")
    criteria = args.get("filter", "")
    if criteria and "," in criteria:
        memories = await _by_tags(daemon, criteria.split(","))
    elif criteria:
        memories = await _search(daemon, criteria, EXPORT_LIMIT)
    else:
        memories = await _recent(daemon, EXPORT_LIMIT)
    text = f"Exported {len(memories)} memories in {format_type} format:\n\n"
    if format_type == "markdown":
        for memory in memories:
            text += f"## {memory.created_at_iso}\n{memory.content}\n"
            if memory.tags:
                text += f"*Tags: {', '.join(memory.tags)}*\n"
            text += "\n"
    elif format_type == "text":
        for memory in memories:
            text += f"[{memory.created_at_iso}] {memory.content}\n"
    else:
        exported = [formatting.legacy_memory_dict(memory) for memory in memories]
        text += json.dumps(exported, indent=2, default=str)
    return text


async def _cleanup(daemon: Daemon, args: dict[str, str]) -> str:
    older_than = args.get("older_than", "")
    memories = await _recent(daemon, CLEANUP_SCAN)
    # Upstream's heuristic: near-equal length and the same first 50 characters.
    pairs = 0
    for i, first in enumerate(memories):
        for second in memories[i + 1 :]:
            close = abs(len(first.content) - len(second.content)) < 10
            if close and first.content[:50] == second.content[:50]:
                pairs += 1
    text = "Memory Cleanup Report:\n\n"
    text += f"Found {pairs} potential duplicate pairs\n"
    if older_than:
        text += f"\nMemories older than {older_than} can be archived\n"
    return text


async def _learning_session(daemon: Daemon, args: dict[str, str]) -> str:
    topic = args.get("topic", "General")
    key_points_raw = args.get("key_points", "")
    questions_raw = args.get("questions", "")
    unresolved = [
        name
        for name, value in (
            ("topic", topic),
            ("key_points", key_points_raw),
            ("questions", questions_raw),
        )
        if isinstance(value, str) and _PLACEHOLDER.match(value.strip())
    ]
    key_points = [p.strip() for p in key_points_raw.split(",") if p.strip()]
    questions = [q.strip() for q in questions_raw.split(",") if q.strip()]
    note = f"# Learning Session: {topic}\n\n"
    note += f"Date: {datetime.now().isoformat()}\n\n"
    note += "## Key Points:\n"
    for point in key_points:
        note += f"- {point}\n"
    if questions:
        note += "\n## Questions for Further Study:\n"
        for question in questions:
            note += f"- {question}\n"
    if unresolved:
        # A slash-command preview with "$1" placeholders must not be stored.
        return (
            "Preview only — not persisted. Unresolved CLI placeholder "
            f"argument(s): {', '.join(unresolved)}. Provide real values "
            "for those fields to save this learning session.\n\n"
            f"{note}"
        )
    request = m.Store(
        id=0,
        content=note,
        tags=["learning", topic.lower().replace(" ", "_")],
        memory_type="learning",
        metadata={},
    )
    delivery = await daemon.call(request)
    if delivery.error is not None:
        return f"Failed to store learning session: {delivery.error.message}"
    return f"Learning session stored successfully!\n\n{note}"
