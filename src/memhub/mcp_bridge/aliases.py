"""The deprecated v9 tool names MMS v10 still accepts, and the tools memhub does not serve.

MMS v10 keeps 34 old names working without advertising them (``compat.py``): each call is
rewritten to a new tool with re-shaped arguments, and ``None`` values are dropped. memhub
accepts the same 34 names with the same mapping, with three differences, all lenient:

* ``delete_by_tag`` is fixed. Its v9 schema asked for ``tags``, but MMS's mapping reads the
  key ``tag``, so every schema-following call failed with ``Error: 'tag'``. Either key works.
* ``ingest_document``/``ingest_directory`` are fixed. MMS maps them to ``path``/``mode``, but
  its ``memory_ingest`` handler reads ``file_path``/``directory_path``, so both always failed.
  memhub maps them to the keys the handler reads (and accepts ``path`` as input).
* A missing required argument is a sentence naming the argument, not MMS's bare ``'key'``.

``get_raw_embedding``, ``memory_rate`` and ``memory_observe``, which MMS routes directly without
advertising them, meet :data:`UNSUPPORTED`. The consolidation aliases resolve to
``memory_consolidate``, which answers its unserved ``run`` with 12.4's error shape.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from memhub.mcp_bridge.arguments import ArgumentError

Transform = Callable[[Mapping[str, Any]], dict[str, Any]]


def _need(args: Mapping[str, Any], old: str, *keys: str) -> Any:
    """The first present value among ``keys``; the alias's required argument."""
    for key in keys:
        value = args.get(key)
        if value is not None and value != "" and value != []:
            return value
    raise ArgumentError(f"{old} requires the argument '{keys[0]}'")


def _tag_list(args: Mapping[str, Any]) -> Any:
    """``tag`` (one) or ``tags`` (any shape) of the old delete tools, None if neither."""
    if args.get("tags"):
        return args["tags"]
    if args.get("tag"):
        return [args["tag"]]
    return None


def _tag_delete(old: str, match: str) -> Transform:
    def transform(a: Mapping[str, Any]) -> dict[str, Any]:
        return {"tags": _tag_list(a) or _need(a, old, "tags", "tag"), "tag_match": match}

    return transform


def _build() -> dict[str, tuple[str, Transform]]:
    table: dict[str, tuple[str, Transform]] = {}

    def alias(old: str, new: str, transform: Transform) -> None:
        table[old] = (new, transform)

    # Deletes -> memory_delete
    alias(
        "delete_memory",
        "memory_delete",
        lambda a: {
            "content_hash": _need(a, "delete_memory", "content_hash"),
        },
    )
    for old, match in (
        ("delete_by_tag", "any"),
        ("delete_by_tags", "any"),
        ("delete_by_all_tags", "all"),
    ):
        alias(old, "memory_delete", _tag_delete(old, match))
    alias(
        "delete_by_timeframe",
        "memory_delete",
        lambda a: {
            "after": _need(a, "delete_by_timeframe", "start_date"),
            "before": a.get("end_date"),
            "tags": _tag_list(a),
        },
    )
    alias(
        "delete_before_date",
        "memory_delete",
        lambda a: {
            "before": _need(a, "delete_before_date", "before_date"),
            "tags": _tag_list(a),
        },
    )

    # Searches -> memory_search
    alias(
        "retrieve_memory",
        "memory_search",
        lambda a: {
            "query": _need(a, "retrieve_memory", "query"),
            "limit": a.get("n_results", 5),
            "mode": "semantic",
            "max_response_chars": a.get("max_response_chars"),
        },
    )
    # MMS embeds the whole query and also parses it as a time expression.
    alias(
        "recall_memory",
        "memory_search",
        lambda a: {
            "query": a.get("query"),
            "time_expr": a.get("query"),
            "limit": a.get("n_results", 5),
            "mode": "semantic",
            "max_response_chars": a.get("max_response_chars"),
        },
    )
    alias(
        "recall_by_timeframe",
        "memory_search",
        lambda a: {
            "after": _need(a, "recall_by_timeframe", "start_date"),
            "before": a.get("end_date"),
            "limit": a.get("n_results", 5),
            "max_response_chars": a.get("max_response_chars"),
        },
    )
    alias(
        "retrieve_with_quality_boost",
        "memory_search",
        lambda a: {
            "query": _need(a, "retrieve_with_quality_boost", "query"),
            "quality_boost": a.get("quality_weight", 0.3),
            "limit": a.get("n_results", 10),
            "mode": "hybrid",
            "max_response_chars": a.get("max_response_chars"),
        },
    )
    alias(
        "exact_match_retrieve",
        "memory_search",
        lambda a: {
            "query": _need(a, "exact_match_retrieve", "content", "query"),
            "mode": "exact",
        },
    )
    alias(
        "debug_retrieve",
        "memory_search",
        lambda a: {
            "query": _need(a, "debug_retrieve", "query"),
            "limit": a.get("n_results", 5),
            "include_debug": True,
            "max_response_chars": a.get("max_response_chars"),
        },
    )

    # Consolidation -> memory_consolidate
    alias(
        "consolidate_memories",
        "memory_consolidate",
        lambda a: {
            "action": "run",
            "time_horizon": a.get("time_horizon"),
        },
    )
    alias("consolidation_status", "memory_consolidate", lambda a: {"action": "status"})
    alias(
        "consolidation_recommendations",
        "memory_consolidate",
        lambda a: {
            "action": "recommend",
            "time_horizon": a.get("time_horizon"),
        },
    )
    alias("scheduler_status", "memory_consolidate", lambda a: {"action": "scheduler"})
    alias(
        "trigger_consolidation",
        "memory_consolidate",
        lambda a: {
            "action": "run",
            "time_horizon": a.get("time_horizon"),
            "immediate": a.get("immediate", True),
        },
    )
    alias(
        "pause_consolidation",
        "memory_consolidate",
        lambda a: {
            "action": "pause",
            "time_horizon": a.get("time_horizon"),
        },
    )
    alias(
        "resume_consolidation",
        "memory_consolidate",
        lambda a: {
            "action": "resume",
            "time_horizon": a.get("time_horizon"),
        },
    )

    # Plain renames
    for old, new in (
        ("store_memory", "memory_store"),
        ("check_database_health", "memory_health"),
        ("get_cache_stats", "memory_stats"),
        ("cleanup_duplicates", "memory_cleanup"),
        ("update_memory_metadata", "memory_update"),
        ("list_memories", "memory_list"),
    ):
        alias(old, new, dict)
    alias("search_by_tag", "memory_list", lambda a: {"tags": _tag_list(a) or []})

    # Ingestion -> memory_ingest, with the keys its handler actually reads (fixed)
    alias(
        "ingest_document",
        "memory_ingest",
        lambda a: {
            "file_path": a.get("file_path") or a.get("path"),
            "tags": a.get("tags", []),
            "chunk_size": a.get("chunk_size", 1000),
            "chunk_overlap": a.get("chunk_overlap", 200),
            "memory_type": a.get("memory_type", "document"),
        },
    )
    alias(
        "ingest_directory",
        "memory_ingest",
        lambda a: {
            "directory_path": a.get("directory_path") or a.get("path"),
            "tags": a.get("tags", []),
            "recursive": a.get("recursive", True),
            "file_extensions": a.get("file_extensions", ["pdf", "txt", "md", "json"]),
            "chunk_size": a.get("chunk_size", 1000),
            "max_files": a.get("max_files", 100),
        },
    )

    # Quality -> memory_quality
    alias(
        "rate_memory",
        "memory_quality",
        lambda a: {
            "action": "rate",
            "content_hash": a.get("content_hash"),
            "rating": a.get("rating"),
            "feedback": a.get("feedback", ""),
        },
    )
    alias(
        "get_memory_quality",
        "memory_quality",
        lambda a: {
            "action": "get",
            "content_hash": a.get("content_hash"),
        },
    )
    alias(
        "analyze_quality_distribution",
        "memory_quality",
        lambda a: {
            "action": "analyze",
            "min_quality": a.get("min_quality", 0.0),
            "max_quality": a.get("max_quality", 1.0),
        },
    )

    # Graph -> memory_graph
    alias(
        "find_connected_memories",
        "memory_graph",
        lambda a: {
            "action": "connected",
            "hash": a.get("hash"),
            "max_hops": a.get("max_hops", 2),
        },
    )
    alias(
        "find_shortest_path",
        "memory_graph",
        lambda a: {
            "action": "path",
            "hash1": a.get("hash1"),
            "hash2": a.get("hash2"),
            "max_depth": a.get("max_depth", 5),
        },
    )
    alias(
        "get_memory_subgraph",
        "memory_graph",
        lambda a: {
            "action": "subgraph",
            "hash": a.get("hash"),
            "radius": a.get("radius", 2),
        },
    )
    return table


ALIASES: Final[dict[str, tuple[str, Transform]]] = _build()
"""Old name -> (new name, argument transform), as MMS v10.59's ``DEPRECATED_TOOLS``."""

UNSUPPORTED: Final[dict[str, str]] = {
    "get_raw_embedding": "raw embedding export",
    "memory_rate": "quality rating",
    # 12.x tools
    "memory_observe": "auto-capture",
}
"""MMS tool names memhub knows but does not serve, with what they would have done."""


def resolve(name: str, arguments: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Rewrite a deprecated call to its v10 tool and arguments; other names pass through.

    Raises:
        ArgumentError: a required argument of the old tool is missing.
    """
    entry = ALIASES.get(name)
    if entry is None:
        return name, dict(arguments)
    new_name, transform = entry
    mapped = transform(arguments)
    return new_name, {k: v for k, v in mapped.items() if v is not None}


def unsupported_message(requested: str, resolved: str) -> str | None:
    """MMS's ``Error: …`` text for a tool memhub does not serve, or None if it serves it."""
    what = UNSUPPORTED.get(resolved)
    if what is None:
        return None
    via = f" (now {resolved})" if requested != resolved else ""
    return (
        f"Error: {requested}{via} is not supported by memhub: {what} is an mcp-memory-service "
        "extra memhub does not implement yet. memhub serves the nine core tools and 12.4's "
        "mistake notes, quarantine, conflicts, memory_graph, versioned updates, session "
        "commits, onboarding guides, bootstrap profile, distill, ingest, harvest, memory_explore, "
        "memory_detail, memory_quality and memory_consolidate (all but its 'run')."
    )
