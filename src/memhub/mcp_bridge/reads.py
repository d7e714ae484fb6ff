"""The read tools: ``memory_search``, ``memory_list``, ``memory_health``, ``memory_stats``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import attrs

from memhub.errors import Unavailable
from memhub.mcp_bridge import arguments as a
from memhub.mcp_bridge import formatting
from memhub.mcp_bridge import v12_arguments as v12
from memhub.mcp_bridge.calls import ToolResult, expect, fail
from memhub.protocol import messages as m

if TYPE_CHECKING:
    from memhub.mcp_bridge.calls import Daemon
    from memhub.protocol.messages import TagMatch

FALLBACK_MIN_RESULTS: Final = 3
FALLBACK_SCORE: Final = 0.4
SEARCH_LIMIT_MAX: Final = 1000


async def search(daemon: Daemon, args: dict[str, Any]) -> ToolResult:
    query = a.as_str(args.get("query"), "query")
    mode = a.as_search_mode(args.get("mode"))
    time_expr = a.as_str(args.get("time_expr"), "time_expr")
    after = before = None
    if not time_expr:  # MMS ignores (and does not even parse) after/before under time_expr
        after = a.parse_date(args.get("after"), "after")
        before = a.parse_date(args.get("before"), "before")
    tags = a.normalize_tags(args.get("tags"))
    # MMS treats anything but "all" as "any" here (it validates tag_match only for deletes).
    tag_match: TagMatch = "all" if args.get("tag_match") == "all" else "any"
    boost = a.as_float(args.get("quality_boost"), "quality_boost", 0.0)
    if not 0.0 <= boost <= 1.0:
        return fail(f"Error: Invalid quality_boost: {args.get('quality_boost')}. Must be 0.0-1.0")
    limit = a.as_int(
        args.get("limit"), "limit", 10, minimum=1, maximum=SEARCH_LIMIT_MAX, clamp=True
    )
    include_superseded = a.as_bool(args.get("include_superseded"), "include_superseded", False)
    include_debug = a.as_bool(args.get("include_debug"), "include_debug", False)
    max_chars = a.max_response_chars(args)
    if mode == "exact" and not query:
        return fail("Error: query required for exact mode")
    if mode != "exact" and not (query or time_expr or after or before or tags):
        return fail(
            "Error: At least one filter required (query, time_expr, after, before, or tags)"
        )
    base = m.Search(
        id=0,
        query=query,
        mode=mode,
        limit=limit,
        tags=tags,
        tag_match=tag_match,
        memory_type=a.as_str(args.get("memory_type"), "memory_type"),
        after=after,
        before=before,
        time_expr=time_expr,
        include_superseded=include_superseded,
        include_debug=include_debug,
        agent_id=v12.author_filter(args),
        store=v12.requested_store(args),
    )
    result = expect((await daemon.call(base)).unwrap(), m.SearchResult)
    hits = list(result.hits)
    methods = None
    if a.as_bool(args.get("fallback"), "fallback", False) and query and mode != "exact":
        hits, methods = await _fallback(daemon, base, hits)
    text = formatting.search_results(
        hits,
        mode=result.mode,
        query=result.query,
        max_chars=max_chars,
        debug=result.debug,
        time_expr=time_expr,
        match_methods=methods,
    )
    return ToolResult(text)


async def _fallback(
    daemon: Daemon, base: m.Search, hits: list[m.Hit]
) -> tuple[list[m.Hit], dict[str, str] | None]:
    """MMS's cascading fallback: sparse, weak semantic results get exact and tag matches added."""
    strong = sum(1 for h in hits if h.score >= FALLBACK_SCORE)
    if len(hits) >= FALLBACK_MIN_RESULTS or strong >= FALLBACK_MIN_RESULTS:
        return hits, None
    methods = {h.memory.content_hash: "semantic" for h in hits}
    query = base.query or ""
    tokens = [
        t.strip().lower().strip(".,;:!?\"'()[]{}") for t in query.split() if len(t.strip()) > 2
    ]
    tries = [(attrs.evolve(base, mode="exact", tags=[], include_debug=False), "exact_fallback")]
    if tokens:
        tag_search = attrs.evolve(base, query=None, mode="semantic", tags=tokens, tag_match="any")
        tries.append((attrs.evolve(tag_search, include_debug=False), "tag_fallback"))
    for request, how in tries:
        if how == "tag_fallback" and len(hits) >= base.limit:
            break
        delivery = await daemon.call(request)
        if not isinstance(delivery.reply, m.SearchResult):
            if isinstance(delivery.error, Unavailable):
                raise delivery.error
            continue  # like MMS, a failing fallback tier is skipped
        for hit in delivery.reply.hits:
            if hit.memory.content_hash not in methods:
                methods[hit.memory.content_hash] = how
                hits.append(hit)
    return hits[: base.limit], methods


async def list_memories(daemon: Daemon, args: dict[str, Any]) -> ToolResult:
    stale = args.get("stale_days")
    request = m.ListMemories(
        id=0,
        page=a.as_int(args.get("page"), "page", 1, minimum=1),
        page_size=a.as_int(
            args.get("page_size"), "page_size", 20, minimum=1, maximum=100, clamp=True
        ),
        tags=a.normalize_tags(args.get("tags")),
        tag_match=a.as_tag_match(args.get("tag_match")),
        memory_type=a.as_str(args.get("memory_type"), "memory_type"),
        stale_days=None if stale is None else a.as_int(stale, "stale_days", 1, minimum=1),
        agent_id=v12.author_filter(args),
        store=v12.requested_store(args),
    )
    page = expect((await daemon.call(request)).unwrap(), m.Page)
    return ToolResult(formatting.memory_page(page))


async def health(daemon: Daemon, args: dict[str, Any]) -> ToolResult:
    report = expect((await daemon.call(m.Health(id=0))).unwrap(), m.HealthReport)
    return ToolResult(formatting.health(report), is_error=report.status != "healthy")


async def stats(daemon: Daemon, args: dict[str, Any]) -> ToolResult:
    report = expect((await daemon.call(m.Health(id=0))).unwrap(), m.HealthReport)
    counters = daemon.statistics()
    text = formatting.stats(
        report,
        tool_calls=counters.tool_calls,
        connects=counters.connects,
        connect_times_ms=counters.connect_times_ms,
        embedding_model=report.embedder.name,
    )
    return ToolResult(text)
