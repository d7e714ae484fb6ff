"""MMS's ``memory://`` resources: stats, tags, recent memories, memories by tag, search.

Each resource is one JSON text with MMS's keys. The daemon protocol has no aggregate request
for tags or weekly counts, so those are computed from pages of ``ListMemories`` (at most
:data:`SCAN_LIMIT` memories, newest first; a ``"truncated": true`` key says when that cut in).
Errors come back as ``{"error": "..."}`` JSON, as MMS does.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote

from memhub.errors import ServiceError
from memhub.mcp_bridge import formatting
from memhub.protocol import messages as m

if TYPE_CHECKING:
    from memhub.mcp_bridge.calls import Daemon

PAGE: Final = 100
SCAN_LIMIT: Final = 10_000
WEEK_S: Final = 7 * 24 * 3600

STATIC: Final[tuple[tuple[str, str, str], ...]] = (
    ("memory://stats", "Memory Statistics", "Current memory database statistics"),
    ("memory://tags", "Available Tags", "List of all tags used in memories"),
    ("memory://recent/10", "Recent Memories", "10 most recent memories"),
)
"""(uri, name, description) of MMS's fixed resources; all are ``application/json``."""

TEMPLATES: Final[tuple[tuple[str, str, str], ...]] = (
    ("memory://recent/{n}", "Recent Memories", "Get N most recent memories"),
    ("memory://tag/{tag}", "Memories by Tag", "Get all memories with a specific tag"),
    ("memory://search/{query}", "Search Memories", "Search memories by query"),
)

TAG_RESOURCES: Final = 5
"""MMS also lists one resource per tag, for the first five tags."""


def tag_resource(tag: str) -> tuple[str, str, str]:
    """The (uri, name, description) MMS lists for one tag."""
    return (f"memory://tag/{tag}", f"Memories tagged '{tag}'", f"All memories with tag '{tag}'")


async def scan(
    daemon: Daemon, *, tags: list[str] | None = None, limit: int = SCAN_LIMIT
) -> tuple[list[m.MemoryRecord], bool]:
    """Memories newest first, page by page, up to ``limit``; True if more were left."""
    out: list[m.MemoryRecord] = []
    page_no = 1
    while len(out) < limit:
        size = min(PAGE, limit - len(out))
        request = m.ListMemories(id=0, page=page_no, page_size=size, tags=tags or [])
        reply = (await daemon.call(request)).unwrap()
        if not isinstance(reply, m.Page):
            raise ServiceError(f"unexpected reply {type(reply).__name__} from the daemon")
        out.extend(reply.memories)
        if not reply.has_more or not reply.memories:
            return out, False
        page_no += 1
    return out, True


def unique_tags(memories: list[m.MemoryRecord]) -> list[str]:
    """Every tag in first-seen order."""
    seen: dict[str, None] = {}
    for memory in memories:
        for tag in memory.tags:
            seen.setdefault(tag, None)
    return list(seen)


async def read(daemon: Daemon, uri: str) -> str:
    """The JSON text of one ``memory://`` resource."""
    try:
        return json.dumps(await _read(daemon, uri), indent=2, default=str)
    except ServiceError as exc:
        return json.dumps({"error": exc.message}, indent=2)
    except ValueError as exc:
        return json.dumps({"error": str(exc)}, indent=2)


async def _read(daemon: Daemon, uri: str) -> dict[str, Any]:
    if uri == "memory://stats":
        return await _stats(daemon)
    if uri == "memory://tags":
        memories, truncated = await scan(daemon)
        tags = unique_tags(memories)
        return _flag({"tags": tags, "count": len(tags)}, truncated)
    if uri.startswith("memory://recent/"):
        n = int(uri.rsplit("/", 1)[-1])
        if n < 1:
            raise ValueError(f"invalid count in {uri}")
        memories, _ = await scan(daemon, limit=min(n, SCAN_LIMIT))
        return {
            "memories": [formatting.legacy_memory_dict(x) for x in memories],
            "count": len(memories),
        }
    if uri.startswith("memory://tag/"):
        tag = unquote(uri.split("/", 3)[-1])
        memories, truncated = await scan(daemon, tags=[tag])
        found = [formatting.legacy_memory_dict(x) for x in memories]
        return _flag({"tag": tag, "memories": found, "count": len(found)}, truncated)
    if uri.startswith("memory://search/"):
        query = unquote(uri.split("/", 3)[-1])
        reply = (await daemon.call(m.Search(id=0, query=query, limit=10))).unwrap()
        if not isinstance(reply, m.SearchResult):
            raise ServiceError(f"unexpected reply {type(reply).__name__} from the daemon")
        results = [
            {
                "memory": formatting.legacy_memory_dict(hit.memory),
                "relevance_score": hit.score,
                "similarity_score": hit.score,
                "debug_info": None,
            }
            for hit in reply.hits
        ]
        return {"query": query, "results": results, "count": len(results)}
    return {"error": f"Resource not found: {uri}"}


async def _stats(daemon: Daemon) -> dict[str, Any]:
    """MMS's ``get_stats()`` keys for sqlite-vec."""
    report = (await daemon.call(m.Health(id=0))).unwrap()
    if not isinstance(report, m.HealthReport):
        raise ServiceError(f"unexpected reply {type(report).__name__} from the daemon")
    memories, truncated = await scan(daemon)
    week_ago = time.time() - WEEK_S
    size = report.store.store_bytes
    stats = {
        "backend": formatting.backend_name(report.store),
        "total_memories": report.total_memories,
        "unique_tags": len(unique_tags(memories)),
        "memories_this_week": sum(1 for x in memories if x.created_at >= week_ago),
        "database_size_bytes": size,
        "database_size_mb": round(size / (1024 * 1024), 2),
        "embedding_model": report.embedder.name,
        "embedding_dimension": report.embedder.dimension,
    }
    return _flag(stats, truncated)


def _flag(data: dict[str, Any], truncated: bool) -> dict[str, Any]:
    if truncated:
        data["truncated"] = True
    return data
