"""``/api/memories`` (create, list, get, update, delete), ``/api/tags`` and ``/api/types``, as
mcp-memory-service 12.4 answers them (``web/api/memories.py``).

Upstream's status codes are kept where clients depend on them: a duplicate is HTTP 200 with
``success: false`` (the hooks test ``success !== false``), a missing memory 404, ``store=all`` on
a write 400.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request

from memhub.domain.ontology import custom_types_from_env, known_types
from memhub.domain.stores import ALL_STORES, DEFAULT_STORE
from memhub.domain.tags import merge_tags
from memhub.errors import BadRequest, Duplicate, NotFound, ServiceError, TooLarge
from memhub.http.rest_common import (
    Authenticated,
    ask,
    context,
    in_store,
    memory_json,
    require,
    resolve_store,
)
from memhub.http.rest_models import (
    MemoryCreateRequest,
    MemoryCreateResponse,
    MemoryDeleteResponse,
    MemoryListResponse,
    MemoryResponse,
    MemoryUpdateRequest,
    TagListResponse,
)
from memhub.protocol import messages as m

router = APIRouter(prefix="/api")
WRITE_ALL = "store='all' is only valid for read scopes"
STORE_FAILED = "Failed to store memory. Please try again."


def _not_all(store: str) -> None:
    if store == ALL_STORES:
        raise HTTPException(400, detail=WRITE_ALL)


async def _record(request: Request, content_hash: str) -> m.MemoryRecord | None:
    try:
        found = await ask(request, m.Get(id=0, content_hash=content_hash))
    except NotFound:
        return None
    assert isinstance(found, m.Found)
    return found.memory


@router.post("/memories", response_model=MemoryCreateResponse, tags=["memories"])
async def create_memory(
    identity: Authenticated,
    body: MemoryCreateRequest,
    request: Request,
) -> dict[str, Any]:
    """Store a memory (embedded, deduplicated, committed before the answer)."""
    _not_all(body.store)
    require(identity, "write", body.store)
    metadata = dict(body.metadata)
    # Upstream merges metadata.tags into the tags and keeps neither key in metadata.
    tags = merge_tags(body.tags, metadata.pop("tags", None))
    metadata.pop("type", None)
    agent = request.headers.get("x-agent-id", "").strip()
    if agent:
        tags = merge_tags(tags, [f"agent:{agent}"])
    store = m.Store(
        id=0,
        content=body.content,
        tags=tags,
        memory_type=body.memory_type,
        metadata=metadata,
        conversation_id=body.conversation_id or None,
        store=body.store,
    )
    try:
        stored = await ask(request, store)
    except Duplicate as exc:
        return _not_stored(exc.message)
    except (BadRequest, TooLarge) as exc:
        return _not_stored(f"Invalid memory data: {exc.message}")
    except ServiceError:
        raise HTTPException(500, detail=STORE_FAILED) from None
    assert isinstance(stored, m.Stored)
    record = await _record(request, stored.content_hash)
    message = "Memory stored successfully"
    if stored.warning and body.memory_type:
        message += f" {coerced_warning(body.memory_type, stored.memory_type)}"
    return {
        "success": True,
        "message": message,
        "content_hash": stored.content_hash,
        "memory": memory_json(record) if record is not None else None,
    }


def coerced_warning(requested: str, stored_as: str) -> str:
    """12.4's REST wording (its MCP tools word it slightly differently)."""
    return (
        f"Warning: requested memory_type '{requested}' is not in the ontology — stored as "
        f"'{stored_as}'. Register custom types via MCP_CUSTOM_MEMORY_TYPES, e.g. "
        f"'{{\"{requested}\": []}}'."
    )


def _not_stored(message: str) -> dict[str, Any]:
    return {"success": False, "message": message, "content_hash": None, "memory": None}


@router.get("/memories", response_model=MemoryListResponse, tags=["memories"])
async def list_memories(
    identity: Authenticated,
    request: Request,
    page: int = Query(1, ge=1, description="Page number (1-based)"),
    page_size: int = Query(10, ge=1, le=100, description="Memories per page"),
    tag: str | None = Query(None, description="Comma-separated tags"),
    memory_type: str | None = Query(None, description="Only this type"),
    tag_match: str = Query("any", description="'all' or 'any' (anything else: any)"),
    store: str = Query("default"),
) -> dict[str, Any]:
    """One page of memories, newest first."""
    require(identity, "read", resolve_store(store))
    tags = [t.strip() for t in tag.split(",") if t.strip()] if tag else []
    listing = m.ListMemories(
        id=0,
        page=page,
        page_size=page_size,
        tags=tags,
        tag_match="all" if tag_match == "all" else "any",
        memory_type=memory_type or None,
        store=store,
    )
    try:
        reply = await ask(request, listing)
    except BadRequest as exc:
        raise HTTPException(400, detail=exc.message) from None
    except ServiceError as exc:
        raise HTTPException(500, detail=f"Failed to list memories: {exc.message}") from None
    assert isinstance(reply, m.Page)
    return {
        "memories": [memory_json(r) for r in reply.memories],
        "total": reply.total,
        "page": page,
        "page_size": page_size,
        # Upstream's formula (it differs from "page < total_pages" only in wording).
        "has_more": (page - 1) * page_size + page_size < reply.total,
    }


@router.get("/memories/{content_hash}", response_model=MemoryResponse, tags=["memories"])
async def get_memory(
    identity: Authenticated,
    content_hash: str,
    request: Request,
    store: str = Query("default"),
) -> dict[str, Any]:
    """One memory by content hash."""
    require(identity, "read", resolve_store(store))
    try:
        record = await _record(request, content_hash)
    except ServiceError as exc:
        raise HTTPException(500, detail=f"Failed to get memory: {exc.message}") from None
    if record is None or not in_store(record, store):
        raise HTTPException(404, detail="Memory not found")
    return memory_json(record)


@router.put("/memories/{content_hash}", response_model=MemoryCreateResponse, tags=["memories"])
async def update_memory(
    identity: Authenticated,
    content_hash: str,
    body: MemoryUpdateRequest,
    request: Request,
    store: str = Query("default"),
) -> dict[str, Any]:
    """Replace tags, change the type, merge metadata; ``updated_at`` moves only when tags or
    type change."""
    _not_all(store)
    require(identity, "write", store)
    missing = f"Memory with hash {content_hash} not found"
    if body.tags is None and body.memory_type is None and body.metadata is None:
        record = await _record(request, content_hash)
        if record is None or not in_store(record, store):
            raise HTTPException(404, detail=missing)
        return {
            "success": True,
            "message": "No updates provided - memory unchanged",
            "content_hash": content_hash,
            "memory": memory_json(record),
        }
    update = m.Update(
        id=0,
        content_hash=content_hash,
        tags=body.tags,
        memory_type=body.memory_type,
        metadata=body.metadata,
        store=store,
    )
    try:
        updated = await ask(request, update)
    except NotFound:
        raise HTTPException(404, detail=missing) from None
    except (BadRequest, TooLarge) as exc:
        return {"success": False, "message": exc.message, "content_hash": content_hash}
    except ServiceError as exc:
        raise HTTPException(500, detail=f"Failed to update memory: {exc.message}") from None
    assert isinstance(updated, m.Updated)
    record = await _record(request, content_hash)
    # 12.4 names what was asked for (metadata as "custom_metadata"), then always updated_at.
    asked = [
        name
        for name, value in (
            ("tags", body.tags),
            ("memory_type", body.memory_type),
            ("custom_metadata", body.metadata),
        )
        if value is not None
    ]
    return {
        "success": True,
        "message": f"Updated fields: {', '.join([*asked, 'updated_at'])}",
        "content_hash": content_hash,
        "memory": memory_json(record) if record is not None else None,
    }


@router.delete("/memories/{content_hash}", response_model=MemoryDeleteResponse, tags=["memories"])
async def delete_memory(
    identity: Authenticated,
    content_hash: str,
    request: Request,
    store: str = Query("default"),
) -> dict[str, Any]:
    """Soft-delete one memory."""
    _not_all(store)
    require(identity, "write", store)
    try:
        deleted = await ask(request, m.Delete(id=0, content_hash=content_hash, store=store))
    except ServiceError as exc:
        raise HTTPException(500, detail=f"Failed to delete memory: {exc.message}") from None
    assert isinstance(deleted, m.Deleted)
    if content_hash not in deleted.content_hashes:
        raise HTTPException(404, detail="Memory not found")
    return {
        "success": True,
        "message": f"Successfully deleted memory {content_hash}",
        "content_hash": content_hash,
    }


@router.get("/tags", response_model=TagListResponse, tags=["memories"])
async def list_tags(
    identity: Authenticated,
    request: Request,
    store: str = Query("default"),
) -> dict[str, Any]:
    """Every tag with its number of memories, most used first.

    The daemon keeps tag counts for the whole database (``default`` and ``all``); a named
    store's tags are counted from its memories, page by page.
    """
    require(identity, "read", resolve_store(store))
    try:
        if store in (ALL_STORES, DEFAULT_STORE):
            counted = await ask(request, m.CountTags(id=0, limit=10_000))
            assert isinstance(counted, m.TagCounts)
            counts = {t.tag: t.count for t in counted.tags}
        else:
            counts = await _count_store_tags(request, store)
    except ServiceError as exc:
        raise HTTPException(500, detail=f"Failed to get tags: {exc.message}") from None
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return {"tags": [{"tag": tag, "count": n} for tag, n in ranked]}


async def _count_store_tags(request: Request, store: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    page = 1
    while True:
        listing = m.ListMemories(id=0, page=page, page_size=100, store=store)
        reply = await ask(request, listing)
        assert isinstance(reply, m.Page)
        for record in reply.memories:
            for tag in record.tags:
                counts[tag] = counts.get(tag, 0) + 1
        if not reply.has_more:
            return counts
        page += 1


@router.get("/types", response_model=list[str], tags=["memories"])
async def list_types(
    identity: Authenticated,
    request: Request,
) -> list[str]:
    """Every memory type the ontology accepts (built in and ``MCP_CUSTOM_MEMORY_TYPES``)."""
    require(identity, "read", None)
    raw = context(request).service.settings.custom_memory_types
    custom = custom_types_from_env({"MCP_CUSTOM_MEMORY_TYPES": raw} if raw else {})
    return sorted(known_types(custom))
