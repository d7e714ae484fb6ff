"""The SQLite engine's quality statistics: 12.4's metadata fields, aggregated in SQL.

See :mod:`memhub.storage.quality` for the rules. The score and provider are read with SQLite's
JSON functions; a row whose metadata is not valid JSON counts with the defaults.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from memhub.storage.quality import (
    BUCKET_S,
    DEFAULT_PROVIDER,
    DEFAULT_SCORE,
    HIGH,
    MEDIUM,
    PREVIEW,
    RANKED,
    QualitySummary,
    RankedMemory,
    ScoreBucket,
)
from memhub.storage.sqlite import filters as sql_filters
from memhub.storage.sqlite.values import as_float, as_int, text

if TYPE_CHECKING:
    import apsw

    from memhub.storage.sqlite.schema import Schema

_SCORE: Final = (
    "CASE WHEN json_valid(m.metadata) AND json_type(m.metadata, '$.quality_score') "
    "IN ('integer', 'real') THEN json_extract(m.metadata, '$.quality_score') "
    f"ELSE {DEFAULT_SCORE} END"
)
_PROVIDER: Final = (
    "CASE WHEN json_valid(m.metadata) AND json_type(m.metadata, '$.quality_provider') = 'text' "
    f"THEN json_extract(m.metadata, '$.quality_provider') ELSE '{DEFAULT_PROVIDER}' END"
)


def _rows(schema: Schema, store: str) -> str:
    # ``LIMIT -1`` keeps SQLite from flattening the subquery into the outer one, where each
    # mention of ``s`` would parse the metadata again (4x faster at 200k rows).
    return (
        f"SELECT m.content_hash AS h, m.created_at AS c, {_SCORE} AS s, {_PROVIDER} AS p, "
        f"substr(m.content, 1, {PREVIEW}) AS t FROM memories m "
        f"WHERE {sql_filters.visible(schema, store)} LIMIT -1"
    )


def summary(
    conn: apsw.Connection, schema: Schema, store: str, low: float, high: float
) -> QualitySummary:
    rows = _rows(schema, store)
    inside = "q.s >= :lo AND q.s <= :hi"
    bounds = {"lo": low, "hi": high}
    [(store_total,)] = conn.execute(
        f"SELECT COUNT(*) FROM memories m WHERE {sql_filters.visible(schema, store)}"
    ).fetchall()
    # one scan: the tiers and sums per provider (a handful of groups), newest provider first
    groups = conn.execute(
        f"SELECT q.p, COUNT(*), TOTAL(q.s >= {HIGH}), TOTAL(q.s >= {MEDIUM} AND q.s < {HIGH}), "
        f"TOTAL(q.s < {MEDIUM}), TOTAL(q.s) FROM ({rows}) q WHERE {inside} GROUP BY q.p "
        "ORDER BY MAX(q.c) DESC, q.p",
        bounds,
    ).fetchall()
    top = conn.execute(
        f"SELECT q.h, q.t, q.s FROM ({rows}) q WHERE {inside} "
        f"ORDER BY q.s DESC, q.c DESC, q.h DESC LIMIT {RANKED}",
        bounds,
    ).fetchall()
    bottom = conn.execute(
        f"SELECT q.h, q.t, q.s FROM ({rows}) q WHERE {inside} "
        f"ORDER BY q.s ASC, q.c ASC, q.h ASC LIMIT {RANKED}",
        bounds,
    ).fetchall()

    def ranked(found: list[tuple[object, ...]]) -> list[RankedMemory]:
        return [
            RankedMemory(content_hash=text(h), content=text(t), score=as_float(s))
            for h, t, s in found
        ]

    def column(i: int) -> list[float]:
        return [as_float(g[i]) for g in groups]

    return QualitySummary(
        store_total=as_int(store_total),
        total=int(sum(column(1))),
        high=int(sum(column(2))),
        medium=int(sum(column(3))),
        low=int(sum(column(4))),
        score_sum=sum(column(5)),
        providers=[(text(g[0]), as_int(g[1])) for g in groups],
        top=ranked(top),
        bottom=ranked(bottom)[::-1],
    )


def stale_count(conn: apsw.Connection, schema: Schema, store: str, before: float) -> int:
    """Live memories of ``store`` last accessed (or, never accessed, created) before
    ``before`` (12.4's ``count_all_memories(stale_days=N)``)."""
    accessed = (
        "COALESCE(m.last_accessed, m.created_at)"
        if "last_accessed" in schema.memory_columns
        else "m.created_at"
    )
    [(n,)] = conn.execute(
        f"SELECT COUNT(*) FROM memories m WHERE {sql_filters.visible(schema, store)} "
        f"AND {accessed} < ?",
        (before,),
    ).fetchall()
    return as_int(n)


def score_buckets(
    conn: apsw.Connection, schema: Schema, start: float, end: float
) -> list[ScoreBucket]:
    """The scores of the live memories of every store created in ``[start, end]``, per
    :data:`BUCKET_S` of ``created_at`` (one scan of the range, by ``created_at``'s index)."""
    found = conn.execute(
        f"SELECT CAST(q.c / {BUCKET_S} AS INTEGER) AS b, COUNT(*), TOTAL(q.s), MAX(q.s), "
        f"MIN(q.s) FROM (SELECT m.created_at AS c, {_SCORE} AS s FROM memories m "
        f"WHERE {sql_filters.visible(schema, None)} AND m.created_at BETWEEN ? AND ? "
        "LIMIT -1) q GROUP BY b ORDER BY b",
        (start, end),
    ).fetchall()
    return [
        ScoreBucket(
            start=as_int(b) * BUCKET_S,
            count=as_int(n),
            score_sum=as_float(total),
            best=as_float(best),
            worst=as_float(worst),
        )
        for b, n, total, best, worst in found
    ]
