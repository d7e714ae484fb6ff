"""The PostgreSQL engine's read side: queries inside one REPEATABLE READ, READ ONLY transaction.

The same reads as the SQLite engine with the same results: filters before the top-k cut, exact
search over the daemon's vector mirror plus the rows the mirror does not hold yet (those whose
change ``seq`` is past its position, read in this snapshot), literal exact search.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import psycopg

from memhub.domain.tags import tags_from_db
from memhub.domain.timestamps import iso_utc
from memhub.protocol import messages as m
from memhub.protocol.limits import MAX_METADATA_DEPTH, metadata_problem, unreadable_metadata
from memhub.storage.fusion import KEYWORD_WEIGHT, SEMANTIC_WEIGHT, fuse
from memhub.storage.mirror import VectorIndex, nearest_passing, unit_rows
from memhub.storage.model import DEFAULT_STORE, DEFAULT_TYPE, Filters, FloatArray
from memhub.storage.narrowing import few_rows
from memhub.storage.postgres import filters as pg_filters

log = logging.getLogger(__name__)
COLUMNS: Final = (
    "m.content_hash, m.content, m.tags, m.memory_type, m.metadata, "
    "m.created_at, m.updated_at, m.created_at_iso, m.updated_at_iso, m.store"
)
PREFIX_ROWS: Final = 400
MAX_PREFIX: Final = 4096
Cursor = psycopg.Cursor[Any]


def decode_metadata(raw: str | None) -> tuple[dict[str, Any], str | None]:
    if not raw:
        return {}, None
    try:
        meta = json.loads(raw)
    except RecursionError:
        return {}, f"it nests deeper than {MAX_METADATA_DEPTH} levels"
    except ValueError:
        return {}, None
    if not isinstance(meta, dict):
        return {}, None
    return meta, metadata_problem(meta)


def row_to_record(row: Sequence[Any], *, for_reply: bool = True) -> m.MemoryRecord:
    content_hash, content, tags, memory_type, metadata, created, updated, c_iso, u_iso, store = row
    meta, problem = decode_metadata(metadata)
    if problem is not None and for_reply:
        log.warning("memory %s: metadata not shown: %s", content_hash, problem)
        meta = unreadable_metadata(problem)
    created_at = float(created) if created is not None else 0.0
    updated_at = float(updated) if updated is not None else created_at
    return m.MemoryRecord(
        content_hash=content_hash,
        content=content,
        tags=tags_from_db(tags),
        memory_type=(memory_type or "").strip().lower() or DEFAULT_TYPE,
        metadata=meta,
        created_at=created_at,
        updated_at=updated_at,
        created_at_iso=c_iso or iso_utc(created_at),
        updated_at_iso=u_iso or iso_utc(updated_at),
        store=store or DEFAULT_STORE,
    )


def get_by_hash(cur: Cursor, content_hash: str) -> m.MemoryRecord | None:
    cur.execute(
        f"SELECT {COLUMNS} FROM memories m WHERE m.content_hash = %s AND m.deleted_at IS NULL",
        (content_hash,),
    )
    row = cur.fetchone()
    return row_to_record(row) if row else None


def list_page(
    cur: Cursor,
    index: VectorIndex | None,
    filters: Filters,
    *,
    page: int,
    page_size: int,
    total: int | None = None,
) -> tuple[list[m.MemoryRecord], int]:
    """One page, newest first, and the count; a rare tag or store counts and reads only the
    rows the facet index names (:mod:`memhub.storage.narrowing`)."""
    where, params = pg_filters.where(filters, for_search=False)
    pick, pick_params = _among(cur, index, filters)
    if total is None:
        cur.execute(f"SELECT count(*) FROM memories m WHERE {pick}{where}", [*pick_params, *params])
        total = _one_int(cur)
    offset = (page - 1) * page_size
    if offset >= total:
        return [], total
    cur.execute(
        f"SELECT {COLUMNS} FROM memories m WHERE {pick}{where} "
        "ORDER BY m.created_at DESC NULLS LAST, m.id DESC LIMIT %s OFFSET %s",
        [*pick_params, *params, page_size, offset],
    )
    return [row_to_record(r) for r in cur.fetchall()], total


def _among(cur: Cursor, index: VectorIndex | None, filters: Filters) -> tuple[str, list[Any]]:
    """The condition that keeps a read to the few rows the facet index names, or ``""``."""
    if index is None or not filters.narrowing or not index.loaded:
        return "", []
    changed = tail_ids(cur, index.position)  # the position first, the facets last
    among = few_rows(index, filters, past=None, changed=changed)
    if among is None:
        return "", []
    return "m.id = ANY(%s) AND ", [list(among.rows)]


def select_targets(
    cur: Cursor, filters: Filters, content_hash: str | None
) -> list[tuple[int, str]]:
    if content_hash is not None:
        where, params = pg_filters.visible(filters.store)
        cur.execute(
            f"SELECT m.id, m.content_hash FROM memories m WHERE m.content_hash = %s AND {where}",
            [content_hash, *params],
        )
    else:
        where, params = pg_filters.where(filters, for_search=False)
        cur.execute(
            f"SELECT m.id, m.content_hash FROM memories m WHERE {where} ORDER BY m.id", params
        )
    return [(int(r[0]), str(r[1])) for r in cur.fetchall()]


def counts(cur: Cursor) -> tuple[int, int]:
    cur.execute(
        "SELECT count(*) FILTER (WHERE deleted_at IS NULL), "
        "count(*) FILTER (WHERE deleted_at IS NOT NULL) FROM memories"
    )
    row = cur.fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _one_int(cur: Cursor) -> int:
    row = cur.fetchone()
    assert row is not None
    return int(row[0])


# -- search ---------------------------------------------------------------------------------------


def score_from_distance(distance: float) -> float:
    return max(0.0, 1.0 - distance / 2.0)


def _records_by_id(
    cur: Cursor, ids: Sequence[int], where: str, params: list[Any]
) -> dict[int, m.MemoryRecord]:
    if not ids:
        return {}
    cur.execute(
        f"SELECT m.id, {COLUMNS} FROM memories m WHERE m.id = ANY(%s) AND {where}",
        [list(ids), *params],
    )
    return {int(r[0]): row_to_record(r[1:]) for r in cur.fetchall()}


def _matching_ids(cur: Cursor, ids: Sequence[int], where: str, params: list[Any]) -> set[int]:
    if not ids:
        return set()
    cur.execute(
        f"SELECT m.id FROM memories m WHERE m.id = ANY(%s) AND {where}", [list(ids), *params]
    )
    return {int(r[0]) for r in cur.fetchall()}


def tail_ids(cur: Cursor, position: int) -> list[int]:
    """Rows stored or updated after the mirror's feed position (a range scan of ``changes``'
    key). An updated row is in the mirror already, but maybe with its old tags in the facets
    or its old vector: a search that took it from there could miss an acknowledged update.

    A query of its own rather than a join: the join's plan had to be made anew on each run
    (0.6 ms), and made on a table not analyzed yet (right after a bulk import) it scanned every
    vector; this one is a primary-key range scan whatever the statistics say.
    """
    cur.execute(
        "SELECT DISTINCT memory_id FROM changes WHERE seq > %s AND kind <> 'deleted'",
        (position,),
    )
    return [int(r[0]) for r in cur.fetchall()]


def tail_vectors(
    cur: Cursor, position: int, where: str, params: list[Any]
) -> tuple[list[int], FloatArray]:
    """Rows stored or updated after the mirror's feed position that pass ``where``, with
    their unit vectors as this snapshot holds them."""
    ids = tail_ids(cur, position)
    if not ids:
        return [], np.zeros((0, 0), dtype=np.float32)
    cur.execute(
        f"SELECT m.id, m.embedding FROM memories m WHERE m.id = ANY(%s) "
        f"AND m.embedding IS NOT NULL AND {where}",
        [ids, *params],
    )
    rows = cur.fetchall()
    if not rows:
        return [], np.zeros((0, 0), dtype=np.float32)
    return [int(r[0]) for r in rows], unit_rows(np.stack([r[1] for r in rows]))


Ranked = list[tuple[int, float]]


def semantic_search(
    cur: Cursor, index: VectorIndex | None, query: FloatArray, filters: Filters, limit: int
) -> list[m.Hit]:
    where, params = pg_filters.where(filters, for_search=True)
    if index is None or not index.loaded:
        return _server_nearest(cur, query, where, params, limit)
    tail, skip = _tail_nearest(cur, index, query, where, params, limit)
    best, records = _mirror_nearest(cur, index, query, filters, where, params, limit, skip)
    ranked = sorted([*best, *tail], key=lambda hit: (hit[1], hit[0]))[:limit]
    missing = [row for row, _ in ranked if row not in records]
    records.update(_records_by_id(cur, missing, where, params))
    return [
        m.Hit(memory=records[row], score=score_from_distance(distance))
        for row, distance in ranked
        if row in records
    ]


def _server_nearest(
    cur: Cursor, query: FloatArray, where: str, params: list[Any], limit: int
) -> list[m.Hit]:
    """The exact top ``limit`` by pgvector's cosine distance, on the server: while the daemon's
    mirror is still loading (no HNSW index exists, so this is an exact scan, filters first)."""
    cur.execute(
        f"SELECT m.embedding <=> %s, {COLUMNS} FROM memories m "
        f"WHERE {where} AND m.embedding IS NOT NULL ORDER BY 1, m.id LIMIT %s",
        [np.asarray(query, dtype=np.float32), *params, limit],
    )
    return [
        m.Hit(memory=row_to_record(r[1:]), score=score_from_distance(float(r[0])))
        for r in cur.fetchall()
    ]


def _tail_nearest(
    cur: Cursor, index: VectorIndex, query: FloatArray, where: str, params: list[Any], limit: int
) -> tuple[Ranked, list[int]]:
    """The best ``limit`` matching tail rows, and every tail row (the mirror pass skips them
    all: what it holds of an updated row may be out of date)."""
    rows, vecs = tail_vectors(cur, index.position, where, params)
    if not rows:
        return [], []
    dists = index.distances(vecs @ np.asarray(query, dtype=np.float32))
    ranked = sorted(zip(rows, (float(d) for d in dists), strict=True), key=lambda x: (x[1], x[0]))
    return ranked[:limit], rows


def _mirror_nearest(
    cur: Cursor,
    index: VectorIndex,
    query: FloatArray,
    filters: Filters,
    where: str,
    params: list[Any],
    limit: int,
    skip: list[int],
) -> tuple[Ranked, dict[int, m.MemoryRecord]]:
    """The mirror's best visible rows, and the records already read for them.

    Without narrowing filters nearly every candidate is visible, so the records of a few more
    candidates than asked for are read in the one statement that also tells which are visible
    (the visibility and the records used to be two statements).
    """
    allowed = None
    if filters.narrowing:
        allowed = index.facets.candidates(filters)
        if allowed is None:
            want = min(MAX_PREFIX, max(PREFIX_ROWS, limit * 40))
            prefix = index.nearest(query, want, exclude=skip)
            matching = _matching_ids(cur, [row for row, _ in prefix], where, params)
            best = [(row, d) for row, d in prefix if row in matching][:limit]
            if len(best) == limit or len(prefix) < want:
                return best, {}
            cur.execute(f"SELECT m.id FROM memories m WHERE {where}", params)
            allowed = np.fromiter((int(r[0]) for r in cur.fetchall()), dtype=np.int64)
    records: dict[int, m.MemoryRecord] = {}

    def visible(ids: list[int]) -> dict[int, m.MemoryRecord]:
        found = _records_by_id(cur, ids, where, params)
        records.update(found)
        return found

    return nearest_passing(index, query, limit, allowed, skip, visible), records


def exact_search(cur: Cursor, query: str, filters: Filters, limit: int) -> list[m.Hit]:
    where, params = pg_filters.where(filters, for_search=True)
    pattern = f"%{pg_filters.like_literal(query)}%"
    cur.execute(
        f"SELECT {COLUMNS} FROM memories m WHERE {where} "
        f"AND {pg_filters.fold('m.content')} LIKE {pg_filters.fold('%s')} "
        "ORDER BY m.created_at DESC NULLS LAST LIMIT %s",
        [*params, pattern, limit],
    )
    return [m.Hit(memory=row_to_record(r), score=1.0) for r in cur.fetchall()]


def recent(cur: Cursor, index: VectorIndex | None, filters: Filters, limit: int) -> list[m.Hit]:
    """Matching memories newest first with the neutral score 0.5; a rare tag or store reads
    only the rows the facet index names (:mod:`memhub.storage.narrowing`)."""
    where, params = pg_filters.where(filters, for_search=True)
    pick, pick_params = _among(cur, index, filters)
    cur.execute(
        f"SELECT {COLUMNS} FROM memories m WHERE {pick}{where} "
        "ORDER BY m.created_at DESC NULLS LAST, m.id DESC LIMIT %s",
        [*pick_params, *params, limit],
    )
    return [m.Hit(memory=row_to_record(r), score=0.5) for r in cur.fetchall()]


def keyword_scores(cur: Cursor, query: str, filters: Filters, limit: int) -> dict[int, float]:
    """BM25-like keyword strength from PostgreSQL's full-text rank, as ``x / (1 + x)``.

    SQLite mode uses FTS5's BM25 over trigrams; PostgreSQL has no BM25, so the keyword half of
    a hybrid search ranks with ``ts_rank_cd`` over the simple configuration (no stemming,
    like the trigram tokenizer). The fusion weights are the same; scores differ by engine.
    """
    terms = [t for t in "".join(c if c.isalnum() else " " for c in query).split() if len(t) >= 3]
    if not terms:
        return {}
    where, params = pg_filters.where(filters, for_search=True)
    cur.execute(
        "SELECT m.id, ts_rank_cd(to_tsvector('simple', m.content), q) AS r "
        "FROM memories m, to_tsquery('simple', %s) q "
        f"WHERE to_tsvector('simple', m.content) @@ q AND {where} ORDER BY r DESC LIMIT %s",
        [" | ".join(terms), *params, limit],
    )
    scores = {}
    for rowid, rank in cur.fetchall():
        strength = max(0.0, float(rank)) * 10.0
        scores[int(rowid)] = strength / (1.0 + strength)
    return scores


def hybrid_search(
    cur: Cursor,
    index: VectorIndex | None,
    query: str,
    vector: FloatArray,
    filters: Filters,
    limit: int,
    *,
    keyword_weight: float = KEYWORD_WEIGHT,
    semantic_weight: float = SEMANTIC_WEIGHT,
) -> list[m.Hit]:
    semantic = semantic_search(cur, index, vector, filters, limit * 2)
    keyword = keyword_scores(cur, query, filters, limit * 2)
    where, params = pg_filters.where(filters, for_search=True)
    records = _records_by_id(cur, list(keyword), where, params)
    return fuse(
        semantic,
        keyword,
        records,
        limit,
        keyword_weight=keyword_weight,
        semantic_weight=semantic_weight,
    )
