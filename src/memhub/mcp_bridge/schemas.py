"""The tools the bridge advertises, exactly as mcp-memory-service v10.59 lists them.

Names, descriptions, input schemas and annotations are MMS's ``handle_list_tools`` output for
its nine core tools, in its order, byte for byte: clients (and users' prompts) were written
against that text, and a drop-in must not make Claude see a different tool. The descriptions
keep MMS's odd indentation for the same reason. With ``MEMHUB_TOOL_SCHEMAS=v12`` the list is
12.4's 28 tools instead (:mod:`memhub.mcp_bridge.v12_tools.catalog`).

This module is pure data; :func:`mcp_tools` converts it to SDK objects on demand so that
importing the bridge stays cheap.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Final

import attrs

if TYPE_CHECKING:
    from collections.abc import Mapping

    import mcp_types


@attrs.frozen(kw_only=True)
class ToolSpec:
    """One advertised tool: what ``tools/list`` shows for it."""

    name: str
    title: str
    description: str
    input_schema: dict[str, Any]
    read_only: bool = False
    destructive: bool | None = None

    def annotations(self) -> dict[str, Any]:
        """The MCP ``annotations`` object as MMS sends it (only the hints it sets)."""
        out: dict[str, Any] = {"title": self.title}
        if self.read_only:
            out["readOnlyHint"] = True
        if self.destructive is not None:
            out["destructiveHint"] = self.destructive
        return out


def _tool(
    name: str,
    *,
    title: str,
    description: str,
    input_schema: dict[str, Any],
    read_only: bool = False,
    destructive: bool | None = None,
) -> ToolSpec:
    return ToolSpec(
        name=name,
        title=title,
        description=description,
        input_schema=input_schema,
        read_only=read_only,
        destructive=destructive,
    )


def _tags_one_of(description: str, *, examples: list[Any] | None = None) -> dict[str, Any]:
    """MMS's "array of strings or comma-separated string" tag schema."""
    schema: dict[str, Any] = {
        "oneOf": [
            {
                "type": "array",
                "items": {"type": "string"},
                "description": "Tags as an array of strings",
            },
            {"type": "string", "description": "Tags as comma-separated string"},
        ],
        "description": description,
    }
    if examples is not None:
        schema["examples"] = examples
    return schema


TOOLS: Final[tuple[ToolSpec, ...]] = (
    _tool(
        "memory_store",
        title="Store Memory",
        destructive=False,
        description=(
            "Store new information with optional tags.\n"
            "\n"
            "                        Accepts two tag formats in metadata:\n"
            '                        - Array: ["tag1", "tag2"]\n'
            '                        - String: "tag1,tag2"\n'
            "\n"
            "                        Use `conversation_id` to bypass semantic deduplication "
            "when saving\n"
            "                        incremental memories from the same conversation.\n"
            "\n"
            "                       Examples:\n"
            "                        # Using array format:\n"
            "                        {\n"
            '                            "content": "Memory content",\n'
            '                            "metadata": {\n'
            '                                "tags": ["important", "reference"],\n'
            '                                "type": "note"\n'
            "                            }\n"
            "                        }\n"
            "\n"
            "                        # Using string format(preferred):\n"
            "                        {\n"
            '                            "content": "Memory content",\n'
            '                            "metadata": {\n'
            '                                "tags": "important,reference",\n'
            '                                "type": "note"\n'
            "                            }\n"
            "                        }\n"
            "\n"
            "                        # Using conversation_id to save incremental notes:\n"
            "                        {\n"
            '                            "content": "User prefers dark mode",\n'
            '                            "conversation_id": "conv_abc123",\n'
            '                            "metadata": {\n'
            '                                "tags": "preference,ui"\n'
            "                            }\n"
            "                        }"
        ),
        input_schema={
            "type": "object",
            "properties": {
                "content": {
                    "type": "string",
                    "description": (
                        "The memory content to store, such as a fact, note, or piece of "
                        "information."
                    ),
                },
                "conversation_id": {
                    "type": "string",
                    "description": (
                        "Optional conversation identifier. When provided, semantic "
                        "deduplication is skipped, allowing multiple incremental memories "
                        "from the same conversation to be stored even if their content is "
                        "topically similar. Exact duplicate hashes are still rejected."
                    ),
                },
                "metadata": {
                    "type": "object",
                    "description": ("Optional metadata about the memory, including tags and type."),
                    "properties": {
                        "tags": _tags_one_of(
                            (
                                "Tags to categorize the memory. Accepts either an array of "
                                "strings or a comma-separated string."
                            ),
                            examples=[
                                "tag1,tag2,tag3",
                                ["tag1", "tag2", "tag3"],
                            ],
                        ),
                        "type": {
                            "type": "string",
                            "description": (
                                "Optional memory type. Validated against the built-in "
                                "ontology. Common base types: observation, decision, "
                                "learning, error, pattern, planning, ceremony, milestone, "
                                "stakeholder, meeting, research, communication. Common "
                                "subtypes: note, reference, code_edit, command, document, "
                                "insight, gotcha, bug, action_item, finding. Unknown types "
                                "are silently coerced to 'observation' and the response "
                                "includes a warning. Register additional types via the "
                                'MCP_CUSTOM_MEMORY_TYPES env var, e.g. \'{"foo": ["sub_a", '
                                '"sub_b"]}\'. See docs/memory-ontology.md for the full '
                                "taxonomy."
                            ),
                        },
                    },
                },
            },
            "required": ["content"],
        },
    ),
    _tool(
        "memory_store_session",
        title="Store Session",
        destructive=False,
        description=(
            "Store a full conversation session as a single memory unit.\n"
            "\n"
            "Use this instead of memory_store when you want to preserve the full context\n"
            "of a multi-turn conversation. All turns are stored together, making "
            "session-level\n"
            "retrieval more reliable than storing individual turns separately.\n"
            "\n"
            "Example:\n"
            "{\n"
            '    "turns": [\n'
            '        {"role": "user", "content": "How do I configure Redis?"},\n'
            '        {"role": "assistant", "content": "Set REDIS_URL in your .env file..."}\n'
            "    ],\n"
            '    "session_id": "optional-stable-id",\n'
            '    "tags": "redis,configuration"\n'
            "}"
        ),
        input_schema={
            "type": "object",
            "properties": {
                "turns": {
                    "type": "array",
                    "description": "Ordered list of conversation turns.",
                    "items": {
                        "type": "object",
                        "properties": {
                            "role": {
                                "type": "string",
                                "description": ("Speaker role, e.g. 'user' or 'assistant'"),
                            },
                            "content": {"type": "string", "description": "Turn content"},
                        },
                        "required": ["role", "content"],
                    },
                    "minItems": 1,
                },
                "session_id": {
                    "type": "string",
                    "description": (
                        "Optional stable identifier for this session. Auto-generated UUID if "
                        "omitted."
                    ),
                },
                "tags": {
                    "oneOf": [
                        {"type": "array", "items": {"type": "string"}},
                        {"type": "string"},
                    ],
                    "description": (
                        "Additional tags (comma-separated string or array). 'session:<id>' "
                        "is always added automatically."
                    ),
                },
                "metadata": {"type": "object", "description": "Optional extra metadata."},
            },
            "required": ["turns"],
        },
    ),
    _tool(
        "memory_search",
        title="Search Memories (Unified)",
        read_only=True,
        description=(
            "Search memories with flexible modes and filters. Primary tool for finding "
            "stored information.\n"
            "\n"
            "USE THIS WHEN:\n"
            '- User asks "what do you remember about X", "recall", "find memories"\n'
            "- Looking for past decisions, preferences, context from previous sessions\n"
            "- Need semantic, exact, or time-based search\n"
            '- User references "last time we discussed", "you should know"\n'
            "\n"
            "MODES:\n"
            "- semantic (default): Finds conceptually similar content even if exact words "
            "differ\n"
            "- exact: Finds memories containing the exact query string\n"
            "- hybrid: Combines semantic similarity with quality scoring\n"
            "\n"
            "TIME FILTERS (can combine with other filters):\n"
            '- time_expr: Natural language like "yesterday", "last week", "2 days ago", '
            '"last month"\n'
            "- after/before: Explicit ISO dates (YYYY-MM-DD)\n"
            "\n"
            "QUALITY BOOST (for semantic/hybrid modes):\n"
            "- 0.0 = pure semantic ranking (default)\n"
            "- 0.3 = 30% quality weight, 70% semantic (recommended for important lookups)\n"
            "- 1.0 = pure quality ranking\n"
            "\n"
            "TAG FILTER:\n"
            "- Filter results to only memories with specific tags\n"
            "- Useful for categorical searches (\"find all 'reference' memories about "
            'databases")\n'
            "\n"
            "DEBUG:\n"
            "- include_debug=true adds timing, embedding info, filter details\n"
            "\n"
            "Examples:\n"
            '{"query": "python async patterns"}\n'
            '{"query": "API endpoint", "mode": "exact"}\n'
            '{"time_expr": "last week", "limit": 20}\n'
            '{"query": "database config", "time_expr": "yesterday"}\n'
            '{"query": "architecture decisions", "tags": ["important"], "quality_boost": '
            "0.3}\n"
            '{"after": "2024-01-01", "before": "2024-06-30", "limit": 50}\n'
            '{"query": "error handling", "include_debug": true}'
        ),
        input_schema={
            "type": "object",
            "properties": {
                "query": {
                    "type": "string",
                    "description": (
                        "Search query (required for semantic/exact modes, optional for "
                        "time-only searches)"
                    ),
                },
                "mode": {
                    "type": "string",
                    "enum": ["semantic", "exact", "hybrid"],
                    "default": "semantic",
                    "description": "Search mode",
                },
                "time_expr": {
                    "type": "string",
                    "description": (
                        "Natural language time filter (e.g., 'last week', 'yesterday', '3 "
                        "days ago')"
                    ),
                },
                "after": {
                    "type": "string",
                    "description": (
                        "Return memories created after this date (ISO format: YYYY-MM-DD)"
                    ),
                },
                "before": {
                    "type": "string",
                    "description": (
                        "Return memories created before this date (ISO format: YYYY-MM-DD)"
                    ),
                },
                "tags": _tags_one_of("Filter to memories with any of these tags"),
                "tag_match": {
                    "type": "string",
                    "enum": ["any", "all"],
                    "default": "any",
                    "description": "Match ANY tag (OR, default) or ALL tags (AND)",
                },
                "quality_boost": {
                    "type": "number",
                    "minimum": 0,
                    "maximum": 1,
                    "default": 0,
                    "description": "Quality weight for reranking (0.0-1.0)",
                },
                "limit": {
                    "type": "integer",
                    "default": 10,
                    "minimum": 1,
                    "maximum": 100,
                    "description": "Maximum results to return",
                },
                "include_debug": {
                    "type": "boolean",
                    "default": False,
                    "description": "Include debug information in response",
                },
                "max_response_chars": {
                    "type": "number",
                    "description": (
                        "Maximum response size in characters. Truncates at memory boundaries "
                        "to prevent context overflow. Recommended: 30000-50000. Default: "
                        "unlimited."
                    ),
                },
                "include_superseded": {
                    "type": "boolean",
                    "default": False,
                    "description": (
                        "Include memories that have been superseded by newer contradicting "
                        "memories. Default: false (superseded memories are hidden)."
                    ),
                },
                "entity": {
                    "type": "string",
                    "description": (
                        "Filter by linked entity name. Returns only memories that have been "
                        "linked to this entity via entity extraction. Use after running "
                        "maintain to populate entity links."
                    ),
                },
                "fallback": {
                    "type": "boolean",
                    "default": False,
                    "description": (
                        "Enable cascading fallback when semantic results are sparse. When "
                        "true and fewer than 3 results are found with scores below 0.4, "
                        "automatically attempts BM25 keyword match and tag intersection. "
                        "Each result includes match_method field. Default: false."
                    ),
                },
            },
        },
    ),
    _tool(
        "memory_list",
        title="List Memories",
        read_only=True,
        description=(
            "List and browse memories with pagination and optional filters.\n"
            "\n"
            "USE THIS WHEN:\n"
            '- User wants to browse all memories ("show me my memories", "list everything")\n'
            "- Need to paginate through large result sets\n"
            "- Filter by tag OR memory type for categorical browsing\n"
            '- User asks "what do I have stored", "browse my memories"\n'
            "\n"
            "Unlike memory_search (semantic search), this does categorical "
            "listing/filtering.\n"
            "\n"
            "PAGINATION:\n"
            "- page: 1-based page number (default: 1)\n"
            "- page_size: Results per page (default: 20, max: 100)\n"
            "\n"
            "FILTERS (combine with AND logic):\n"
            "- tags: Filter to memories with matching tags\n"
            '- tag_match: "any" (OR, default) or "all" (AND) — controls how multiple tags '
            "are matched\n"
            "- memory_type: Filter by type (note, reference, decision, etc.)\n"
            "- stale_days: Filter to memories not accessed in the last N days\n"
            "\n"
            "Examples:\n"
            "{}  // List first 20 memories\n"
            '{"page": 2, "page_size": 50}\n'
            '{"tags": ["python", "reference"]}\n'
            '{"tags": ["python", "reference"], "tag_match": "all"}\n'
            '{"memory_type": "decision", "page_size": 10}\n'
            '{"tags": ["important"], "memory_type": "note"}\n'
            '{"stale_days": 30}  // Memories not accessed in 30 days\n'
            '{"stale_days": 7, "tags": ["archived"]}  // Stale archived memories\n'
        ),
        input_schema={
            "type": "object",
            "properties": {
                "page": {
                    "type": "integer",
                    "default": 1,
                    "minimum": 1,
                    "description": "Page number (1-based)",
                },
                "page_size": {
                    "type": "integer",
                    "default": 20,
                    "minimum": 1,
                    "maximum": 100,
                    "description": "Results per page",
                },
                "tags": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": (
                        "Filter by tags (returns memories with ANY of these tags by default, "
                        "use tag_match to control)"
                    ),
                },
                "tag_match": {
                    "type": "string",
                    "default": "any",
                    "enum": ["any", "all"],
                    "description": "Match ANY tag (OR, default) or ALL tags (AND)",
                },
                "memory_type": {"type": "string", "description": "Filter by memory type"},
                "stale_days": {
                    "type": "integer",
                    "minimum": 1,
                    "description": (
                        "Filter to memories not accessed in the last N days. Uses "
                        "COALESCE(last_accessed, created_at) for memories never read. "
                        "Currently supported on sqlite-vec backend only."
                    ),
                },
            },
        },
    ),
    _tool(
        "memory_delete",
        title="Delete Memories (Unified)",
        destructive=True,
        description=(
            "Delete memories with flexible filtering. Combine filters for precise targeting.\n"
            "\n"
            "USE THIS WHEN:\n"
            '- User says "delete", "remove", "forget" specific memories\n'
            "- Need to clean up by tag, time range, or specific hash\n"
            "- Bulk deletion with safety preview (dry_run=true)\n"
            "\n"
            "FILTER COMBINATIONS (AND logic when multiple specified):\n"
            "- content_hash only: Delete single memory by hash\n"
            "- tags only: Delete memories with matching tags\n"
            "- before/after: Delete memories in time range\n"
            "- tags + time: Delete tagged memories within time range\n"
            "\n"
            "SAFETY FEATURES:\n"
            "- dry_run=true: Preview what will be deleted without deleting\n"
            "- Returns deleted_hashes for audit trail\n"
            "- No filters = error (prevents accidental mass deletion)\n"
            "\n"
            "Examples:\n"
            '{"content_hash": "abc123def456"}\n'
            '{"tags": ["temporary", "draft"], "tag_match": "any"}\n'
            '{"tags": ["archived", "old"], "tag_match": "all"}\n'
            '{"before": "2024-01-01"}\n'
            '{"after": "2024-06-01", "before": "2024-12-31"}\n'
            '{"tags": ["cleanup"], "before": "2024-01-01", "dry_run": true}'
        ),
        input_schema={
            "type": "object",
            "properties": {
                "content_hash": {
                    "type": "string",
                    "description": (
                        "Specific memory hash to delete (ignores other filters if provided)"
                    ),
                },
                "tags": _tags_one_of("Filter by these tags"),
                "tag_match": {
                    "type": "string",
                    "enum": ["any", "all"],
                    "default": "any",
                    "description": "Match ANY tag or ALL tags",
                },
                "before": {
                    "type": "string",
                    "description": (
                        "Delete memories created before this date (ISO format: YYYY-MM-DD)"
                    ),
                },
                "after": {
                    "type": "string",
                    "description": (
                        "Delete memories created after this date (ISO format: YYYY-MM-DD)"
                    ),
                },
                "dry_run": {
                    "type": "boolean",
                    "default": False,
                    "description": "Preview deletions without executing",
                },
            },
        },
    ),
    _tool(
        "memory_cleanup",
        title="Cleanup Duplicates",
        destructive=True,
        description="Find and remove duplicate entries",
        input_schema={
            "type": "object",
            "properties": {},
        },
    ),
    _tool(
        "memory_health",
        title="Check Database Health",
        read_only=True,
        description="Check database health and get statistics",
        input_schema={
            "type": "object",
            "properties": {},
        },
    ),
    _tool(
        "memory_stats",
        title="Get Cache Stats",
        read_only=True,
        description=(
            "Get MCP server global cache statistics for performance monitoring.\n"
            "\n"
            "                        Returns detailed metrics about storage and memory "
            "service caching,\n"
            "                        including hit rates, initialization times, and cache "
            "sizes.\n"
            "\n"
            "                        This tool is useful for:\n"
            "                        - Monitoring cache effectiveness\n"
            "                        - Debugging performance issues\n"
            "                        - Verifying cache persistence across MCP tool calls\n"
            "\n"
            "                        Returns cache statistics including total calls, hit "
            "rate percentage,\n"
            "                        storage/service cache metrics, performance metrics, and "
            "backend info."
        ),
        input_schema={
            "type": "object",
            "properties": {},
        },
    ),
    _tool(
        "memory_update",
        title="Update Memory Metadata",
        destructive=True,
        description=(
            "Update memory metadata without recreating the entire memory entry.\n"
            "                        \n"
            "                        This provides efficient metadata updates while "
            "preserving the original\n"
            "                        memory content, embeddings, and optionally timestamps.\n"
            "                        \n"
            "                        Examples:\n"
            "                        # Add tags to a memory\n"
            "                        {\n"
            '                            "content_hash": "abc123...",\n'
            '                            "updates": {\n'
            '                                "tags": ["important", "reference", "new-tag"]\n'
            "                            }\n"
            "                        }\n"
            "                        \n"
            "                        # Update memory type and custom metadata\n"
            "                        {\n"
            '                            "content_hash": "abc123...",\n'
            '                            "updates": {\n'
            '                                "memory_type": "reminder",\n'
            '                                "metadata": {\n'
            '                                    "priority": "high",\n'
            '                                    "due_date": "2024-01-15"\n'
            "                                }\n"
            "                            }\n"
            "                        }\n"
            "                        \n"
            "                        # Update custom fields directly\n"
            "                        {\n"
            '                            "content_hash": "abc123...",\n'
            '                            "updates": {\n'
            '                                "priority": "urgent",\n'
            '                                "status": "active"\n'
            "                            }\n"
            "                        }"
        ),
        input_schema={
            "type": "object",
            "properties": {
                "content_hash": {
                    "type": "string",
                    "description": "The content hash of the memory to update.",
                },
                "updates": {
                    "type": "object",
                    "description": "Dictionary of metadata fields to update.",
                    "properties": {
                        "tags": _tags_one_of(
                            "Replace existing tags with this list. Accepts either an array "
                            "of strings or a comma-separated string."
                        ),
                        "memory_type": {
                            "type": "string",
                            "description": (
                                "Update the memory type (e.g., 'note', 'reminder', 'fact')."
                            ),
                        },
                        "metadata": {
                            "type": "object",
                            "description": (
                                "Custom metadata fields to merge with existing metadata."
                            ),
                        },
                    },
                },
                "preserve_timestamps": {
                    "type": "boolean",
                    "default": True,
                    "description": (
                        "Whether to preserve the original created_at timestamp (default: true)."
                    ),
                },
                "versioned": {
                    "type": "boolean",
                    "default": False,
                    "description": (
                        "When true, creates a new version instead of overwriting. The old "
                        "memory is marked as superseded. Requires content in updates to "
                        "create the new version. Creates a new memory version and marks the "
                        "old one as superseded. Supported backends: sqlite_vec. Unsupported "
                        "backends return an error."
                    ),
                },
            },
            "required": ["content_hash", "updates"],
        },
    ),
)
TOOL_NAMES: Final[frozenset[str]] = frozenset(t.name for t in TOOLS)
TOOLS_BY_NAME: Final[dict[str, ToolSpec]] = {t.name: t for t in TOOLS}


SCHEMA_GENERATION_ENV: Final = "MEMHUB_TOOL_SCHEMAS"
"""``v10`` (default): 10.59's nine tools byte for byte. ``v12``: 12.4's list of 28 tools exactly
(names, order, descriptions, input schemas, annotations), for clients whose model should see
12.x's tools and arguments."""


def advertises_v12(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return env.get(SCHEMA_GENERATION_ENV, "v10").strip().lower() == "v12"


def input_schema(name: str, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The input schema advertised (and validated) for tool ``name``."""
    if not advertises_v12(environ):
        return TOOLS_BY_NAME[name].input_schema
    from memhub.mcp_bridge.v12_tools import catalog

    return catalog.input_schema(name)


def mcp_tools(*, remote: bool = False) -> list[mcp_types.Tool]:
    """The advertised tools as SDK objects: 10.59's nine, or (``v12``) 12.4's 28, in order
    (``remote``: without 12.4's local-only tools)."""
    import mcp_types

    if advertises_v12():
        from memhub.mcp_bridge.v12_tools import catalog

        return catalog.mcp_tools(remote=remote)
    return [
        mcp_types.Tool(
            name=t.name,
            description=t.description,
            input_schema=t.input_schema,
            annotations=mcp_types.ToolAnnotations(**_snake(t.annotations())),
        )
        for t in TOOLS
    ]


def _snake(annotations: dict[str, Any]) -> dict[str, Any]:
    names = {
        "title": "title",
        "readOnlyHint": "read_only_hint",
        "destructiveHint": "destructive_hint",
    }
    return {names[k]: v for k, v in annotations.items()}
