"""The SQLite engine's read side: sync queries run inside one read transaction.

Each function runs on a read-only connection inside one read transaction opened by the reader,
so every statement of one request sees the same snapshot. Nothing here writes (the connection
is ``mode=ro`` and ``query_only``).

Filters (tags, type, time range, superseded, store, pending embeddings) are applied *before* the
top-k cut, unlike upstream which filters after KNN and often returns fewer than ``limit``
results. Rows are decoded totally (:mod:`~memhub.storage.sqlite.values`): whatever another
program wrote into a column, a read shows the memory rather than failing for every client.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from memhub.domain.tags import tags_from_db
from memhub.domain.timestamps import iso_utc
from memhub.protocol import messages as m
from memhub.protocol.limits import MAX_METADATA_DEPTH, metadata_problem, unreadable_metadata
from memhub.storage.fusion import KEYWORD_WEIGHT, SEMANTIC_WEIGHT, fuse
from memhub.storage.mirror import nearest_passing, usable
from memhub.storage.model import DEFAULT_STORE, DEFAULT_TYPE
from memhub.storage.sqlite import filters as sql_filters
from memhub.storage.sqlite.values import as_float, as_int, as_str, epoch, optional_text, text
from memhub.storage.sqlite.vectors import tail_vectors, vector_to_blob

if TYPE_CHECKING:
    import apsw

    from memhub.storage.mirror import VectorIndex
    from memhub.storage.model import Filters, FloatArray
    from memhub.storage.narrowing import FewRows
    from memhub.storage.sqlite.schema import Schema

log = logging.getLogger(__name__)
ROW_COLUMNS: Final = (
    "m.content_hash, m.content, m.tags, m.memory_type, m.metadata, "
    "m.created_at, m.updated_at, m.created_at_iso, m.updated_at_iso"
)


def record_columns(schema: Schema) -> str:
    """The columns a record is built from: :data:`ROW_COLUMNS` and the row's store."""
    return f"{ROW_COLUMNS}, {store_column(schema)}"


#: sqlite-vec refuses a KNN ``k`` above this.
VEC0_MAX_K: Final = 4096
_SQLITE_MAX_INT: Final = 2**63 - 1
#: Nearest rows a filtered search checks first, before listing every row the filter matches.
PREFIX_ROWS: Final = 400
_FTS_STRIP: Final = re.compile(r"[^\w\s-]")


def store_column(schema: Schema, alias: str = "m.") -> str:
    """The SQL of a row's store name (``'default'`` in a 10.x file)."""
    return f"{alias}store" if schema.has_store else f"'{DEFAULT_STORE}'"


def decode_metadata(raw: object) -> tuple[dict[str, Any], str | None]:
    """The stored metadata as a dict, and why it cannot be shown (None when it can).

    Unparseable or non-object metadata reads as ``{}`` (as upstream); valid JSON that no reply
    could carry (too deep, integers past 64 bits, lone surrogates: all accepted by Python's
    ``json``, which legacy writers use) comes back with a reason.
    """
    source = text(raw) if raw is not None else ""
    if not source:
        return {}, None
    try:
        meta = json.loads(source)
    except RecursionError:
        return {}, f"it nests deeper than {MAX_METADATA_DEPTH} levels"
    except ValueError:
        return {}, None
    if not isinstance(meta, dict):
        return {}, None
    return meta, metadata_problem(meta)


def row_to_record(row: Sequence[Any]) -> m.MemoryRecord:
    """Build a record from :func:`record_columns`, with the metadata exactly as stored (for
    the writer, which merges updates into it). Metadata it cannot read is ``{}``."""
    meta, _ = decode_metadata(row[4])
    return _record(row, meta)


def reply_record(row: Sequence[Any]) -> m.MemoryRecord:
    """Like :func:`row_to_record`, with metadata that any reply can encode: metadata no reply
    could carry is replaced by a marker and logged, so one such row never fails a page."""
    meta, problem = decode_metadata(row[4])
    if problem is not None:
        log.warning("memory %s: metadata not shown: %s", text(row[0]), problem)
        meta = unreadable_metadata(problem)
    return _record(row, meta)


def _record(row: Sequence[Any], meta: dict[str, Any]) -> m.MemoryRecord:
    content_hash, content, tags, memory_type, _, created, updated, c_iso, u_iso = row[:9]
    store = text(row[9], DEFAULT_STORE) if len(row) > 9 else DEFAULT_STORE
    created_at = epoch(created)
    created_at = created_at if created_at is not None else 0.0
    updated_at = epoch(updated)
    updated_at = updated_at if updated_at is not None else created_at
    kind = text(memory_type).strip().lower() or DEFAULT_TYPE
    return m.MemoryRecord(
        content_hash=text(content_hash),
        content=text(content),
        tags=tags_from_db(optional_text(tags)),
        memory_type=kind,
        metadata=meta,
        created_at=created_at,
        updated_at=updated_at,
        created_at_iso=_iso(c_iso, created_at),
        updated_at_iso=_iso(u_iso, updated_at),
        store=store,
    )


def _iso(stored: object, at: float) -> str:
    return stored if isinstance(stored, str) and stored else iso_utc(at)


# ---------------------------------------------------------------------------------------------
# point reads and pages


def get_by_hash(conn: apsw.Connection, schema: Schema, content_hash: str) -> m.MemoryRecord | None:
    rows = conn.execute(
        f"SELECT {record_columns(schema)} FROM memories m "
        f"WHERE m.content_hash = ? AND {sql_filters.visible(schema, None)}",
        (content_hash,),
    ).fetchall()
    return reply_record(rows[0]) if rows else None


def list_page(
    conn: apsw.Connection,
    schema: Schema,
    filters: Filters,
    *,
    page: int,
    page_size: int,
    total: int | None = None,
    among: FewRows | None = None,
) -> tuple[list[m.MemoryRecord], int]:
    """One page, newest first, and the count of matching rows (``total`` if already known).

    With ``among`` (see :func:`recent`) the count and the page read only those rows: counting a
    rare tag's memories otherwise scans every live row (0.4 s at a million).
    """
    where, params = sql_filters.where(filters, schema, for_search=False)
    pick, pick_params = _among(among)
    if total is None:
        total = as_int(
            conn.execute(
                f"SELECT COUNT(*) FROM memories m WHERE {pick}{where}", [*pick_params, *params]
            ).fetchall()[0][0]
        )
    rows = conn.execute(
        f"SELECT {record_columns(schema)} FROM memories m WHERE {pick}{where} "
        "ORDER BY m.created_at DESC, m.id DESC LIMIT ? OFFSET ?",
        # A page past the end is empty; an offset past SQLite's 64-bit range is just as empty.
        [*pick_params, *params, page_size, min((page - 1) * page_size, _SQLITE_MAX_INT)],
    ).fetchall()
    return [reply_record(r) for r in rows], total


def _among(among: FewRows | None) -> tuple[str, list[Any]]:
    """The condition that keeps a read to the rows ``among`` names (``""`` for every row)."""
    if among is None:
        return "", []
    assert among.past is not None  # SQLite numbers rows in commit order
    pick = (
        "m.id IN (SELECT value FROM json_each(?) "
        "UNION ALL SELECT id FROM memories WHERE id > ?) AND "
    )
    return pick, [json.dumps(list(among.rows)), among.past]


def select_targets(
    conn: apsw.Connection, schema: Schema, filters: Filters, content_hash: str | None
) -> list[tuple[int, str]]:
    """Rows a delete would remove: ``(rowid, content_hash)``."""
    if content_hash is not None:
        sql = (
            "SELECT m.id, m.content_hash FROM memories m "
            f"WHERE m.content_hash = ? AND {sql_filters.visible(schema, filters.store)}"
        )
        return [(as_int(r[0]), text(r[1])) for r in conn.execute(sql, (content_hash,))]
    where, params = sql_filters.where(filters, schema, for_search=False)
    return [
        (as_int(r[0]), text(r[1]))
        for r in conn.execute(
            f"SELECT m.id, m.content_hash FROM memories m WHERE {where} ORDER BY m.id", params
        )
    ]


def duplicate_rows(conn: apsw.Connection, schema: Schema) -> list[tuple[int, str]]:
    """Active rows whose hash repeats an older active row: ``(id, content_hash)``, oldest kept."""
    active = sql_filters.visible(schema, None)
    rows = conn.execute(
        f"SELECT m.id, m.content_hash FROM memories m WHERE {active} AND m.content_hash IN "
        f"(SELECT content_hash FROM memories m WHERE {active} "
        "GROUP BY content_hash HAVING COUNT(*) > 1) ORDER BY m.content_hash, m.created_at, m.id"
    ).fetchall()
    seen: set[str] = set()
    extra: list[tuple[int, str]] = []
    for rowid, content_hash in rows:
        key = text(content_hash)
        if key in seen:
            extra.append((as_int(rowid), key))
        seen.add(key)
    return extra


def counts(conn: apsw.Connection, schema: Schema) -> tuple[int, int]:
    """(active memories in every store, soft-deleted memories), as 12.x's health counts."""
    active = conn.execute(
        f"SELECT COUNT(*) FROM memories m WHERE {sql_filters.visible(schema, None)}"
    ).fetchall()[0][0]
    deleted = conn.execute("SELECT COUNT(*) FROM memories WHERE deleted_at IS NOT NULL").fetchall()[
        0
    ][0]
    return as_int(active), as_int(deleted)


# ---------------------------------------------------------------------------------------------
# search


def _records_by_id(
    conn: apsw.Connection, schema: Schema, ids: Sequence[int], where: str, params: list[Any]
) -> dict[int, m.MemoryRecord]:
    if not ids:
        return {}
    placeholders = ",".join("?" * len(ids))
    rows = conn.execute(
        f"SELECT m.id, {record_columns(schema)} FROM memories m "
        f"WHERE m.id IN ({placeholders}) AND {where}",
        [*ids, *params],
    ).fetchall()
    return {as_int(r[0]): reply_record(r[1:]) for r in rows}


def score_from_distance(distance: float) -> float:
    """mcp-memory-service's relevance: ``max(0, 1 - d/2)``."""
    return max(0.0, 1.0 - distance / 2.0)


def semantic_search(
    conn: apsw.Connection,
    schema: Schema,
    index: VectorIndex | None,
    query_vector: FloatArray,
    filters: Filters,
    limit: int,
    changed: Sequence[int] = (),
) -> list[m.Hit]:
    """Exact nearest neighbours among the rows that pass the filters, best first.

    The mirror holds the rows up to its position; the rows committed after it, and the rows
    ``changed`` in place since the feed cursor the mirror follows (usually none: the follower
    applies each commit within milliseconds), are scored here from the snapshot, so an
    acknowledged write is found at once: a new row, and an update's new tags or content too.
    """
    where, params = sql_filters.where(filters, schema, for_search=True)
    index = usable(index)
    if index is None:
        return _vec0_search(conn, schema, query_vector, filters, where, params, limit)
    tail, skip = _tail_nearest(conn, index, query_vector, where, params, limit, changed)
    best = _mirror_nearest(conn, index, query_vector, filters, where, params, limit, skip)
    ranked = sorted([*best, *tail], key=lambda hit: (hit[1], hit[0]))[:limit]
    records = _records_by_id(conn, schema, [row for row, _ in ranked], where, params)
    return [
        m.Hit(memory=records[row], score=score_from_distance(distance))
        for row, distance in ranked
        if row in records
    ]


def _tail_nearest(
    conn: apsw.Connection,
    index: VectorIndex,
    query_vector: FloatArray,
    where: str,
    params: list[Any],
    limit: int,
    changed: Sequence[int],
) -> tuple[list[tuple[int, float]], list[int]]:
    """``(row, distance)`` of the best matching rows past the mirror's position or changed in
    place, nearest first, and all of those rows (the mirror pass skips them: what it holds of
    a changed row may be out of date)."""
    rows, vecs = tail_vectors(conn, index.position, index.dimension, where, params, changed)
    if not rows:
        return [], []
    sims = vecs @ np.asarray(query_vector, dtype=np.float32)
    dists = index.distances(sims)
    ranked = sorted(zip(rows, (float(d) for d in dists), strict=True), key=lambda x: (x[1], x[0]))
    return ranked[:limit], rows


def _mirror_nearest(
    conn: apsw.Connection,
    index: VectorIndex,
    query_vector: FloatArray,
    filters: Filters,
    where: str,
    params: list[Any],
    limit: int,
    skip: list[int],
) -> list[tuple[int, float]]:
    """``(row, distance)`` of the ``limit`` nearest mirror rows that pass the filters.

    Candidates come from the whole mirror, from the rows the facet index says may match (tags,
    store), or from the rows SQL lists; each is checked against the whole filter here.
    """
    allowed = None
    if filters.narrowing:
        allowed = index.facets.candidates(filters)
        if allowed is None:
            found = _filtered_prefix(conn, index, query_vector, where, params, limit, skip)
            if found is not None:
                return found
            allowed = np.fromiter(
                (r[0] for r in conn.execute(f"SELECT m.id FROM memories m WHERE {where}", params)),
                dtype=np.int64,
            )
    return nearest_passing(
        index,
        query_vector,
        limit,
        allowed,
        skip,
        lambda ids: _matching_ids(conn, ids, where, params),
    )


def _matching_ids(
    conn: apsw.Connection, ids: Sequence[int], where: str, params: list[Any]
) -> set[int]:
    if not ids:
        return set()
    placeholders = ",".join("?" * len(ids))
    return {
        as_int(r[0])
        for r in conn.execute(
            f"SELECT m.id FROM memories m WHERE m.id IN ({placeholders}) AND {where}",
            [*ids, *params],
        )
    }


def _filtered_prefix(
    conn: apsw.Connection,
    index: VectorIndex,
    query_vector: FloatArray,
    where: str,
    params: list[Any],
    limit: int,
    skip: list[int],
) -> list[tuple[int, float]] | None:
    """A filtered search answered from the unfiltered top rows, or None if they are too few.

    Listing every row a filter matches costs a scan of ``memories`` (~20 ms at 100k rows);
    checking the filter on the best few hundred rows by id costs well under a millisecond. If
    at least ``limit`` of the ``PREFIX_ROWS`` nearest rows match, those are the answer: a
    matching row outside the prefix ranks after every row inside it (similarity, then rowid),
    so it cannot belong to the top ``limit``. Otherwise the caller lists the matching ids.
    """
    want = min(VEC0_MAX_K, max(PREFIX_ROWS, limit * 40))
    prefix = index.nearest(query_vector, want, exclude=skip)
    if not prefix:
        return []
    matching = _matching_ids(conn, [row for row, _ in prefix], where, params)
    best = [(row, distance) for row, distance in prefix if row in matching][:limit]
    if len(best) < limit and len(prefix) == want:
        return None  # too few matches among the nearest rows: list every matching row instead
    return best


def _vec0_search(
    conn: apsw.Connection,
    schema: Schema,
    query_vector: FloatArray,
    filters: Filters,
    where: str,
    params: list[Any],
    limit: int,
) -> list[m.Hit]:
    """The same search done by sqlite-vec's brute-force KNN (``MEMHUB_VECTOR_INDEX=vec0``)."""
    blob = vector_to_blob(query_vector)
    prefilter = ""
    pre_params: list[Any] = []
    if filters.narrowing:
        # vec0 applies a rowid IN (...) term before choosing the k nearest.
        prefilter = f" AND rowid IN (SELECT m.id FROM memories m WHERE {where})"
        pre_params = list(params)
    if schema.vec_partitioned and filters.store is not None:
        # The partition key (12.x keeps it equal to memories.store): other stores never use k.
        prefilter += " AND store = ?"
        pre_params.append(filters.store)
    k = min(VEC0_MAX_K, limit * 2 + 8)
    while True:
        rows = conn.execute(
            "SELECT rowid, distance FROM memory_embeddings "
            f"WHERE content_embedding MATCH ? AND k = ?{prefilter} ORDER BY distance",
            [blob, k, *pre_params],
        ).fetchall()
        # Equal distances by ascending rowid, as the mirror orders them (k > limit leaves room).
        rows.sort(key=lambda r: (as_float(r[1]), as_int(r[0])))
        records = _records_by_id(conn, schema, [as_int(r[0]) for r in rows], where, params)
        hits = [
            m.Hit(memory=records[as_int(rowid)], score=score_from_distance(as_float(dist)))
            for rowid, dist in rows
            if as_int(rowid) in records
        ]
        if len(hits) >= limit or len(rows) < k or k >= VEC0_MAX_K:
            return hits[:limit]
        k = min(VEC0_MAX_K, k * 4)


def exact_search(
    conn: apsw.Connection, schema: Schema, query: str, filters: Filters, limit: int
) -> list[m.Hit]:
    """Case-insensitive substring match, newest first (upstream's ``mode: exact``).

    The query is a literal: ``%`` and ``_`` match themselves (upstream pastes the query into a
    LIKE pattern, so ``snake_case`` also found ``snakeXcase`` there; memhub does not).
    """
    where, params = sql_filters.where(filters, schema, for_search=True)
    rows = conn.execute(
        f"SELECT {record_columns(schema)} FROM memories m WHERE {where} "
        "AND m.content LIKE ? ESCAPE '\\' "
        "ORDER BY m.created_at DESC LIMIT ?",
        [*params, f"%{sql_filters.like_literal(query)}%", limit],
    ).fetchall()
    return [m.Hit(memory=reply_record(r), score=1.0) for r in rows]


def recent(
    conn: apsw.Connection,
    schema: Schema,
    filters: Filters,
    limit: int,
    among: FewRows | None = None,
) -> list[m.Hit]:
    """Matching memories newest first with upstream's neutral score 0.5 (no query given).

    With ``among`` (the few rows the facet index says may match, see :class:`FewRows`) only
    those are sorted: walking the time index newest first for a rare tag reads every row that
    lacks it (0.5 s at a million memories for a tag no memory carries).
    """
    where, params = sql_filters.where(filters, schema, for_search=True)
    pick, pick_params = _among(among)
    rows = conn.execute(
        f"SELECT {record_columns(schema)} FROM memories m WHERE {pick}{where} "
        "ORDER BY m.created_at DESC, m.id DESC LIMIT ?",
        [*pick_params, *params, limit],
    ).fetchall()
    return [m.Hit(memory=reply_record(r), score=0.5) for r in rows]


def fts_query(query: str) -> str | None:
    """12.x's BM25 query: an OR of quoted terms of 3+ characters, else the whole phrase."""
    clean = _FTS_STRIP.sub("", query)
    if not clean.strip():
        return None
    terms = [t for t in clean.split() if len(t) >= 3]
    if terms:
        return " OR ".join('"{}"'.format(t.replace('"', '""')) for t in terms)
    return '"{}"'.format(clean.replace('"', '""'))


def keyword_scores(
    conn: apsw.Connection, schema: Schema, query: str, filters: Filters, limit: int
) -> dict[int, float]:
    """BM25 over the FTS5 trigram table, as ``rowid -> x / (1 + x)`` with ``x = -rank``."""
    if not schema.has_fts:
        return {}
    match = fts_query(query)
    if match is None:
        return {}
    where, params = sql_filters.where(filters, schema, for_search=True)
    rows = conn.execute(
        "SELECT f.rowid, bm25(memory_content_fts) AS rank FROM memory_content_fts f "
        f"JOIN memories m ON m.id = f.rowid WHERE memory_content_fts MATCH ? AND {where} "
        "ORDER BY rank LIMIT ?",
        [match, *params, limit],
    ).fetchall()
    scores = {}
    for rowid, rank in rows:
        strength = max(0.0, -as_float(rank))
        scores[as_int(rowid)] = strength / (1.0 + strength)
    return scores


def hybrid_search(
    conn: apsw.Connection,
    schema: Schema,
    index: VectorIndex | None,
    query: str,
    query_vector: FloatArray,
    filters: Filters,
    limit: int,
    *,
    keyword_weight: float = KEYWORD_WEIGHT,
    semantic_weight: float = SEMANTIC_WEIGHT,
    changed: Sequence[int] = (),
) -> list[m.Hit]:
    """Weighted fusion of BM25 and vector scores over the union of both candidate lists."""
    semantic = semantic_search(conn, schema, index, query_vector, filters, limit * 2, changed)
    keyword = keyword_scores(conn, schema, query, filters, limit * 2)
    where, params = sql_filters.where(filters, schema, for_search=True)
    records = _records_by_id(conn, schema, list(keyword), where, params)
    return fuse(
        semantic,
        keyword,
        records,
        limit,
        keyword_weight=keyword_weight,
        semantic_weight=semantic_weight,
    )


def as_hash(value: object) -> str:
    """A content hash column (strict: memhub's own queries select it)."""
    return as_str(value)
