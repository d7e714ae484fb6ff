"""``/api/search`` (semantic), ``/by-tag``, ``/by-time`` and ``/similar/{hash}``, as
mcp-memory-service 12.4 answers them (``web/api/search.py``).

Two deliberate differences from 12.4: a search writes nothing (12.4 records access statistics
into every hit's metadata), and ``similar/{hash}`` finds the memories similar to that memory
(12.4 searches for the hash *string* and therefore always answers 404).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Final

from fastapi import APIRouter, HTTPException, Query, Request

from memhub.domain.timeparse import TimeRangeError, parse_time_expression
from memhub.errors import NotFound, ServiceError
from memhub.http.rest_common import (
    Authenticated,
    ask,
    in_store,
    memory_json,
    require,
    resolve_store,
)
from memhub.http.rest_models import (
    SearchResponse,
    SemanticSearchRequest,
    TagSearchRequest,
    TimeSearchRequest,
)
from memhub.protocol import messages as m

if TYPE_CHECKING:
    from memhub.protocol.messages import SearchMode

router = APIRouter(prefix="/api/search")
TIME_POOL: Final = 100  # upstream's candidate pool for a time range ranked by meaning
TAG_POOL: Final = 1000  # the most one search reads; upstream reads every match


def _result(record: m.MemoryRecord, score: float | None, reason: str | None) -> dict[str, Any]:
    return {"memory": memory_json(record), "similarity_score": score, "relevance_reason": reason}


def _semantic_reason(score: float) -> str | None:
    return f"Semantic similarity: {score:.3f}" if score else None


def _response(
    results: list[dict[str, Any]], query: str, kind: str, began: float, total: int | None = None
) -> dict[str, Any]:
    return {
        "results": results,
        "total_found": len(results) if total is None else total,
        "query": query,
        "search_type": kind,
        "processing_time_ms": (time.perf_counter() - began) * 1000,
    }


async def _hits(request: Request, search: m.Search, failure: str) -> list[m.Hit]:
    try:
        reply = await ask(request, search)
    except ServiceError:
        raise HTTPException(500, detail=failure) from None
    assert isinstance(reply, m.SearchResult)
    return reply.hits


@router.post("", response_model=SearchResponse, tags=["search"])
async def semantic_search(
    identity: Authenticated,
    body: SemanticSearchRequest,
    request: Request,
) -> dict[str, Any]:
    """Memories nearest in meaning to ``query``; with ``quality_boost``, reranked by
    ``(1 - w) * similarity + w * metadata.quality_score``."""
    began = time.perf_counter()
    require(identity, "read", resolve_store(body.store))
    fetch = body.n_results * 3 if body.quality_boost else body.n_results
    mode: SearchMode = "semantic"
    search = m.Search(id=0, query=body.query, mode=mode, limit=fetch, store=body.store)
    hits = await _hits(request, search, "Search operation failed. Please try again.")
    if body.similarity_threshold is not None:
        hits = [h for h in hits if h.score and h.score >= body.similarity_threshold]
    if not body.quality_boost:
        results = [_result(h.memory, h.score, _semantic_reason(h.score)) for h in hits]
        return _response(results, body.query, "semantic", began)
    weight = body.quality_weight

    def quality(hit: m.Hit) -> float:
        value = hit.memory.metadata.get("quality_score", 0.5)
        return float(value) if isinstance(value, int | float) else 0.5

    def composite(hit: m.Hit) -> float:
        return (1.0 - weight) * (hit.score or 0.5) + weight * quality(hit)

    ranked = sorted(hits, key=composite, reverse=True)[: body.n_results]
    results = [
        _result(
            h.memory,
            h.score,
            f"Composite: {composite(h):.3f} (semantic: {h.score:.3f}, quality: {quality(h):.3f})",
        )
        for h in ranked
    ]
    return _response(results, body.query, "semantic_quality_boost", began)


@router.post("/by-tag", response_model=SearchResponse, tags=["search"])
async def tag_search(
    identity: Authenticated,
    body: TagSearchRequest,
    request: Request,
) -> dict[str, Any]:
    """Memories carrying any (or all) of ``tags``, newest first; ``total_found`` counts every
    match, ``limit`` cuts the list."""
    began = time.perf_counter()
    require(identity, "read", resolve_store(body.store))
    if not body.tags:
        raise HTTPException(400, detail="At least one tag must be specified")
    after = None
    if body.time_filter:
        try:
            after = parse_time_expression(body.time_filter)[0]
        except TimeRangeError:
            after = None  # upstream: an unreadable filter filters nothing
    match = "ALL" if body.match_all else "ANY"
    search = m.Search(
        id=0,
        query=None,
        limit=TAG_POOL,
        tags=body.tags,
        tag_match="all" if body.match_all else "any",
        after=after,
        store=body.store,
    )
    hits = await _hits(request, search, "Tag search failed")
    total = len(hits)
    if body.limit is not None:
        hits = hits[: body.limit]  # already newest first
    if after is None and total == TAG_POOL:
        total = await _count_tagged(request, search)
    results = []
    for hit in hits:
        # Upstream intersects the request's tags with the memory's, as given (case-sensitive).
        common = [t for t in dict.fromkeys(body.tags) if t in hit.memory.tags]
        results.append(_result(hit.memory, None, f"Tags match ({match}): {', '.join(common)}"))
    query = f"Tags: {', '.join(body.tags)} ({match})"
    if body.time_filter:
        query += f" | Time: {body.time_filter}"
    return _response(results, query, "tag", began, total)


async def _count_tagged(request: Request, search: m.Search) -> int:
    """Every match of a tag search, past what one search returns."""
    listing = m.ListMemories(
        id=0, page=1, page_size=1, tags=search.tags, tag_match=search.tag_match, store=search.store
    )
    try:
        page = await ask(request, listing)
    except ServiceError:
        raise HTTPException(500, detail="Tag search failed") from None
    assert isinstance(page, m.Page)
    return page.total


@router.post("/by-time", response_model=SearchResponse, tags=["search"])
async def time_search(
    identity: Authenticated,
    body: TimeSearchRequest,
    request: Request,
) -> dict[str, Any]:
    """Memories created in a natural-language time range, newest first, or ranked by
    ``semantic_query`` within it."""
    began = time.perf_counter()
    require(identity, "read", resolve_store(body.store))
    try:
        start, end = parse_time_expression(body.query)
    except TimeRangeError:
        start = end = None
    if start is None and end is None:
        raise HTTPException(
            400,
            detail=f"Could not parse time query: '{body.query}'. Try 'yesterday', 'last week', "
            "'this month', etc.",
        )
    semantic = (body.semantic_query or "").strip()
    search = m.Search(
        id=0,
        query=semantic or None,
        limit=TIME_POOL if semantic else body.n_results,
        after=start,
        before=end,
        store=body.store,
    )
    hits = await _hits(request, search, "Time search failed")
    hits = [
        h
        for h in hits
        if (start is None or h.memory.created_at >= start)
        and (end is None or h.memory.created_at <= end)
    ][: body.n_results]
    reason = f"Time match: {body.query}"
    results = [_result(h.memory, h.score if semantic else None, reason) for h in hits]
    return _response(results, body.query, "time", began)


@router.get("/similar/{content_hash}", response_model=SearchResponse, tags=["search"])
async def find_similar(
    identity: Authenticated,
    content_hash: str,
    request: Request,
    n_results: int = Query(10, ge=1, le=100, description="How many similar memories"),
    store: str = Query("default"),
) -> dict[str, Any]:
    """The memories nearest in meaning to the memory ``content_hash`` (itself excluded)."""
    began = time.perf_counter()
    require(identity, "read", resolve_store(store))
    try:
        found = await ask(request, m.Get(id=0, content_hash=content_hash))
    except NotFound:
        raise HTTPException(404, detail="Memory not found") from None
    except ServiceError:
        raise HTTPException(500, detail="Similar search failed") from None
    assert isinstance(found, m.Found)
    if not in_store(found.memory, store):
        raise HTTPException(404, detail="Memory not found")
    content = found.memory.content
    search = m.Search(id=0, query=content, limit=n_results + 1, store=store)
    hits = await _hits(request, search, "Similar search failed")
    others = [h for h in hits if h.memory.content_hash != content_hash][:n_results]
    results = [_result(h.memory, h.score, _semantic_reason(h.score)) for h in others]
    return _response(results, f"Similar to: {content[:50]}...", "similar", began)
