"""``memory_explore`` and ``memory_detail`` in the daemon: one reader snapshot each, bounded."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from memhub.errors import BadRequest
from memhub.graph import explore
from memhub.protocol import messages as m
from memhub.storage.model import Filters

if TYPE_CHECKING:
    from memhub.service import MemoryService
    from memhub.storage.engine import Snapshot

SCORINGS: Final = (None, "composite")
#: 12.4's advertised ranges (its SDK refuses the rest; the daemon does too).
MAX_ENTITIES: Final = 100
CHUNKS_PER_ENTITY: Final = 50
DETAIL_LIMIT: Final = 200
DETAIL_HOPS: Final = 4
CANDIDATES: Final = 1000
"""Search hits explore looks at, at most (memhub's search limit; 12.4 asks for up to 5,000,
which its vector index refuses past 4,096)."""


def _within(name: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}, got {value}")
    return value


def _scoring(value: str | None) -> str | None:
    if value not in SCORINGS:
        raise BadRequest(f"scoring must be 'composite' or absent, got {value!r}")
    return value


async def explore_entities(svc: MemoryService, req: m.ExploreEntities) -> m.ToolData:
    rules = svc.rules
    query = req.query.strip()
    if not query:
        raise BadRequest("query is required")
    max_entities = _within("max_entities", req.max_entities, 1, MAX_ENTITIES)
    per_entity = _within("chunks_per_entity", req.chunks_per_entity, 1, CHUNKS_PER_ENTITY)
    if not 0.0 <= req.min_score <= 1.0:
        raise BadRequest(f"min_score must be between 0 and 1, got {req.min_score}")
    scoring = _scoring(req.scoring)
    filters = Filters(tags=rules.tags(req.tags), store=rules.read_store(req.store))
    wanted = min(max(max_entities * per_entity, max_entities), CANDIDATES)
    vector = (await svc.embedder.embed([query], use_cache=True))[0]
    min_score = req.min_score

    def fn(snap: Snapshot) -> dict[str, Any]:
        hits = snap.semantic_search(vector, filters, wanted)
        pool = [
            explore.Chunk(h.memory.content_hash, h.memory.content[: explore.CONTENT_CHARS], h.score)
            for h in hits
            if h.score >= min_score
        ]
        return explore.explore(
            snap, pool, max_entities=max_entities, chunks_per_entity=per_entity, scoring=scoring
        )

    data: dict[str, Any] = await svc.readers.submit(fn)
    return m.ToolData(id=req.id, data=data)


async def entity_detail(svc: MemoryService, req: m.EntityDetail) -> m.ToolData:
    eid = svc.rules.pattern("entity_id", req.entity_id)
    if not eid:
        raise BadRequest("entity_id is required")
    limit = _within("limit", req.limit, 1, DETAIL_LIMIT)
    hops = _within("max_hops", req.max_hops, 1, DETAIL_HOPS)
    scoring = _scoring(req.scoring)
    store = None if req.store is None else svc.rules.read_store(req.store)
    include_related = req.include_related

    def fn(snap: Snapshot) -> dict[str, Any]:
        return explore.detail(
            snap, eid, limit=limit, include_related=include_related, max_hops=hops,
            scoring=scoring, store=store,
        )  # fmt: skip

    data: dict[str, Any] = await svc.readers.submit(fn)
    return m.ToolData(id=req.id, data=data)
