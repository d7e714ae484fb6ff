"""The storage engine's read side: pure sync queries run by the reader actors.

Each function runs on a read-only connection inside one read transaction opened by the reader,
so every statement of one request sees the same snapshot. Nothing here writes (the connection
is ``mode=ro`` and ``query_only``): access statistics, if ever kept, go through the writer.

Filters (tags, type, time range, superseded, 12.x store and pending embeddings) are applied
*before* the top-k cut, unlike upstream which filters after KNN and often returns fewer than
``limit`` results.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import attrs
import numpy as np

from memhub.domain.tags import tag_filter_sql, tags_from_db
from memhub.domain.timestamps import iso_utc
from memhub.protocol import messages as m
from memhub.protocol.limits import MAX_METADATA_DEPTH, metadata_problem, unreadable_metadata
from memhub.storage.sqlvalues import as_float, as_int, as_str
from memhub.storage.vectors import FloatArray, VectorIndex, normalized, vector_to_blob

if TYPE_CHECKING:
    import apsw

    from memhub.storage.schema import Schema

log = logging.getLogger(__name__)
ROW_COLUMNS: Final = (
    "m.content_hash, m.content, m.tags, m.memory_type, m.metadata, "
    "m.created_at, m.updated_at, m.created_at_iso, m.updated_at_iso"
)
#: sqlite-vec refuses a KNN ``k`` above this.
VEC0_MAX_K: Final = 4096
_SQLITE_MAX_INT: Final = 2**63 - 1
#: Nearest rows a filtered search checks first, before listing every row the filter matches.
PREFIX_ROWS: Final = 400
_FTS_STRIP: Final = re.compile(r"[^\w\s-]")


def row_to_record(row: Sequence[Any]) -> m.MemoryRecord:
    """Build a record from ROW_COLUMNS, tolerating what legacy writers left behind.

    The metadata is exactly what is stored (the writer merges updates into it); replies use
    :func:`reply_record`, which also makes sure a reply can carry it.
    """
    metadata = row[4]
    try:
        meta = json.loads(metadata) if metadata else {}
    except (TypeError, ValueError):
        meta = {}
    if not isinstance(meta, dict):
        meta = {}
    return _record(row, meta)


def reply_record(row: Sequence[Any]) -> m.MemoryRecord:
    """Like :func:`row_to_record`, with metadata that any reply can encode.

    Metadata that is valid JSON but that no reply could encode (too deep, integers past 64
    bits, lone surrogates: all accepted by Python's ``json``, which legacy writers use) is
    replaced by a marker and logged, so one such row never fails a whole page or search.
    """
    content_hash, metadata = row[0], row[4]
    problem: str | None = None
    try:
        meta = json.loads(metadata) if metadata else {}
    except RecursionError:
        problem = f"it nests deeper than {MAX_METADATA_DEPTH} levels"
    except (TypeError, ValueError):
        meta = {}
    if problem is None:
        if not isinstance(meta, dict):
            meta = {}
        problem = metadata_problem(meta)
    if problem is not None:
        log.warning("memory %s: metadata not shown: %s", content_hash, problem)
        meta = unreadable_metadata(problem)
    return _record(row, meta)


def _record(row: Sequence[Any], meta: dict[str, Any]) -> m.MemoryRecord:
    content_hash, content, tags, memory_type, _, created, updated, c_iso, u_iso = row
    created_at = float(created) if created is not None else 0.0
    updated_at = float(updated) if updated is not None else created_at
    return m.MemoryRecord(
        content_hash=content_hash,
        content=content,
        tags=tags_from_db(tags),
        memory_type=(memory_type or "note").strip().lower(),
        metadata=meta,
        created_at=created_at,
        updated_at=updated_at,
        created_at_iso=c_iso or iso_utc(created_at),
        updated_at_iso=u_iso or iso_utc(updated_at),
    )


def _like_literal(text: str) -> str:
    """``text`` with LIKE's wildcards escaped (for ``ESCAPE '\\'``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@attrs.frozen(kw_only=True)
class Filters:
    """Row filters shared by search, list and delete."""

    tags: list[str] = attrs.field(factory=list)
    match_all: bool = False
    memory_type: str | None = None
    after: float | None = None
    before: float | None = None
    include_superseded: bool = False
    stale_before: float | None = None  # COALESCE(last_accessed, created_at) < this
    agent_id: str | None = None  # 12.x's author scope: metadata.agent_id or tag agent:<id>

    def where(self, schema: Schema, *, searchable: bool) -> tuple[str, list[Any]]:
        """SQL condition over alias ``m`` and its parameters."""
        if searchable:
            parts = [schema.searchable_filter("m", include_superseded=self.include_superseded)]
        else:
            parts = [schema.active_filter("m")]
        params: list[Any] = []
        if self.tags:
            sql, tag_params = tag_filter_sql(self.tags, self.match_all, column="m.tags")
            parts.append(sql)
            params.extend(tag_params)
        if self.memory_type:
            parts.append("LOWER(m.memory_type) = ?")
            params.append(self.memory_type.lower())
        if self.after is not None:
            parts.append("m.created_at >= ?")
            params.append(self.after)
        if self.before is not None:
            parts.append("m.created_at <= ?")
            params.append(self.before)
        if self.stale_before is not None:
            column = "m.last_accessed" if "last_accessed" in schema.memory_columns else "NULL"
            parts.append(f"COALESCE({column}, m.created_at) < ?")
            params.append(self.stale_before)
        if self.agent_id is not None:
            parts.append(
                # json_valid first: a legacy row with broken metadata must not fail the query.
                "(CASE WHEN json_valid(m.metadata) THEN json_extract(m.metadata, '$.agent_id') END"
                " = ? "
                "OR (',' || m.tags || ',') LIKE ? ESCAPE '\\')"
            )
            params.extend([self.agent_id, f"%,{_like_literal('agent:' + self.agent_id.strip())},%"])
        return " AND ".join(parts), params

    @property
    def narrowing(self) -> bool:
        """True when the filter can exclude rows beyond the base visibility rules."""
        return bool(
            self.tags
            or self.memory_type
            or self.after is not None
            or self.before is not None
            or self.stale_before is not None
            or self.agent_id is not None
        )


# ---------------------------------------------------------------------------------------------
# point reads and pages


def get_by_hash(conn: apsw.Connection, schema: Schema, content_hash: str) -> m.MemoryRecord | None:
    rows = conn.execute(
        f"SELECT {ROW_COLUMNS} FROM memories m "
        f"WHERE m.content_hash = ? AND {schema.active_filter('m')}",
        (content_hash,),
    ).fetchall()
    return reply_record(rows[0]) if rows else None


def list_page(
    conn: apsw.Connection, schema: Schema, filters: Filters, *, page: int, page_size: int
) -> tuple[list[m.MemoryRecord], int]:
    """One page, newest first, and the total count of matching rows."""
    where, params = filters.where(schema, searchable=False)
    total = conn.execute(f"SELECT COUNT(*) FROM memories m WHERE {where}", params).fetchall()[0][0]
    rows = conn.execute(
        f"SELECT {ROW_COLUMNS} FROM memories m WHERE {where} "
        "ORDER BY m.created_at DESC, m.id DESC LIMIT ? OFFSET ?",
        # A page past the end is empty; an offset past SQLite's 64-bit range is just as empty.
        [*params, page_size, min((page - 1) * page_size, _SQLITE_MAX_INT)],
    ).fetchall()
    return [reply_record(r) for r in rows], as_int(total)


def select_targets(
    conn: apsw.Connection, schema: Schema, filters: Filters, content_hash: str | None
) -> list[tuple[int, str]]:
    """Rows a delete would remove: ``(rowid, content_hash)``."""
    if content_hash is not None:
        return [
            (as_int(r[0]), as_str(r[1]))
            for r in conn.execute(
                f"SELECT m.id, m.content_hash FROM memories m "
                f"WHERE m.content_hash = ? AND {schema.active_filter('m')}",
                (content_hash,),
            )
        ]
    where, params = filters.where(schema, searchable=False)
    return [
        (as_int(r[0]), as_str(r[1]))
        for r in conn.execute(
            f"SELECT m.id, m.content_hash FROM memories m WHERE {where} ORDER BY m.id", params
        )
    ]


def duplicate_rows(conn: apsw.Connection, schema: Schema) -> list[tuple[int, str]]:
    """Active rows whose hash repeats an older active row: ``(id, content_hash)``, oldest kept."""
    active = schema.active_filter("m")
    rows = conn.execute(
        f"SELECT m.id, m.content_hash FROM memories m WHERE {active} AND m.content_hash IN "
        f"(SELECT content_hash FROM memories m WHERE {active} "
        "GROUP BY content_hash HAVING COUNT(*) > 1) ORDER BY m.content_hash, m.created_at, m.id"
    ).fetchall()
    seen: set[str] = set()
    extra: list[tuple[int, str]] = []
    for rowid, content_hash in rows:
        key = as_str(content_hash)
        if key in seen:
            extra.append((as_int(rowid), key))
        seen.add(key)
    return extra


def counts(conn: apsw.Connection, schema: Schema) -> tuple[int, int]:
    """(active memories, soft-deleted memories)."""
    active = conn.execute(
        f"SELECT COUNT(*) FROM memories m WHERE {schema.active_filter('m')}"
    ).fetchall()[0][0]
    deleted = conn.execute("SELECT COUNT(*) FROM memories WHERE deleted_at IS NOT NULL").fetchall()[
        0
    ][0]
    return as_int(active), as_int(deleted)


# ---------------------------------------------------------------------------------------------
# search


def _records_by_id(
    conn: apsw.Connection, ids: Sequence[int], where: str, params: list[Any]
) -> dict[int, m.MemoryRecord]:
    if not ids:
        return {}
    placeholders = ",".join("?" * len(ids))
    rows = conn.execute(
        f"SELECT m.id, {ROW_COLUMNS} FROM memories m WHERE m.id IN ({placeholders}) AND {where}",
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
) -> list[m.Hit]:
    """Exact nearest neighbours among the rows that pass the filters, best first."""
    where, params = filters.where(schema, searchable=True)
    if index is None:
        return _vec0_search(conn, schema, query_vector, filters, where, params, limit)
    index.catch_up(conn)
    allowed = None
    if filters.narrowing:
        found = _filtered_prefix(conn, index, query_vector, where, params, limit)
        if found is not None:
            return found
        allowed = np.fromiter(
            (r[0] for r in conn.execute(f"SELECT m.id FROM memories m WHERE {where}", params)),
            dtype=np.int64,
        )
    hits: list[m.Hit] = []
    rejected: list[int] = []
    want = limit
    while len(hits) < limit:
        # Ask for a few more than needed: mirror rows hidden in this snapshot get rejected.
        batch = index.nearest(query_vector, want + 8, allowed=allowed, exclude=rejected)
        records = _records_by_id(conn, [rowid for rowid, _ in batch], where, params)
        for rowid, distance in batch:
            record = records.get(rowid)
            if record is None:
                rejected.append(rowid)
            elif len(hits) < limit:
                hits.append(m.Hit(memory=record, score=score_from_distance(distance)))
                rejected.append(rowid)
        if len(batch) < want + 8:
            break  # the index has nothing more
        want = (limit - len(hits)) * 2
    return hits


def _filtered_prefix(
    conn: apsw.Connection,
    index: VectorIndex,
    query_vector: FloatArray,
    where: str,
    params: list[Any],
    limit: int,
) -> list[m.Hit] | None:
    """A filtered search answered from the unfiltered top rows, or None if they are too few.

    Listing every row a filter matches costs a scan of ``memories`` (~20 ms at 100k rows);
    checking the filter on the best few hundred rows by id costs well under a millisecond. If
    at least ``limit`` of the ``PREFIX_ROWS`` nearest rows match, those are the answer: a
    matching row outside the prefix ranks after every row inside it (similarity, then rowid),
    so it cannot belong to the top ``limit``. Otherwise the caller lists the matching ids.
    """
    want = min(VEC0_MAX_K, max(PREFIX_ROWS, limit * 40))
    prefix = index.nearest(query_vector, want)
    if not prefix:
        return []
    placeholders = ",".join("?" * len(prefix))
    matching = {
        as_int(r[0])
        for r in conn.execute(
            f"SELECT m.id FROM memories m WHERE m.id IN ({placeholders}) AND {where}",
            [*(rowid for rowid, _ in prefix), *params],
        )
    }
    best = [(rowid, distance) for rowid, distance in prefix if rowid in matching][:limit]
    if len(best) < limit and len(prefix) == want:
        return None  # too few matches among the nearest rows: list every matching row instead
    records = _records_by_id(conn, [rowid for rowid, _ in best], where, params)
    return [
        m.Hit(memory=records[rowid], score=score_from_distance(distance))
        for rowid, distance in best
        if rowid in records
    ]


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
    blob = vector_to_blob(normalized(query_vector))
    prefilter = ""
    pre_params: list[Any] = []
    if filters.narrowing:
        # vec0 applies a rowid IN (...) term before choosing the k nearest.
        prefilter = f" AND rowid IN (SELECT m.id FROM memories m WHERE {where})"
        pre_params = params
    k = min(VEC0_MAX_K, limit * 2 + 8)
    while True:
        rows = conn.execute(
            "SELECT rowid, distance FROM memory_embeddings "
            f"WHERE content_embedding MATCH ? AND k = ?{prefilter} ORDER BY distance",
            [blob, k, *pre_params],
        ).fetchall()
        records = _records_by_id(conn, [as_int(r[0]) for r in rows], where, params)
        hits = [
            m.Hit(memory=records[as_int(rowid)], score=score_from_distance(as_float(dist)))
            for rowid, dist in rows
            if as_int(rowid) in records
        ]
        if len(hits) >= limit or len(rows) < k or k >= VEC0_MAX_K:
            return hits[:limit]
        k = min(VEC0_MAX_K, k * 4)


def exact_search(
    conn: apsw.Connection, schema: Schema, text: str, filters: Filters, limit: int
) -> list[m.Hit]:
    """Case-insensitive substring match, newest first (upstream's ``mode: exact``)."""
    where, params = filters.where(schema, searchable=True)
    rows = conn.execute(
        f"SELECT {ROW_COLUMNS} FROM memories m WHERE {where} "
        "AND m.content LIKE '%' || ? || '%' COLLATE NOCASE "
        "ORDER BY m.created_at DESC LIMIT ?",
        [*params, text, limit],
    ).fetchall()
    return [m.Hit(memory=reply_record(r), score=1.0) for r in rows]


def recent(conn: apsw.Connection, schema: Schema, filters: Filters, limit: int) -> list[m.Hit]:
    """Matching memories newest first with upstream's neutral score 0.5 (no query given)."""
    where, params = filters.where(schema, searchable=True)
    rows = conn.execute(
        f"SELECT {ROW_COLUMNS} FROM memories m WHERE {where} ORDER BY m.created_at DESC LIMIT ?",
        [*params, limit],
    ).fetchall()
    return [m.Hit(memory=reply_record(r), score=0.5) for r in rows]


def fts_query(text: str) -> str | None:
    """12.x's BM25 query: an OR of quoted terms of 3+ characters, else the whole phrase."""
    clean = _FTS_STRIP.sub("", text)
    if not clean.strip():
        return None
    terms = [t for t in clean.split() if len(t) >= 3]
    if terms:
        return " OR ".join('"{}"'.format(t.replace('"', '""')) for t in terms)
    return '"{}"'.format(clean.replace('"', '""'))


def keyword_scores(
    conn: apsw.Connection, schema: Schema, text: str, filters: Filters, limit: int
) -> dict[int, float]:
    """BM25 over the FTS5 trigram table, as ``rowid -> x / (1 + x)`` with ``x = -rank``."""
    if not schema.has_fts:
        return {}
    query = fts_query(text)
    if query is None:
        return {}
    where, params = filters.where(schema, searchable=True)
    rows = conn.execute(
        "SELECT f.rowid, bm25(memory_content_fts) AS rank FROM memory_content_fts f "
        f"JOIN memories m ON m.id = f.rowid WHERE memory_content_fts MATCH ? AND {where} "
        "ORDER BY rank LIMIT ?",
        [query, *params, limit],
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
    text: str,
    query_vector: FloatArray,
    filters: Filters,
    limit: int,
    *,
    keyword_weight: float = 0.3,
    semantic_weight: float = 0.7,
) -> list[m.Hit]:
    """Weighted fusion of BM25 and vector scores over the union of both candidate lists."""
    semantic = semantic_search(conn, schema, index, query_vector, filters, limit * 2)
    keyword = keyword_scores(conn, schema, text, filters, limit * 2)
    where, params = filters.where(schema, searchable=True)
    by_hash: dict[str, tuple[m.MemoryRecord, float, float]] = {
        h.memory.content_hash: (h.memory, 0.0, h.score) for h in semantic
    }
    keyword_only = list(keyword)
    records = _records_by_id(conn, keyword_only, where, params)
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
