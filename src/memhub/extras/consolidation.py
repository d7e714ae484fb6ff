"""12.4's ``memory_consolidate`` in the daemon: the ``recommend`` selection and ``merge``.

* ``recommend`` reads one snapshot: the memories 12.4's consolidator would take for a horizon
  (created inside its window, every store, superseded ones too, the oldest ``batch_size``),
  reduced to the counts 12.4's recommendation is made of. At most two pages of ``limit`` rows
  are read, whatever the size of the store.
* ``merge`` is one write call of the single writer, so one transaction: the merged memory is
  stored and the sources are soft-deleted (each delete drops the source's graph edges, as 12.4's
  ``delete_memories`` does) together, and the reply is sent after the commit. A missing source
  or a refused store writes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from memhub.domain.hashing import content_hash
from memhub.errors import BadRequest, NotFound, TooLarge
from memhub.graph import entities
from memhub.protocol import messages as m
from memhub.storage.model import DEFAULT_STORE, Filters, NewMemory

if TYPE_CHECKING:
    from memhub.service import MemoryService
    from memhub.storage.engine import Snapshot, WriteTxn

DAY: Final = 86400.0
#: 12.4's "old" memory: more than 30 whole days old.
OLD_DAYS: Final = 30
#: Most sources one merge takes (12.4 has no limit; each source is one lookup and one delete
#: inside the writer's transaction, so memhub bounds the transaction).
MAX_MERGE: Final = 1000
#: Largest ``limit`` of a recommendation (12.4's ``batch_size`` is 500).
MAX_BATCH: Final = 10_000


def oldest_in_window(
    snap: Snapshot, now: float, window_days: int, limit: int
) -> list[m.MemoryRecord]:
    """The oldest ``limit`` memories created in ``[now - window, now]``, oldest first."""
    filters = Filters(
        after=now - window_days * DAY, before=now, include_superseded=True, store=None
    )
    newest, total = snap.list_page(filters, page=1, page_size=limit)
    if total <= limit:
        return newest[::-1]
    # Pages are newest first; the oldest ``limit`` rows are the tail, on at most two pages.
    last = (total - 1) // limit + 1
    rows, _ = snap.list_page(filters, page=last - 1, page_size=limit, total=total)
    tail, _ = snap.list_page(filters, page=last, page_size=limit, total=total)
    return (rows + tail)[-limit:][::-1]


async def recommend(svc: MemoryService, req: m.ConsolidateRecommend) -> m.ToolData:
    if not 1 <= req.limit <= MAX_BATCH:
        raise BadRequest(f"limit must be between 1 and {MAX_BATCH}")
    if req.window_days < 0:
        raise BadRequest("window_days must not be negative")
    rows = await svc.readers.submit(
        lambda snap: oldest_in_window(snap, req.now, req.window_days, req.limit)
    )
    types: dict[str, int] = {}
    size = 0
    old = 0
    for row in rows:
        kind = row.memory_type or "standard"
        types[kind] = types.get(kind, 0) + 1
        size += len(row.content)
        if int((req.now - row.created_at) // DAY) > OLD_DAYS:
            old += 1
    return m.ToolData(
        id=req.id,
        data={
            "memory_count": len(rows),
            "memory_types": types,
            "total_size_bytes": size,
            "old_count": old,
        },
    )


async def merge(svc: MemoryService, req: m.ConsolidateMerge, client: str) -> m.ToolData:
    rules = svc.rules
    sources = list(dict.fromkeys(req.content_hashes))
    if len(sources) < 2:
        raise BadRequest("content_hashes must be an array with at least 2 hashes")
    if len(sources) > MAX_MERGE:
        raise TooLarge(f"too many content_hashes: {len(sources)} (at most {MAX_MERGE})")
    for source in sources:
        rules.pattern("a content hash", source)
    if not req.merged_content.strip():
        raise BadRequest("merged_content is required and must be a non-empty string")
    content = rules.content(req.merged_content)
    given_tags = rules.tags(req.tags) if req.tags else None
    given_type = rules.memory_type(req.memory_type)[0] if req.memory_type else None
    vector = (await svc.embedder.embed([content]))[0]

    def write(txn: WriteTxn) -> tuple[str, list[str], list[str]]:
        found = {h: txn.get(h) for h in sources}
        missing = [h for h, record in found.items() if record is None]
        if missing:
            raise NotFound(f"memories not found: {', '.join(missing)}")
        records = [r for r in found.values() if r is not None]
        tags = given_tags
        if tags is None:
            tags = rules.tags(sorted({t for r in records for t in r.tags}))
        item = NewMemory(
            content=content,
            content_hash=content_hash(content),
            tags=tags,
            memory_type=given_type or records[0].memory_type,
            metadata={},
            vector=vector,
            skip_semantic_dedup=True,
            store=DEFAULT_STORE,
        )
        record = txn.store(item)
        entities.on_store(svc.settings, txn, record)  # as any store (12.4's opt-in linking)
        deleted: list[str] = []
        failed: list[str] = []
        only_default = Filters(store=DEFAULT_STORE, include_superseded=True)
        for h in sources:
            (deleted if txn.delete_matching(only_default, h) else failed).append(h)
        return record.content_hash, deleted, failed

    new_hash, deleted, failed = await svc.writer.submit(write, client=client)
    return m.ToolData(
        id=req.id,
        data={
            "ok": not failed,
            "content_hash": new_hash,
            "merged": sources,
            "deleted": deleted,
            "failed": failed or None,
        },
    )
