"""12.4's conflicts, their resolution and versioned updates."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from memhub.domain.hashing import content_hash
from memhub.errors import BadRequest, NotFound
from memhub.graph import entities
from memhub.protocol import messages as m
from memhub.storage.model import NewMemory

if TYPE_CHECKING:
    from memhub.service import MemoryService
    from memhub.storage.engine import WriteTxn

#: Keys of the caller's metadata 12.4 never lets override the new version's.
LINEAGE_KEYS: Final = frozenset({"tags", "type", "superseded_by", "evolution_reason"})


async def conflicts(svc: MemoryService, req: m.ListConflicts) -> m.ConflictList:
    found = await svc.readers.submit(lambda snap: snap.conflicts())
    return m.ConflictList(
        id=req.id,
        conflicts=[
            m.ConflictInfo(
                hash_a=c.hash_a,
                hash_b=c.hash_b,
                content_a=c.content_a,
                content_b=c.content_b,
                similarity=c.similarity,
                edge_metadata=c.edge_metadata,
            )
            for c in found
        ],
    )


async def resolve(svc: MemoryService, req: m.ResolveConflict, client: str) -> m.Ok:
    for name, value in (("winner_hash", req.winner_hash), ("loser_hash", req.loser_hash)):
        if not value:
            raise BadRequest(f"{name} is required")
        svc.rules.pattern(name, value)
    await svc.writer.submit(
        lambda txn: txn.resolve_conflict(req.winner_hash, req.loser_hash), client=client
    )
    return m.Ok(id=req.id)


async def versioned_update(svc: MemoryService, req: m.VersionedUpdate, client: str) -> m.Versioned:
    rules = svc.rules
    if not req.content.strip():
        raise BadRequest("versioned update requires 'content' field in updates.")
    content = rules.content(req.content)
    tags = rules.tags(req.tags) if req.tags is not None else None
    memory_type = rules.pattern("memory_type", req.memory_type) if req.memory_type else None
    overrides: dict[str, Any] = {}
    if req.metadata is not None:
        overrides = {k: v for k, v in rules.metadata(req.metadata).items() if k not in LINEAGE_KEYS}
    store = rules.read_store(req.store) if req.store is not None else None
    vector = (await svc.embedder.embed([content]))[0]

    def write(txn: WriteTxn) -> m.MemoryRecord:
        old = txn.get(req.content_hash)
        if old is None:
            raise NotFound(f"Memory {req.content_hash} not found")
        if store is not None and old.store != store:
            raise NotFound("memory not found in the requested store")
        inherited = {k: v for k, v in old.metadata.items() if k not in LINEAGE_KEYS}
        item = NewMemory(
            content=content,
            content_hash=content_hash(content),
            tags=tags if tags is not None else list(old.tags),
            memory_type=memory_type or old.memory_type,
            metadata={**inherited, **overrides},
            vector=vector,
            skip_semantic_dedup=True,
            store=old.store,
        )
        record = txn.supersede(req.content_hash, item, reason=req.reason or None)
        entities.on_store(svc.settings, txn, record)  # 12.4 links a new version too
        return record

    record = await svc.writer.submit(write, client=client)
    return m.Versioned(id=req.id, content_hash=record.content_hash, parent_hash=req.content_hash)
