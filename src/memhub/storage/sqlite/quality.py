"""The SQLite engine's quality statistics: 12.4's metadata fields, aggregated in SQL.

See :mod:`memhub.storage.quality` for the rules. The score and provider are read with SQLite's
JSON functions; a row whose metadata is not valid JSON counts with the defaults.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from memhub.storage.quality import (
    DEFAULT_PROVIDER,
    DEFAULT_SCORE,
    HIGH,
    MEDIUM,
    PREVIEW,
    RANKED,
    QualitySummary,
    RankedMemory,
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
    return (
        f"SELECT m.content_hash AS h, m.created_at AS c, {_SCORE} AS s, {_PROVIDER} AS p, "
        f"substr(m.content, 1, {PREVIEW}) AS t FROM memories m "
        f"WHERE {sql_filters.visible(schema, store)}"
    )


def summary(
    conn: apsw.Connection, schema: Schema, store: str, low: float, high: float
) -> QualitySummary:
    rows = _rows(schema, store)
    inside = "q.s >= :lo AND q.s <= :hi"
    bounds = {"lo": low, "hi": high}
    [counted] = conn.execute(
        f"SELECT COUNT(*), TOTAL({inside}), TOTAL({inside} AND q.s >= {HIGH}), "
        f"TOTAL({inside} AND q.s >= {MEDIUM} AND q.s < {HIGH}), "
        f"TOTAL({inside} AND q.s < {MEDIUM}), TOTAL(CASE WHEN {inside} THEN q.s END) "
        f"FROM ({rows}) q",
        bounds,
    ).fetchall()
    store_total, total, n_high, n_medium, n_low, score_sum = counted
    providers = conn.execute(
        f"SELECT q.p, COUNT(*) FROM ({rows}) q WHERE {inside} GROUP BY q.p "
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

    return QualitySummary(
        store_total=as_int(store_total),
        total=int(as_float(total)),
        high=int(as_float(n_high)),
        medium=int(as_float(n_medium)),
        low=int(as_float(n_low)),
        score_sum=as_float(score_sum),
        providers=[(text(p), as_int(n)) for p, n in providers],
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
