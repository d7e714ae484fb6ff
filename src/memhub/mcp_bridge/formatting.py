"""Result texts, character for character as mcp-memory-service v10.59 writes them.

Hooks and agents parse these texts (``hash: <64 hex>`` above all), so each function here
reproduces one MMS handler's output from a daemon reply. Nothing here does I/O; the tool layer
picks the function and says whether the result is an error.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from memhub.protocol import messages as m

MEMORY_OVERHEAD_CHARS: Final = 200
"""MMS's estimate of the per-memory framing in a truncated response (``response_limiter``)."""

DRY_RUN_HASHES_SHOWN: Final = 5


# -- store ----------------------------------------------------------------------------------------


def stored(content_hash: str) -> str:
    """``memory_store`` success."""
    return f"Memory stored successfully (hash: {content_hash})"


def session_stored(session_id: str, content_hashes: Sequence[str], turns: int) -> str:
    """``memory_store_session`` success: one hash, or a chunk count for a split session."""
    if len(content_hashes) == 1:
        return (
            f"Session stored successfully (session_id: {session_id}, "
            f"hash: {content_hashes[0]}, turns: {turns})"
        )
    n = len(content_hashes)
    return (
        f"Session stored successfully (session_id: {session_id}, chunks: {n}/{n}, turns: {turns})"
    )


# -- search ---------------------------------------------------------------------------------------


def _created(memory: m.MemoryRecord) -> str:
    return memory.created_at_iso or str(memory.created_at)


def search_header(total: int, mode: str | None, query: str | None, *, fallback: bool) -> str:
    """``Found N memories (mode: m) [fallback: exact+tag] for query: 'q'`` (parts optional)."""
    header = f"Found {total} memories"
    if mode:
        header += f" (mode: {mode})"
    if fallback:
        header += " [fallback: exact+tag]"
    if query:
        header += f" for query: '{query}'"
    return header


def no_results(query: str | None) -> str:
    """The empty search result (not an error)."""
    return f"No memories found for query: '{query}'" if query else "No memories found"


def _debug_block(debug: Mapping[str, Any], time_expr: str | None) -> str:
    """MMS's ``Debug Info:`` block, filled from what the daemon reports."""
    out = "\n\nDebug Info:"
    out += f"\n  Pre-filter count: {debug.get('pre_filter_count', 'N/A')}"
    out += f"\n  Post-filter count: {debug.get('post_filter_count', debug.get('returned', 'N/A'))}"
    if debug.get("quality_boost"):
        out += f"\n  Quality boost: {debug['quality_boost']}"
    if time_expr:
        out += f"\n  Time expression: {time_expr}"
    start, end = [*list(debug.get("time_range") or []), None, None][:2]
    if start or end:
        out += f"\n  Time range: {start} - {end}"
    return out


def search_results(
    hits: Sequence[m.Hit],
    *,
    mode: str | None,
    query: str | None,
    max_chars: int = 0,
    debug: Mapping[str, Any] | None = None,
    time_expr: str | None = None,
    match_methods: Mapping[str, str] | None = None,
) -> str:
    """``memory_search`` output: numbered blocks, or ``=== Memory i ===`` blocks when limited.

    Args:
        hits: the results, best first.
        mode: the search mode to name in the header.
        query: the query to quote in the header (omitted when empty, as MMS does).
        max_chars: ``max_response_chars``; above 0 selects MMS's truncating format, which
            shows neither scores nor the debug block.
        debug: the daemon's debug data when ``include_debug`` was asked for.
        time_expr: shown in the debug block.
        match_methods: hash -> how it was found, when the cascading fallback ran; its presence
            adds ``[fallback: exact+tag]`` to the header and ``(via …)`` to each entry.
    """
    fallback = match_methods is not None
    header = search_header(len(hits), mode, query, fallback=fallback)
    if max_chars > 0 and hits:
        blocks = [
            {
                "content": h.memory.content,
                "content_hash": h.memory.content_hash,
                "created_at": _created(h.memory),
                "tags": list(h.memory.tags),
            }
            for h in hits
        ]
        return header + "\n\n" + truncated_memories(blocks, max_chars)
    if not hits:
        return no_results(query)
    entries = []
    for i, hit in enumerate(hits, 1):
        memory = hit.memory
        tags = f" [{', '.join(memory.tags)}]" if memory.tags else ""
        via = ""
        if match_methods is not None and memory.content_hash in match_methods:
            via = f" (via {match_methods[memory.content_hash]})"
        entries.append(
            f"{i}. {memory.content}\n"
            f"   Hash: {memory.content_hash}\n"
            f"   Created: {_created(memory)}{tags}{via}"
        )
    if debug:
        header += _debug_block(debug, time_expr)
    return header + "\n\n" + "\n\n".join(entries)


def truncated_memories(memories: Sequence[Mapping[str, Any]], max_chars: int) -> str:
    """MMS's ``response_limiter``: whole memories until the budget is spent, then a warning.

    Each memory is costed as its content length plus 200 characters of framing. The first
    memory is always shown, even when it alone exceeds the budget.
    """
    sizes = [len(mem.get("content") or "") + MEMORY_OVERHEAD_CHARS for mem in memories]
    total_chars = sum(sizes)
    shown: list[Mapping[str, Any]] = []
    used = 0
    truncated = max_chars > 0 and total_chars > max_chars
    if truncated:
        for mem, size in zip(memories, sizes, strict=True):
            if shown and used + size > max_chars:
                break
            shown.append(mem)
            used += size
    else:
        shown, used = list(memories), total_chars
    parts: list[str] = []
    if truncated:
        parts.append(
            f"[!] RESPONSE TRUNCATED: Showing {len(shown)} of {len(memories)} results "
            f"({used:,} of {total_chars:,} chars).\n"
            f"{len(memories) - len(shown)} result(s) omitted to prevent context overflow.\n"
            "Use specific queries or hash-based retrieval for full content.\n"
        )
        parts.append("")
    for i, mem in enumerate(shown, 1):
        lines = [f"=== Memory {i} ==="]
        if mem.get("created_at"):
            lines.append(f"Timestamp: {mem['created_at']}")
        lines.append(f"Content: {mem.get('content', '')}")
        lines.append(f"Hash: {mem.get('content_hash', '')}")
        score = mem.get("relevance_score") or mem.get("similarity_score")
        if score is not None:
            lines.append(f"Relevance Score: {score:.2f}")
        tags = mem.get("tags") or []
        if tags:
            lines.append(f"Tags: {', '.join(tags) if isinstance(tags, list) else tags}")
        lines.append("---")
        parts.append("\n".join(lines))
    return "\n".join(parts)


# -- list -----------------------------------------------------------------------------------------


def memory_item(memory: m.MemoryRecord) -> dict[str, Any]:
    """One ``memory_list`` item, with MMS's keys in MMS's order."""
    return {
        "content": memory.content,
        "content_hash": memory.content_hash,
        "tags": list(memory.tags),
        "memory_type": memory.memory_type,
        "metadata": memory.metadata,
        "created_at": memory.created_at,
        "updated_at": memory.updated_at,
        "created_at_iso": memory.created_at_iso,
        "updated_at_iso": memory.updated_at_iso,
        # 12.x adds the author at the top level (null when there is none).
        "agent_id": memory.metadata.get("agent_id"),
    }


def memory_page(page: m.Page) -> str:
    """``memory_list`` output: MMS's ``json.dumps(..., indent=2, default=str)`` (ASCII-escaped)."""
    return json.dumps(
        {
            "memories": [memory_item(mem) for mem in page.memories],
            "page": page.page,
            "page_size": page.page_size,
            "total": page.total,
            "total_pages": page.total_pages,
            "has_more": page.has_more,
        },
        indent=2,
        default=str,
    )


def legacy_memory_dict(memory: m.MemoryRecord) -> dict[str, Any]:
    """``Memory.to_dict()`` of MMS, which its ``memory://`` resources return."""
    return {
        "content": memory.content,
        "content_hash": memory.content_hash,
        "tags_str": ",".join(memory.tags),
        "type": memory.memory_type,
        "timestamp": float(memory.created_at),
        "timestamp_float": memory.created_at,
        "timestamp_str": memory.created_at_iso,
        "created_at": memory.created_at,
        "created_at_iso": memory.created_at_iso,
        "updated_at": memory.updated_at,
        "updated_at_iso": memory.updated_at_iso,
        **memory.metadata,
        "tags": list(memory.tags),
    }


# -- delete, update, cleanup ----------------------------------------------------------------------


def deleted_by_hash(content_hash: str) -> str:
    """``memory_delete`` by hash, done."""
    return f"Successfully deleted memory {content_hash}\n\nDeleted 1 memories"


def would_delete_hash(content_hash: str) -> str:
    """``memory_delete`` by hash, dry run, the memory exists."""
    return (
        f"Would delete 1 memory with hash: {content_hash}\n\n"
        f"Would delete 1 memories\nHashes: {content_hash}"
    )


def deleted_by_filter(hashes: Sequence[str], *, tags_only_any: bool, tag_count: int) -> str:
    """``memory_delete`` by tags and/or dates, done (the caller handles "nothing matched")."""
    n = len(hashes)
    if tags_only_any:
        # MMS's single-statement tag delete words its message differently.
        message = f"Successfully deleted {n} memories matching {tag_count} tag(s)"
    else:
        message = f"Successfully deleted {n} memories"
    return f"{message}\n\nDeleted {n} memories"


def would_delete(hashes: Sequence[str]) -> str:
    """``memory_delete`` dry run by filter: the count and the first five hashes."""
    n = len(hashes)
    text = f"Would delete {n} memories\n\nWould delete {n} memories"
    if n > 0:
        text += f"\nHashes: {', '.join(hashes[:DRY_RUN_HASHES_SHOWN])}"
        if n > DRY_RUN_HASHES_SHOWN:
            text += f" ... and {n - DRY_RUN_HASHES_SHOWN} more"
    return text


def updated(fields: Sequence[str]) -> str:
    """``memory_update`` success."""
    return f"Successfully updated memory metadata. Updated fields: {', '.join(fields)}"


def cleaned_up(hashes: Sequence[str]) -> str:
    """``memory_cleanup`` result."""
    if hashes:
        return f"Successfully soft-deleted {len(hashes)} duplicate memories"
    return "No duplicate memories found"


# -- health and stats -----------------------------------------------------------------------------


def health(report: m.HealthReport) -> str:
    """``memory_health``: ``Database Health Check Results:`` and MMS's JSON, from the daemon.

    MMS's keys are all there with the daemon's numbers (``total_memories`` counts active
    memories, as MMS 12.x does; v10 counted tombstones too). A ``memhub`` key adds what only
    the daemon knows: its pid, uptime, clients and actor counters.
    """
    healthy = report.status == "healthy"
    store = report.store
    size = store.store_bytes
    sqlite = store.engine == "sqlite"
    valid = (
        "SQLite-vec database validation successful"
        if sqlite
        else "PostgreSQL team store validation successful"
    )
    result = {
        "version": report.server_version,
        "validation": {
            "status": report.status,
            "message": valid if healthy else report.message,
        },
        "statistics": {
            "status": "healthy" if healthy else "error",
            "backend": backend_name(store),
            "total_memories": report.total_memories,
            "has_embedding_tables": True,
            "has_embedding_model": True,
            "embedding_model": report.embedder.name,
            "database_size_bytes": size,
            "database_size_mb": round(size / (1024 * 1024), 2),
        },
        "integrity": {},
        "performance": {
            "storage": {},
            "server": {
                "average_query_time_ms": round(report.readers.mean_query_ms, 2),
                "total_queries": report.readers.queries,
                "storage_type": "MemhubDaemon",
            },
        },
        "memhub": {
            "state": "serving",
            "daemon_pid": report.pid,
            "uptime_s": round(report.uptime_s, 1),
            "machine": report.machine,
            "store": store.location,
            "engine": store.engine,
            "schema": store.schema,
            "engine_version": store.engine_version,
            "extension": store.extension,
            "extension_version": store.extension_version,
            "deleted_memories": report.deleted_memories,
            "log_size_bytes": store.log_bytes,
            "connected_clients": report.connected_clients,
            "embedding_dimension": report.embedder.dimension,
            "writer_queue_depth": report.writer.queue_depth,
            "reader_queue_depth": report.readers.queue_depth,
        },
    }
    return f"Database Health Check Results:\n{json.dumps(result, indent=2)}"


def backend_name(store: m.StoreStats) -> str:
    """mcp-memory-service's name of the backend (``sqlite-vec``), or memhub's team engine."""
    return "sqlite-vec" if store.engine == "sqlite" else "memhub-postgresql"


def _storage_backend(store: m.StoreStats) -> str:
    return "sqlite_vec" if store.engine == "sqlite" else "memhub_postgresql"


def starting_health(version: str, db_path: str) -> str:
    """``memory_health`` while the daemon is still starting (loading the embedding model).

    Every key of the full answer is there, so that a client reading one (``total_memories``,
    ``memhub.daemon_pid``) finds it; what only the running daemon knows is ``null`` until then.
    """
    result = {
        "version": version,
        "validation": {
            "status": "unhealthy",
            "message": "memhub daemon is starting (loading the embedding model); "
            "ask again in a few seconds",
        },
        "statistics": {
            "status": "starting",
            "backend": "sqlite-vec",
            "total_memories": None,
            "has_embedding_tables": None,
            "has_embedding_model": False,
            "embedding_model": None,
            "database_size_bytes": None,
            "database_size_mb": None,
        },
        "integrity": {},
        "performance": {
            "storage": {},
            "server": {
                "average_query_time_ms": None,
                "total_queries": None,
                "storage_type": "MemhubDaemon",
            },
        },
        "memhub": {
            "state": "starting",
            "store": db_path,
            **dict.fromkeys(_DAEMON_ONLY_KEYS),
        },
    }
    return f"Database Health Check Results:\n{json.dumps(result, indent=2)}"


#: The ``memhub`` keys of a health answer that only a running daemon can fill in.
_DAEMON_ONLY_KEYS: Final = (
    "daemon_pid",
    "uptime_s",
    "machine",
    "engine",
    "schema",
    "engine_version",
    "extension",
    "extension_version",
    "deleted_memories",
    "log_size_bytes",
    "connected_clients",
    "embedding_dimension",
    "writer_queue_depth",
    "reader_queue_depth",
)


def _rate(hits: int, misses: int) -> float:
    total = hits + misses
    return round(hits / total * 100, 2) if total else 0


def stats(
    report: m.HealthReport,
    *,
    tool_calls: int,
    connects: int,
    connect_times_ms: Sequence[float],
    embedding_model: str,
) -> str:
    """``memory_stats``: MMS's cache-statistics JSON, re-read for a daemon.

    MMS reports its per-process storage and service caches. Their counterparts here are the
    bridge's daemon connection (a tool call served on an open connection is a hit, one that had
    to connect is a miss) and the daemon's embedding cache. Keys and rounding are MMS's.
    """
    conn_hits = max(0, tool_calls - connects)
    emb = report.embedder
    total_hits = conn_hits + emb.cache_hits
    total_chances = tool_calls + emb.cache_hits + emb.cache_misses
    overall = (total_hits / total_chances * 100) if total_chances else 0
    times = list(connect_times_ms)
    result = {
        "total_calls": tool_calls,
        "hit_rate": round(overall, 2),
        "storage_cache": {
            "hits": conn_hits,
            "misses": connects,
            "hit_rate": _rate(conn_hits, connects),
            "size": 1 if connects else 0,
            "keys": [f"{_storage_backend(report.store)}:{report.store.location}"],
        },
        "service_cache": {
            "hits": emb.cache_hits,
            "misses": emb.cache_misses,
            "hit_rate": _rate(emb.cache_hits, emb.cache_misses),
            "size": 1,
        },
        "performance": {
            "avg_init_time_ms": round(sum(times) / len(times), 2) if times else 0,
            "min_init_time_ms": round(min(times), 2) if times else 0,
            "max_init_time_ms": round(max(times), 2) if times else 0,
            "total_inits": len(times),
        },
        "message": (
            f"MCP server caching is {'ACTIVE' if total_hits > 0 else 'INACTIVE'} "
            f"with {overall:.1f}% hit rate"
        ),
        "backend_info": {
            "storage_backend": _storage_backend(report.store),
            "sqlite_path": report.store.location,
            "embedding_model": embedding_model,
        },
    }
    return json.dumps(result, indent=2)
