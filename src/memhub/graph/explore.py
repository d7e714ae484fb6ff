"""``memory_explore`` and ``memory_detail`` over the entity graph, as 12.4 answers them.

Both read one snapshot: ``memory_explore`` the memories a semantic search found (the *chunk
pool*) and the entities linked to them, ``memory_detail`` one entity's memories and the
entities of the memories sharing neighbours with them. Every read goes by an index (the
``has_entity`` rows of a memory by ``source_hash``, of an entity by ``target_hash``); the two
that cannot are 12.4's own fallbacks, the most linked entities (``list_entities``): explore
when no found memory has an entity, detail when an id is none of the names its slug suggests.

Where memhub answers differently, on purpose (see also the CHANGELOG):

* ties are broken deterministically (12.4 leaves them to SQLite's row order and Python sets);
  an entity's types are sorted, so ``entity_type`` is the first in name order;
* a chunk found for two entities carries each entity's own composite score (12.4 shares one
  dict between the two, so both show the score of the entity computed last);
* walks are bounded (:data:`memhub.graph.walks.WORK_LIMIT`): a proximity walk past the bound
  loses its proximity term, as 12.4 loses it when ``find_connected`` fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import attrs

from memhub.errors import BadRequest
from memhub.graph import walks
from memhub.graph.entities import entity_id
from memhub.storage.relations import HAS_ENTITY

if TYPE_CHECKING:
    from memhub.storage.engine import Snapshot
    from memhub.storage.relations import EntityProfile

CONTENT_CHARS: Final = 500
SUMMARY_CHARS: Final = 150
ENTITY_MEMORIES: Final = 20
"""How many of an entity's newest memories explore looks at (12.4's default)."""
RESOLVE_SCAN: Final = 500
"""How many of the most linked entities detail searches for an unknown id (12.4's scan)."""
RELATED: Final = 10
PROXIMITY_HOPS: Final = 3
LINK_LIMIT: Final = 50_000
"""``has_entity`` rows one read may return (more is reported, not cut)."""
WEIGHTS: Final = (0.6, 0.25, 0.15)
"""12.4's composite weights: relevance, proximity, centrality."""
MAX_DEGREE: Final = 20


@attrs.frozen
class Chunk:
    """A memory found by the search: its hash, its first 500 characters, its relevance."""

    hash: str
    content: str
    relevance: float


def proximity(hop: int | None) -> float:
    return 0.0 if hop is None or hop <= 0 else 1.0 / (1.0 + hop)


def centrality(degree: int | None) -> float:
    return 0.0 if degree is None or degree <= 0 else min(degree / MAX_DEGREE, 1.0)


def composite(
    relevance: float, hop: int | None, degree: int | None
) -> tuple[float, dict[str, float]]:
    """12.4's composite score and its components (the same sum, in the same order)."""
    prox, cent = proximity(hop), centrality(degree)
    score = WEIGHTS[0] * relevance + WEIGHTS[1] * prox + WEIGHTS[2] * cent
    return score, {"relevance": relevance, "proximity": prox, "centrality": cent}


class _Hops:
    """12.4's ``find_connected(start, 3)`` as ``{hash: distance}`` (a node reached at several
    depths keeps the largest), empty when the walk is past its bound; one answer's walks share
    their edge reads (a hub is read once, not once per entity)."""

    def __init__(self, snap: Snapshot) -> None:
        self._snap = snap
        self._near = walks.Neighbours(snap)
        self._from: dict[str, dict[str, int]] = {}

    def __call__(self, start: str) -> dict[str, int]:
        if start not in self._from:
            try:
                found = walks.connected(self._snap, start, PROXIMITY_HOPS, self._near)
            except walks.TooLarge:
                self._from[start] = {}
            else:
                self._from[start] = {i["hash"]: i["distance"] for i in found["connected"]}
        return self._from[start]


def _entities_of(snap: Snapshot, hashes: Sequence[str]) -> dict[str, list[str]]:
    """The entity names of each memory (12.4's ``get_entities_for_memory``), by name."""
    if not hashes:
        return {}
    rows = snap.edges(hashes, direction="out", relationship=HAS_ENTITY, limit=LINK_LIMIT)
    if len(rows) > LINK_LIMIT:
        raise BadRequest(f"these memories have more than {LINK_LIMIT} entity links")
    found: dict[str, list[str]] = {}
    for e in rows:
        if e.target:
            found.setdefault(e.source, []).append(e.target)
    return found


def _summary(chunks: Sequence[dict[str, Any]]) -> str:
    """12.4's extractive summary: the first sentence of each of the first three chunks."""
    sentences = []
    for c in chunks[:3]:
        text = (c.get("content") or "").strip()
        first = text.split(". ")[0] if text else ""
        if first and not first.endswith("."):
            first += "."
        sentences.append(first[:SUMMARY_CHARS])
    return " ".join(s for s in sentences if s)


def _score(hops_from: _Hops, chunks: list[dict[str, Any]], degree: int | None) -> None:
    """Add 12.4's composite score to each chunk and rank them by it (in place)."""
    if not chunks:
        return
    hops = hops_from(chunks[0]["hash"])
    for c in chunks:
        relevance = c["relevance"] if c["relevance"] is not None else 0.0
        c["composite_score"], c["score_components"] = composite(
            relevance, hops.get(c["hash"]), degree
        )
    chunks.sort(key=lambda c: c["composite_score"], reverse=True)


def explore(
    snap: Snapshot,
    pool: Sequence[Chunk],
    *,
    max_entities: int,
    chunks_per_entity: int,
    scoring: str | None,
) -> dict[str, Any]:
    """12.4's knowledge map of the entities linked to the pool's memories."""
    ranked = sorted(pool, key=lambda c: c.relevance, reverse=True)
    linked = _entities_of(snap, [c.hash for c in ranked])
    chosen: list[tuple[str, int | None]] = []  # (name, count when from the fallback)
    seen: set[str] = set()
    found_with: dict[str, set[str]] = {}
    for chunk in ranked:
        if len(chosen) >= max_entities:
            break
        for name in linked.get(chunk.hash, ()):
            eid = entity_id(name)
            found_with.setdefault(eid, set()).add(chunk.hash)
            if eid in seen:
                continue
            seen.add(eid)
            chosen.append((name, None))
            if len(chosen) >= max_entities:
                break
    if not chosen:
        chosen = [(e.name, e.count) for e in snap.entity_counts(max_entities)]
    profiles = snap.entity_profiles([name for name, _ in chosen])
    order = {c.hash: i for i, c in enumerate(ranked)}
    by_hash = {c.hash: c for c in pool}
    hops_from = _Hops(snap)
    entities = []
    for name, count in chosen:
        profile: EntityProfile | None = profiles.get(name)
        degree = count if count is not None else (profile.count if profile else 0)
        eid = entity_id(name)
        hashes = set(snap.entity_memories(name, ENTITY_MEMORIES)) | found_with.get(eid, set())
        mine = sorted((h for h in hashes if h in by_hash), key=order.__getitem__)
        top = [
            {"hash": h, "content": by_hash[h].content, "relevance": by_hash[h].relevance}
            for h in mine[:chunks_per_entity]
        ]
        if scoring == "composite":
            _score(hops_from, top, degree)
        entities.append(
            {
                "entity_id": eid,
                "name": name,
                "entity_type": profile.types[0] if profile and profile.types else "",
                "summary": _summary(top),
                "relation_count": degree,
                "top_chunks": top,
            }
        )
    return {"entities": entities[:max_entities], "count": len(entities[:max_entities])}


def _slug_guesses(eid: str) -> list[str]:
    """Names whose slug is ``eid`` that are worth one indexed look-up before a scan."""
    spaced = eid.replace("-", " ")
    guesses = [eid, spaced]
    for base in (eid, spaced):
        guesses += [base.capitalize(), base.title(), base.upper()]
    return list(dict.fromkeys(guesses))


def resolve(snap: Snapshot, eid: str) -> str | None:
    """The stored entity name whose slug is ``eid``, or None.

    12.4 scans its 500 most linked entities and takes the first whose slug matches. memhub
    first looks up, by the index, the names the slug suggests (``python``, ``Python``,
    ``PYTHON``, ``auth design``, ``Auth Design``…) and takes the most linked of those; only
    when none exists does it scan as 12.4 does."""
    guessed = [
        p for p in snap.entity_profiles(_slug_guesses(eid)).values() if entity_id(p.name) == eid
    ]
    if guessed:
        return min(guessed, key=lambda p: (-p.count, p.name)).name
    for e in snap.entity_counts(RESOLVE_SCAN):
        if entity_id(e.name) == eid:
            return e.name
    return None


def _quality(metadata: dict[str, Any]) -> float | None:
    value = metadata.get("quality_score", 0.5)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def detail(
    snap: Snapshot,
    eid: str,
    *,
    limit: int,
    include_related: bool,
    max_hops: int,
    scoring: str | None,
    store: str | None,
) -> dict[str, Any]:
    """12.4's ``memory_detail``: the entity's memories ranked by quality, and the entities
    of the memories sharing neighbours with its first ``max_hops + 1`` memories.

    ``store`` keeps only the memories in that store (None: every store)."""
    name = resolve(snap, eid)
    if name is None:
        return unknown(eid)
    if store is None:
        hashes = snap.entity_memories(name, limit)
    else:
        hashes = []
        for h in snap.entity_memories(name, max(limit * 10, 200)):
            record = snap.get(h)
            if record is not None and record.store == store:
                hashes.append(h)
                if len(hashes) >= limit:
                    break
    chunks: list[dict[str, Any]] = []
    for h in hashes:
        record = snap.get(h)
        chunks.append(
            {
                "hash": h,
                "content": record.content[:CONTENT_CHARS] if record else None,
                "relevance": _quality(record.metadata) if record else None,
            }
        )
    chunks.sort(key=lambda c: c["relevance"] if c["relevance"] is not None else -1, reverse=True)
    if scoring == "composite":
        _score(_Hops(snap), chunks, len(hashes))
    related: dict[str, dict[str, Any]] = {}
    if include_related:
        for h in hashes[: max_hops + 1]:
            try:
                candidates, _ = walks.common_neighbors(snap, h)
            except walks.TooLarge as exc:
                raise walks.TooLarge(
                    f"related entities of {name!r}: {exc.message}; ask with include_related "
                    "false, or a lower max_hops"
                ) from None
            names_of = _entities_of(snap, [c for c, _ in candidates])
            for candidate, shared in candidates:
                for other in names_of.get(candidate, ()):
                    oid = entity_id(other)
                    if oid in related:
                        related[oid]["shared_count"] = max(related[oid]["shared_count"], shared)
                    else:
                        related[oid] = {"entity_id": oid, "name": other, "shared_count": shared}
    ranked = sorted(related.values(), key=lambda r: r["shared_count"], reverse=True)
    return {"entity_id": eid, "name": name, "chunks": chunks, "related_entities": ranked[:RELATED]}


def unknown(eid: str) -> dict[str, Any]:
    return {
        "success": False,
        "error": f"Unknown entity_id: {eid}",
        "entity_id": eid,
        "chunks": [],
        "related_entities": [],
    }
