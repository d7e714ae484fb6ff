"""How a consolidation run persists what it decided: bounded chunks through the writer.

Every chunk is one write call of the single writer, so one transaction, group-committed with
whatever clients queued meanwhile: a ``memory_store`` waits at most one chunk, and a kill at
any instant leaves whole chunks or nothing of them. Each chunk re-reads what it changes inside
its transaction (a memory deleted since the run read it is skipped, a hash that already exists
is not stored twice), so running again after a kill is safe.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

import attrs
import numpy as np

from memhub.errors import BadRequest, ServiceError
from memhub.storage.model import DEFAULT_STORE, Filters, FloatArray, NewMemory
from memhub.storage.relations import SYMMETRIC, Edge

if TYPE_CHECKING:
    from memhub.service import MemoryService
    from memhub.storage.engine import WriteTxn

log = logging.getLogger(__name__)
#: Rows one chunk changes: an interactive write queued behind a chunk waits for it (tens of
#: milliseconds on a busy 2-core machine, see bench/consolidation_figures.py); a run of 12.4's
#: 500-memory batch is still only a few dozen commits.
METADATA_CHUNK: Final = 100
STORE_CHUNK: Final = 20
#: Texts embedded per request to the embedder (interactive embeds interleave between them).
EMBED_CHUNK: Final = 64


@attrs.frozen(kw_only=True)
class Planned:
    """A memory a run wants stored, with the edges (12.x's graph rows) that come with it."""

    content: str
    content_hash: str
    tags: list[str]
    memory_type: str
    metadata: dict[str, Any]
    vector: FloatArray | None = attrs.field(eq=False)
    edges: list[Edge] = attrs.field(factory=list)
    replaces: str | None = None  # the memory this one replaces (soft-deleted with its edges)


def both_ways(edge: Edge) -> list[Edge]:
    """12.4's ``store_association``: symmetric types are written in both directions."""
    if edge.relationship_type not in SYMMETRIC:
        return [edge]
    return [edge, attrs.evolve(edge, source=edge.target, target=edge.source)]


async def merge_metadata(
    svc: MemoryService, client: str, updates: dict[str, dict[str, Any]]
) -> int:
    """Merge keys into each memory's metadata (timestamps kept, as 12.4's
    ``update_memories_batch(preserve_timestamps=True)``); memories gone since are skipped."""
    items = list(updates.items())
    done = 0
    for start in range(0, len(items), METADATA_CHUNK):
        chunk = items[start : start + METADATA_CHUNK]
        done += await svc.writer.submit(_merger(chunk), client=client)
    return done


def _merger(chunk: Sequence[tuple[str, dict[str, Any]]]) -> Callable[[WriteTxn], int]:
    def write(txn: WriteTxn) -> int:
        n = 0
        for content_hash, keys in chunk:
            if txn.get(content_hash) is None:
                continue  # deleted since the run read it (12.4 logs and goes on)
            try:
                txn.update(content_hash, tags=None, memory_type=None, metadata=keys,
                           preserve_timestamps=True)  # fmt: skip
            except BadRequest as exc:  # refused before writing: stored metadata unreadable
                log.warning("consolidation left %s as it is: %s", content_hash, exc.message)
                continue
            n += 1
        return n

    return write


async def vectors_for(svc: MemoryService, planned: Sequence[Planned]) -> list[Planned]:
    """Fill in the vector of each planned memory that has none (embedded in small batches)."""
    missing = [i for i, p in enumerate(planned) if p.vector is None]
    out = list(planned)
    for start in range(0, len(missing), EMBED_CHUNK):
        part = missing[start : start + EMBED_CHUNK]
        vectors = await svc.embedder.embed([planned[i].content for i in part])
        for i, vec in zip(part, vectors, strict=True):
            out[i] = attrs.evolve(planned[i], vector=vec)
    return out


def _unit(vector: FloatArray | None) -> FloatArray:
    assert vector is not None  # vectors_for ran first
    vec = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(vec))
    return vec / norm if norm else vec


async def store_all(svc: MemoryService, client: str, planned: Sequence[Planned]) -> list[str]:
    """Store the planned memories (and their edges; a replaced memory is soft-deleted in the
    same call); the problems met, one line each (12.4's warnings)."""
    problems: list[str] = []
    ready = await vectors_for(svc, planned)
    for start in range(0, len(ready), STORE_CHUNK):
        chunk = ready[start : start + STORE_CHUNK]
        try:
            problems += await svc.writer.submit(_storer(svc, chunk), client=client)
        except ServiceError:
            # One memory failed the whole chunk (nothing of it was written): alone, each
            # fails by itself and the others are stored.
            for p in chunk:
                try:
                    problems += await svc.writer.submit(_storer(svc, [p]), client=client)
                except ServiceError as exc:
                    problems.append(f"{p.content_hash[:12]}: {exc.message}")
    return problems


def _checked(svc: MemoryService, p: Planned) -> NewMemory:
    rules = svc.rules
    return NewMemory(
        content=rules.content(p.content),
        content_hash=p.content_hash,
        tags=rules.tags([t for t in p.tags if t]),
        memory_type=p.memory_type,
        metadata=rules.metadata(p.metadata),
        vector=_unit(p.vector),
        # 12.4 skips semantic dedup for associations; for summaries and compressed versions
        # memhub skips it too: a refused store must not cost the memory it replaces.
        skip_semantic_dedup=True,
        store=DEFAULT_STORE,
    )


def _storer(svc: MemoryService, chunk: Sequence[Planned]) -> Callable[[WriteTxn], list[str]]:
    every_store = Filters(store=None, include_superseded=True)

    def write(txn: WriteTxn) -> list[str]:
        problems = []
        for p in chunk:
            if txn.get(p.content_hash) is not None:
                continue  # stored by an earlier run (or an earlier attempt of this one)
            if p.replaces is not None and txn.get(p.replaces) is None:
                continue  # the memory to replace is gone: nothing to compress
            try:
                item = _checked(svc, p)
            except ServiceError as exc:
                problems.append(f"{p.content_hash[:12]}: {exc.message}")
                continue
            if p.replaces is not None:
                txn.delete_matching(every_store, p.replaces)
            txn.store(item)
            if p.edges:
                txn.put_edges([e for edge in p.edges for e in both_ways(edge)], replace=True)
        return problems

    return write


async def put_edges(svc: MemoryService, client: str, edges: Sequence[Edge]) -> None:
    """Edges without a memory (12.4's ``graph_only`` mode)."""
    for start in range(0, len(edges), METADATA_CHUNK):
        part = [e for edge in edges[start : start + METADATA_CHUNK] for e in both_ways(edge)]

        def write(txn: WriteTxn, part: list[Edge] = part) -> int:
            return txn.put_edges(part, replace=True)

        await svc.writer.submit(write, client=client)


async def delete_all(svc: MemoryService, client: str, hashes: Sequence[str]) -> int:
    """Soft-delete (each with its graph edges, as 12.4's ``delete_memory``)."""
    every_store = Filters(store=None, include_superseded=True)
    done = 0
    for start in range(0, len(hashes), METADATA_CHUNK):
        part = list(hashes[start : start + METADATA_CHUNK])

        def write(txn: WriteTxn, part: list[str] = part) -> int:
            return sum(len(txn.delete_matching(every_store, h)) for h in part)

        done += await svc.writer.submit(write, client=client)
    return done
