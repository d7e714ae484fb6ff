"""12.x's hybrid search score: a weighted sum of the BM25 and the vector score of each memory
found by either list (one rule for both engines; each supplies its own two lists)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from memhub.protocol import messages as m

KEYWORD_WEIGHT: Final = 0.3
SEMANTIC_WEIGHT: Final = 0.7


def fuse(
    semantic: Sequence[m.Hit],
    keyword: Mapping[int, float],
    records: Mapping[int, m.MemoryRecord],
    limit: int,
    *,
    keyword_weight: float = KEYWORD_WEIGHT,
    semantic_weight: float = SEMANTIC_WEIGHT,
) -> list[m.Hit]:
    """The ``limit`` best of the union, by ``keyword_weight * bm25 + semantic_weight * vector``.

    ``keyword`` maps rowids to BM25 scores in [0, 1); ``records`` holds the visible records of
    those rowids (a rowid without one was filtered out and is dropped). A memory missing from
    one list scores 0 there.
    """
    by_hash: dict[str, tuple[m.MemoryRecord, float, float]] = {
        h.memory.content_hash: (h.memory, 0.0, h.score) for h in semantic
    }
    for rowid, kw in keyword.items():
        record = records.get(rowid)
        if record is None:
            continue
        _, _, sem = by_hash.get(record.content_hash, (record, 0.0, 0.0))
        by_hash[record.content_hash] = (record, kw, sem)
    fused = [
        m.Hit(memory=record, score=keyword_weight * kw + semantic_weight * sem)
        for record, kw, sem in by_hash.values()
    ]
    fused.sort(key=lambda h: h.score, reverse=True)
    return fused[:limit]
